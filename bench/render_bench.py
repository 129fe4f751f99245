"""Per-image rendering cost, five ways, in one run (ratios matter; seconds are noisy here).

    naive     plotly `fig.write_image` per image: kaleido starts a Chromium every time
    kaleido   kaleido's warm sync server (one browser, page reloaded per image), mathjax off
    engine    the project's `kaleido` engine: that server with our plotly.js, PNG+SVG per chart
    project   intelli_assets.rendering (one warm page, PNG+SVG from one layout): the `fast` engine
    mpl       a matplotlib Agg bar chart per PNG (what the old backend drew with)

Usage: python bench/render_bench.py [--short] [--workbook PATH]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from intelli_assets.charts import CHARTS, charts_fed_by  # noqa: E402
from intelli_assets.dataset import Dataset, build_manifest  # noqa: E402
from intelli_assets.rendering import FigureRenderer, KaleidoRenderer  # noqa: E402
from intelli_assets.sample_workbook import write_sample_workbook  # noqa: E402
from intelli_assets.sources import read_source  # noqa: E402
from intelli_assets.style import Style  # noqa: E402

REAL = ROOT.parent / "shared" / "data" / "espacenet" / "Filters_20250331_1141.xlsx"


def chart_figures(workbook: Path):
    data = read_source(workbook)
    dataset = Dataset(data.facets, build_manifest(data.facets, data, {}))
    # a Filters workbook feeds the charts that need no records; the map is left out: kaleido's
    # own paths measured here would fetch its outlines from plotly's CDN (offline here)
    charts = [CHARTS[key].run(dataset, {}, Style()) for key in charts_fed_by(CHARTS, has_records=False)]
    return [c for c in charts if not any(t.type in ("choropleth", "scattergeo") for t in c.figure.data)]


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_naive(charts, n: int, out: Path) -> list[float]:
    return [timed(lambda c=c, i=i: c.figure.write_image(out / f"naive{i}.png", width=c.width, height=c.height))
            for i, c in enumerate(charts[:n])]


def bench_kaleido_warm(charts, rounds: int) -> list[float]:
    import kaleido

    kaleido.start_sync_server(mathjax=False, silence_warnings=True)
    try:
        charts[0].figure.to_image(format="png")  # warm-up, not timed
        return [timed(lambda c=c: c.figure.to_image(format="png", width=c.width, height=c.height))
                for _ in range(rounds) for c in charts]
    finally:
        kaleido.stop_sync_server(silence_warnings=True)


def bench_kaleido_engine(charts, rounds: int) -> list[float]:
    """Per chart, PNG + SVG as the charts step asks for them (two kaleido images)."""
    renderer = KaleidoRenderer()
    try:
        renderer.render(charts[0].figure, ["png"])  # warm-up: starts the server and its browser
        return [timed(lambda c=c: renderer.render(c.figure, ["png", "svg"])) for _ in range(rounds) for c in charts]
    finally:
        renderer.close()


def bench_project(charts, rounds: int) -> tuple[list[float], list[float], float]:
    renderer = FigureRenderer()
    try:
        start = timed(renderer.start)
        for c in charts:  # one warm-up pass: the page's JIT is cold for the first renders
            renderer.render(c.figure, ["png", "svg"])
        both = [timed(lambda c=c: renderer.render(c.figure, ["png", "svg"])) for _ in range(rounds) for c in charts]
        png = [timed(lambda c=c: renderer.render(c.figure, ["png"])) for _ in range(rounds) for c in charts]
    finally:
        renderer.close()
    return both, png, start


def bench_matplotlib(charts, rounds: int, out: Path) -> list[float]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = charts[0].chart_data["series"][0]

    def draw() -> None:
        fig, ax = plt.subplots(figsize=(12, 10))
        ax.barh(data["labels"], data["data"], color="#2563eb")
        for y, v in enumerate(data["data"]):
            ax.text(v, y, f" {v:,} ({v / sum(data['data']) * 100:.1f}%)", va="center")
        ax.set_xlabel("Número de Patentes Publicadas")
        ax.set_ylabel("Jurisdicción")
        fig.savefig(out / "mpl.png", dpi=100, bbox_inches="tight")
        plt.close(fig)

    draw()
    return [timed(draw) for _ in range(rounds * len(charts))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", action="store_true", help="a quick pass for CI (no timing claims)")
    parser.add_argument("--workbook", type=Path)
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message="The kopts argument is ignored")
    rounds, naive_n = (1, 1) if args.short else (5, 4)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        workbook = args.workbook or (REAL if REAL.exists() else write_sample_workbook(out / "sample.xlsx"))
        charts = chart_figures(workbook)
        naive = bench_naive(charts, naive_n, out)
        warm = bench_kaleido_warm(charts, rounds)
        engine = bench_kaleido_engine(charts, rounds)
        both, png, start = bench_project(charts, rounds)
        mpl = bench_matplotlib(charts, rounds, out)
    med = {name: statistics.median(v) * 1000 for name, v in
           (("naive", naive), ("kaleido", warm), ("engine", engine), ("project", both), ("project_png", png), ("mpl", mpl))}
    # naive starts a browser per image; ours starts one per run. Whole-job comparison for the
    # same output (PNG + SVG of every chart): naive needs 2 write_image calls per chart.
    n = len(charts)
    naive_job = 2 * n * med["naive"]
    project_job = start * 1000 + n * med["project"]
    project_incl_start = med["project"] + start * 1000 / n
    print(f"workbook: {workbook.name}; {len(charts)} charts; rounds={rounds}")
    print(f"{'method':<34}{'median ms/image':>16}")
    print(f"{'naive fig.write_image (PNG)':<34}{med['naive']:>16.1f}")
    print(f"{'kaleido warm server (PNG)':<34}{med['kaleido']:>16.1f}")
    print(f"{'kaleido engine (PNG+SVG)':<34}{med['engine']:>16.1f}")
    print(f"{'project renderer (PNG+SVG)':<34}{med['project']:>16.1f}")
    print(f"{'project renderer (PNG only)':<34}{med['project_png']:>16.1f}")
    print(f"{'matplotlib bar chart (PNG)':<34}{med['mpl']:>16.1f}")
    print(f"project browser start: {start * 1000:.0f} ms (once per run)")
    print("ratios (higher = project faster):")
    print(f"  naive / project, PNG+SVG of {n} charts incl. browser start: {naive_job / project_job:6.1f}x "
          f"({naive_job / 1000:.1f} s vs {project_job / 1000:.2f} s)")
    print(f"  naive PNG / project PNG+SVG call, start spread over {n}: {med['naive'] / project_incl_start:6.1f}x")
    print(f"  kaleido warm / project:                       {med['kaleido'] / med['project']:6.1f}x")
    print(f"  kaleido engine / fast engine, PNG+SVG:        {med['engine'] / med['project']:6.1f}x")
    print(f"  matplotlib / project:                         {med['mpl'] / med['project']:6.2f}x")


if __name__ == "__main__":
    main()
