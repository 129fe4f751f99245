"""The landscape report's cost beside the cost of the charts it shows, in one run, one browser.

    render   every chart the workbook feeds: built, drawn to PNG + SVG by the warm renderer, its
             chart.html, chart_data.json, chart.png and chart.svg written (what the charts step does)
    report   those renders read back (sha256 checked), key figures, report.html, report.pdf
             printed by the SAME renderer's Chromium, report-data.xlsx and bundle.zip

Browser processes are counted (ChromiumPipe.start): the PDF must add none. Dagster is left out
on both sides (its per-run overhead is in bench/e2e_bench.py).

Usage: python bench/report_bench.py [--short] [--workbook PATH]
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from intelli_assets.charts import CHARTS  # noqa: E402
from intelli_assets.dataset import Dataset, build_manifest  # noqa: E402
from intelli_assets.errors import IntelliError  # noqa: E402
from intelli_assets.rendering import FigureRenderer, figure_html  # noqa: E402
from intelli_assets.rendering.browser import ChromiumPipe  # noqa: E402
from intelli_assets.report import (  # noqa: E402
    chart_title,
    load_render,
    make_report,
    report_html,
    report_xlsx,
    write_report,
)
from intelli_assets.sample_workbook import write_sample_workbook  # noqa: E402
from intelli_assets.sources import read_source  # noqa: E402
from intelli_assets.style import Style  # noqa: E402

REAL = ROOT.parent / "shared" / "data" / "espacenet" / "Filters_20250331_1141.xlsx"
BROWSER_STARTS: list[float] = []


def count_browser_starts() -> None:
    """Every Chromium the renderer starts is counted, with the time it started."""
    original = ChromiumPipe.start

    def start(self: ChromiumPipe) -> None:
        BROWSER_STARTS.append(time.perf_counter())
        original(self)

    ChromiumPipe.start = start


def load(workbook: Path) -> Dataset:
    data = read_source(workbook)
    return Dataset(data.facets, build_manifest(data.facets, data, {"original_name": workbook.name}))


def render_charts(dataset: Dataset, renderer: FigureRenderer, out: Path) -> dict[str, dict]:
    """Build and draw every chart the dataset feeds, writing its files as the charts step does;
    each chart's recorded files (path, sha256)."""
    recorded: dict[str, dict] = {}
    for key, spec in CHARTS.items():
        try:
            chart = spec.run(dataset, {}, Style())
        except IntelliError:  # e.g. a record-level chart on a Filters workbook
            continue
        images = renderer.render(chart.figure, ["png", "svg"])
        files = {"png": images["png"], "svg": images["svg"], "html": figure_html(chart.figure),
                 "chart_data": json.dumps(chart.chart_data, indent=2, ensure_ascii=False).encode()}
        folder = out / key / "bench"
        folder.mkdir(parents=True, exist_ok=True)
        recorded[key] = {}
        for fmt, data in files.items():
            path = folder / {"chart_data": "chart_data.json"}.get(fmt, f"chart.{fmt}")
            path.write_bytes(data)
            recorded[key][fmt] = {"path": str(path), "sha256": hashlib.sha256(data).hexdigest()}
    return recorded


def build_report(dataset: Dataset, recorded: dict[str, dict], renderer: FigureRenderer, out: Path) -> dict:
    """The whole report; the time of each part."""
    parts: dict[str, float] = {}
    started = time.perf_counter()
    charts = [load_render(key, chart_title(key, "en", CHARTS[key].description), files, params_hash="bench",
                          run_id="bench", rendered_at=dt.datetime.now(dt.UTC)) for key, files in recorded.items()]
    report = make_report("bench", dataset, charts, language="en")
    parts["read renders + key figures"] = time.perf_counter() - started
    parts["HTML (alone)"] = timed(lambda: report_html(report))
    parts["XLSX (alone)"] = timed(lambda: report_xlsx(report))

    def print_pdf(page: Path, ready: str, params: dict) -> bytes:
        t0 = time.perf_counter()
        pdf = renderer.print_pdf(page, ready, params)
        parts["PDF print (load page, lay out, print)"] = time.perf_counter() - t0
        return pdf

    t0 = time.perf_counter()
    files = write_report(report, out, print_pdf)
    parts["write all four files"] = time.perf_counter() - t0
    parts["total"] = time.perf_counter() - started
    parts["pages"] = files.pages
    return parts


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", action="store_true", help="one quick round (no timing claims)")
    parser.add_argument("--workbook", type=Path)
    args = parser.parse_args()
    rounds = 1 if args.short else 3
    count_browser_starts()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        workbook = args.workbook or (REAL if REAL.exists() else write_sample_workbook(out / "sample.xlsx"))
        dataset = load(workbook)
        renderer = FigureRenderer()
        try:
            start = timed(renderer.start)
            pid = renderer.browser_pid
            render_charts(dataset, renderer, out / "warm-up")  # the page's JIT is cold for the first renders
            renders, reports = [], []
            for i in range(rounds):
                t0 = time.perf_counter()
                recorded = render_charts(dataset, renderer, out / f"charts-{i}")
                renders.append(time.perf_counter() - t0)
                before = len(BROWSER_STARTS)
                reports.append(build_report(dataset, recorded, renderer, out / f"report-{i}"))
                assert len(BROWSER_STARTS) == before, "the report started a browser"
            same_browser = renderer.browser_pid == pid
        finally:
            renderer.close()
    render_s = statistics.median(renders)
    report_s = statistics.median(r["total"] for r in reports)
    print(f"workbook: {workbook.name}; {len(recorded)} charts; rounds={rounds}; "
          f"report of {reports[-1]['pages']} PDF pages")
    print(f"browser start (once, with plotly.js): {start * 1000:.0f} ms")
    print(f"{'rendering charts (build + PNG + SVG + files)':<46}{render_s * 1000:>10.0f} ms")
    print(f"{'landscape report (HTML + PDF + XLSX + zip)':<46}{report_s * 1000:>10.0f} ms")
    for part in ("read renders + key figures", "HTML (alone)", "XLSX (alone)", "PDF print (load page, lay out, print)",
                 "write all four files"):
        print(f"  {part:<44}{statistics.median(r[part] for r in reports) * 1000:>10.0f} ms")
    print(f"report / render: {report_s / render_s:.2f}x")
    print(f"browser starts: {len(BROWSER_STARTS)} in the whole run, 0 during the report "
          f"(the PDF is printed by the renderer's own Chromium, pid {'unchanged' if same_browser else 'CHANGED'})")


if __name__ == "__main__":
    main()
