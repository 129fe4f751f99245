"""reports/landscape: the landscape report of a dataset partition, opt-in.

Not in the main job: materialize it from the UI (Launchpad: language, title, charts,
include_descriptions) or with `intelli report PARTITION`. It reads the latest render of each
chart and its description, and writes report.html, report.pdf, report-data.xlsx and
bundle.zip under <artifacts>/<partition>/reports/landscape/<run id>/ (earlier reports are
kept). The PDF is printed by the run's own warm Chromium (the `renderer` resource).
"""

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg
from pydantic import Field

from intelli_assets.charts import CHARTS, charts_fed_by
from intelli_assets.dataset import load_dataset
from intelli_assets.defs.charts.resources import ChartRenderer
from intelli_assets.defs.common.partitions import datasets_partitions
from intelli_assets.defs.common.resources import ArtifactStore
from intelli_assets.defs.reports.inputs import report_charts, report_keys
from intelli_assets.defs.runs.cancels import run_cancel_requested
from intelli_assets.errors import IntelliError
from intelli_assets.rendering import FigureRenderer
from intelli_assets.report import make_report, write_report
from intelli_assets.style import Language

GROUP = "reports"
REPORT_KEY = dg.AssetKey([GROUP, "landscape"])
REPORT_VERSION = "1"


class ReportConfig(dg.Config):
    """What the report holds (the charts' own settings are those of their latest render)."""

    language: Language = Field(default=Language.es, validate_default=True,
                               description="language of the report's own text: es or en")
    title: str = Field(default="", description="the report's title; empty: 'Patent landscape: <source file>'")
    charts: list[str] = Field(default_factory=list, description="chart keys, in the order wanted; empty: every "
                              "chart the dataset can feed (those without a render are listed as missing, with "
                              "the reason; a Filters workbook feeds no record-level chart)")
    include_descriptions: bool = Field(default=True, description="add each chart's AI description, where its "
                                       "latest render has one")


def report_folder(store: ArtifactStore, partition: str, run_id: str) -> Path:
    return store.layout.root / partition / GROUP / "landscape" / run_id


@contextmanager
def pdf_printer(renderer: object, log: Callable[[str], None]) -> Iterator[tuple[Callable, str]]:
    """The print method of the run's warm Chromium (the `renderer` resource, or the renderer the
    CLI started and passed in). Only when the run draws with kaleido, which keeps no page of
    its own, is a browser started for the PDF (and closed after it)."""
    engine = renderer.engine_renderer if isinstance(renderer, ChartRenderer) else renderer
    fast = engine if isinstance(engine, FigureRenderer) else getattr(engine, "fast", None)
    if fast is not None:
        yield fast.print_pdf, "the run's renderer"
        return
    log("the run renders with kaleido, which keeps no page to print from: starting a Chromium for the PDF")
    own = FigureRenderer()
    try:
        yield own.print_pdf, "a Chromium of its own (the run renders with kaleido)"
    finally:
        own.close()


@dg.asset(
    key=REPORT_KEY,
    # the charts only: descriptions are optional, and a run that fails to describe (no endpoint
    # configured) must not skip the report
    deps=[dg.AssetKey(["charts", key]) for key in CHARTS],
    partitions_def=datasets_partitions,
    group_name=GROUP,
    kinds={"html", "pdf", "excel"},
    pool="charts_cpu",  # it drives the browser, as the charts do
    code_version=REPORT_VERSION,
    description="The landscape report of a dataset: one self-contained report.html (interactive charts, key "
                "figures, footnotes, descriptions), the same as report.pdf (A4, printed by the warm Chromium), "
                "report-data.xlsx (each chart's chart_data and the dataset's summary) and bundle.zip (all of it "
                "plus each chart's PNG/SVG/chart_data). Uses the latest render of each chart the dataset can "
                "feed (or of those asked for); a chart that failed or was never rendered is listed as missing "
                "with the reason.",
)
def landscape_report(context: dg.AssetExecutionContext, config: ReportConfig, renderer: ChartRenderer,
                     store: ArtifactStore) -> dg.MaterializeResult:
    """Builds the landscape report of a partition from the latest render of each chart (and its
    description) and writes report.html, report.pdf, report-data.xlsx and bundle.zip into
    <artifacts>/<partition>/reports/landscape/<run id>/. Fails with one sentence when nothing
    is rendered yet, or on an unknown chart key."""
    partition, run_id = context.partition_key, context.run.run_id
    language = Language(config.language).value
    started = time.perf_counter()

    def stop_if_cancelled() -> None:
        """A cancel (the UI's, or Ctrl-C/SIGTERM of `intelli report`) takes effect between steps;
        a report cut short leaves no folder behind."""
        if run_cancel_requested(context.instance, context.instance.get_run_by_id(run_id)):
            raise dg.DagsterExecutionInterruptedError("the run was cancelled")

    try:
        dataset = load_dataset(store.layout.dataset_dir(partition))
        keys = report_keys(config.charts)
        if not config.charts and not dataset.has_records:  # every chart of a Filters dataset: those it can feed
            keys = charts_fed_by(keys, has_records=False)
        charts = report_charts(context.instance, partition, keys, language, config.include_descriptions, dataset)
        stop_if_cancelled()
        if not any(chart.included for chart in charts):
            raise IntelliError(f"nothing is rendered for partition {partition} yet ({len(keys)} chart"
                               f"{'s' if len(keys) > 1 else ''} asked for): render the charts first "
                               "(intelli run FILE, or Materialize the charts)")
        report = make_report(partition, dataset, charts, language=language, title=config.title, run_id=run_id)
    except IntelliError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None
    for chart in report.missing:
        context.log.warning(f"charts/{chart.key} is missing from the report: {chart.reason}")
    for chart in report.included:
        if chart.stale:
            context.log.warning(f"charts/{chart.key}: showing its earlier render; {chart.stale}")
    gathered = time.perf_counter()
    try:
        with pdf_printer(renderer, context.log.warning) as (print_pdf, printed_by):
            files = write_report(report, report_folder(store, partition, run_id), print_pdf, stop_if_cancelled)
    except IntelliError as exc:  # the PDF's browser, or the disk: nothing of this report is left behind
        raise dg.Failure(description=f"the report could not be written: {exc}", allow_retries=False) from None
    written = time.perf_counter()
    paths = files.paths()
    return dg.MaterializeResult(asset_key=REPORT_KEY, metadata={
        **{f"{name}_path": dg.MetadataValue.path(str(path)) for name, path in paths.items()},
        "folder": dg.MetadataValue.path(str(files.folder)),
        "files": dg.MetadataValue.json(files.records()),
        "page_count": files.pages,
        "charts_included": dg.MetadataValue.json([c.key for c in report.included]),
        "charts_missing": dg.MetadataValue.json({c.key: c.reason for c in report.missing}),
        "charts_stale": dg.MetadataValue.json({c.key: c.stale for c in report.included if c.stale}),
        "renders": dg.MetadataValue.json({c.key: {"params_hash": c.params_hash, "chart_run_id": c.run_id}
                                          for c in report.included}),
        "descriptions_included": dg.MetadataValue.json([c.key for c in report.included if c.description]),
        "key_figures": dg.MetadataValue.json(report.figures.to_dict()),
        "language": language,
        "title": report.title,
        "pdf_printed_by": printed_by,
        "gather_ms": round((gathered - started) * 1000, 1),
        "write_ms": round((written - gathered) * 1000, 1),
    })


report_assets = [landscape_report]
