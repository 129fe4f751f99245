"""The landscape report: one file an analyst can hand over (report.html, report.pdf,
report-data.xlsx, bundle.zip), made from a dataset and its charts' latest renders. No
Dagster imports: `intelli_assets/defs/reports/` finds the renders and descriptions and
calls `make_report` and `write_report`.
"""

from __future__ import annotations

import datetime as dt

from intelli_assets.dataset import Dataset
from intelli_assets.report.bundle import PdfPrinter, ReportFiles, pdf_page_count, write_report
from intelli_assets.report.figures import KeyFigures, key_figures
from intelli_assets.report.html import default_title, report_html
from intelli_assets.report.model import (
    NOT_RENDERED,
    ChartDescription,
    RenderChanged,
    Report,
    ReportChart,
    load_render,
    missing_chart,
    read_description_file,
)
from intelli_assets.report.text import LANGUAGES, chart_title
from intelli_assets.report.xlsx import report_xlsx
from intelli_assets.style import Style


def _first(charts: list[ReportChart], find: object) -> object:
    for chart in charts:
        value = find(chart.chart_data)
        if value is not None:
            return value
    return None


def make_report(partition: str, dataset: Dataset, charts: list[ReportChart], *, language: str = "es",
                title: str = "", run_id: str = "", created_at: dt.datetime | None = None) -> Report:
    """The report of these charts (included or missing, in the order given). Key figures use the
    highlight country the charts were drawn with, and the CAGR of the patent_forecast render
    shown (else its cutoff year is that of the first time chart, else the default)."""
    if language not in LANGUAGES:
        raise ValueError(f"language must be one of {', '.join(LANGUAGES)}, got {language!r}")
    included = [c for c in charts if c.included]
    highlight = _first(included, lambda d: ((d.get("meta") or {}).get("style") or {}).get("highlight_country"))
    forecast = next((c.chart_data for c in included if c.key == "patent_forecast"), None)
    cutoff = _first(included, lambda d: d.get("cutoff_year") if isinstance(d.get("cutoff_year"), int) else None)
    figures = key_figures(dataset, str(highlight or Style().highlight_country), cutoff, forecast)
    return Report(partition, language, title.strip() or default_title(dataset.manifest, language), dataset.manifest,
                  figures, charts, created_at or dt.datetime.now(dt.UTC), run_id)


__all__ = ["NOT_RENDERED", "ChartDescription", "KeyFigures", "PdfPrinter", "RenderChanged", "Report", "ReportChart", "ReportFiles",
           "chart_title", "key_figures", "load_render", "make_report", "missing_chart", "pdf_page_count",
           "read_description_file", "report_html", "report_xlsx", "write_report"]
