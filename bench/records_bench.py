"""Record-level sources at scale: read + normalisation + facet derivation, time and peak RSS.

For each size (publications: 100k and 1M; --short: 2k and 20k) it generates, untimed, a
synthetic Espacenet results list (CSV) and the Lens pages of the same records, then measures
in a fresh process each:
- results list: `read_results_list` + `facets_from_records`;
- Lens pages: `lens_records` over the stored page files + `facets_from_records`;
- a baseline in the same run: plain `pandas.read_csv` of the CSV (no normalisation), and
  `json.loads` of every page: the floor any reader pays.
Prints seconds, peak RSS (MB), ours / baseline, and the big/small time ratio (linear growth
gives about the size ratio, 10). Target on 2 cores: 1M records <= 60 s and <= 4 GB.

Usage: python bench/records_bench.py [--short] [--sizes 100000,1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MEASURE = {
    "csv": """
from intelli_assets.results_list import read_results_list
from intelli_assets.records import facets_from_records
records, info = read_results_list(PATH)
facets = facets_from_records(records)
result = records.num_rows
""",
    "csv_baseline": """
import pandas as pd
with open(PATH, encoding="utf-8-sig") as fh:
    for _ in range(6):
        fh.readline()
    result = len(pd.read_csv(fh, sep=";", dtype=str, keep_default_na=False))
""",
    "lens": """
from pathlib import Path
from intelli_assets.lens_records import lens_records
from intelli_assets.records import facets_from_records
pages = sorted(Path(PATH).glob("page-*.json"))
records = lens_records(p.read_bytes() for p in pages)
facets = facets_from_records(records)
result = records.num_rows
""",
    "lens_baseline": """
import json
from pathlib import Path
result = sum(len(json.loads(p.read_bytes())["data"]) for p in sorted(Path(PATH).glob("page-*.json")))
""",
}


def measure(kind: str, path: Path) -> tuple[float, float, int]:
    """(seconds, peak RSS in MB, rows) of one measurement in a fresh Python process."""
    code = (f"import time, json\nPATH = {str(path)!r}\nt = time.perf_counter()\n{MEASURE[kind]}\n"
            "print(json.dumps({'seconds': time.perf_counter() - t, 'rows': result}))")
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    out, err = proc.stdout.read(), proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{kind} failed:\n{err.decode()[-3000:]}")
    figures = json.loads(out.decode().strip().splitlines()[-1])
    return figures["seconds"], usage.ru_maxrss / 1024, figures["rows"]


def generate(publications: int, folder: Path) -> tuple[Path, Path, int]:
    from intelli_assets.sample_records import lens_pages, sample_families, write_results_list_csv

    families = sample_families(max(1, round(publications / 2.5)), seed=publications)
    csv_path = write_results_list_csv(folder / f"results-{publications}.csv", families)
    pages = folder / f"lens-{publications}"
    pages.mkdir()
    for number, body in enumerate(lens_pages(families), start=1):
        (pages / f"page-{number:05d}.json").write_bytes(body)
    return csv_path, pages, sum(len(f.publications) for f in families)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", action="store_true", help="small sizes, for CI")
    parser.add_argument("--sizes", help="comma-separated publication counts (default 100000,1000000)")
    args = parser.parse_args()
    sizes = [int(s) for s in (args.sizes or ("2000,20000" if args.short else "100000,1000000")).split(",")]
    results: dict[str, dict[int, float]] = {"csv": {}, "lens": {}}
    with tempfile.TemporaryDirectory(prefix="records-bench-") as tmp:
        for size in sizes:
            started = time.perf_counter()
            csv_path, pages, publications = generate(size, Path(tmp))
            print(f"\n{publications:,} publications ({csv_path.stat().st_size / 1e6:.0f} MB CSV, "
                  f"{sum(p.stat().st_size for p in pages.iterdir()) / 1e6:.0f} MB of Lens pages; "
                  f"generated in {time.perf_counter() - started:.0f} s)")
            for source, path in (("csv", csv_path), ("lens", pages)):
                seconds, rss, rows = measure(source, path)
                base_seconds, base_rss, _ = measure(f"{source}_baseline", path)
                results[source][publications] = seconds
                label = "results list CSV" if source == "csv" else "Lens pages"
                print(f"  {label:<17} read + normalise + facets: {seconds:7.2f} s  peak RSS {rss:6.0f} MB  "
                      f"({rows:,} records)")
                print(f"  {'':<17} baseline ({'read_csv' if source == 'csv' else 'json.loads'} only): "
                      f"{base_seconds:7.2f} s  peak RSS {base_rss:6.0f} MB  -> ours / baseline "
                      f"{seconds / base_seconds:.2f}x")
            for p in pages.iterdir():
                p.unlink()
            csv_path.unlink()
    if len(sizes) > 1:
        for source, label in (("csv", "results list CSV"), ("lens", "Lens pages")):
            (small, t_small), *_, (big, t_big) = sorted(results[source].items())
            print(f"{label}: {big:,} / {small:,} records time ratio {t_big / t_small:.1f}x "
                  f"(size ratio {big / small:.1f}x)")


if __name__ == "__main__":
    main()
