"""Writing a report: report.html, report.pdf (printed by the caller's browser), report-data.xlsx
and bundle.zip (those three plus every chart's PNG, SVG and chart_data) into one folder.
The folder is staged beside its place and moved in whole: a report that fails leaves nothing
half-written, and earlier reports are never touched. No Dagster imports.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from intelli_assets.artifacts import write_atomic
from intelli_assets.errors import IntelliError, StorageError
from intelli_assets.rendering.browser import process_exists
from intelli_assets.report.html import report_html
from intelli_assets.report.model import Report
from intelli_assets.report.page import PAPER, footer_template
from intelli_assets.report.text import t
from intelli_assets.report.xlsx import report_xlsx

# printed once every plot is drawn and laid out for paper (see page.SCRIPT)
READY = "typeof window.reportForPrint === 'function' && window.reportForPrint()"
PAGE = re.compile(rb"/Type\s*/Page(?![A-Za-z])")
CHART_FILES = {"png": "chart.png", "svg": "chart.svg", "chart_data": "chart_data.json"}

# (the HTML file, the expression to wait for, printToPDF's parameters) -> the PDF's bytes
PdfPrinter = Callable[[Path, str, dict], bytes]


class PrintFailed(IntelliError):
    """The browser could not print the report (it did not start, or failed twice)."""


@dataclass(frozen=True)
class ReportFiles:
    folder: Path
    html: Path
    pdf: Path
    xlsx: Path
    zip: Path
    pages: int

    def paths(self) -> dict[str, Path]:
        return {"html": self.html, "pdf": self.pdf, "xlsx": self.xlsx, "zip": self.zip}

    def records(self) -> dict[str, dict]:
        """What the audit trail records of each file: path, sha256, size."""
        out = {}
        for name, path in self.paths().items():
            data = path.read_bytes()
            out[name] = {"path": str(path), "sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
        return out


def pdf_params(report: Report) -> dict:
    """A4 portrait, backgrounds printed, the title and 'Page N of M' in the footer, the
    headings as the PDF's outline."""
    lang = report.language
    return {**PAPER, "printBackground": True, "preferCSSPageSize": False, "displayHeaderFooter": True,
            "headerTemplate": "<span></span>",
            "footerTemplate": footer_template(t("page_footer", lang), t("page_of", lang), report.title),
            "generateTaggedPDF": True, "generateDocumentOutline": True}


def pdf_page_count(pdf: bytes) -> int:
    """Pages of a PDF as Chromium writes it (page objects in the clear)."""
    return len(PAGE.findall(pdf))


def bundle_zip(report: Report, files: dict[str, Path]) -> bytes:
    """The report's files and, per included chart, its PNG, SVG, chart_data and description."""
    import io

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in files.values():
            archive.write(path, path.name)
        for chart in report.included:
            for fmt, name in CHART_FILES.items():
                if fmt in chart.files:
                    stored = zipfile.ZIP_STORED if fmt == "png" else zipfile.ZIP_DEFLATED
                    archive.write(chart.files[fmt], f"charts/{chart.key}/{name}", compress_type=stored)
            if chart.description is not None and chart.description.path is not None:
                archive.write(chart.description.path, f"charts/{chart.key}/description.md")
    return out.getvalue()


STAGING = re.compile(r"^\..+\.staging-(\d+)$")


def clean_dead_staging(parent: Path) -> list[Path]:
    """Remove the staging folders of processes that are gone (a report killed outright, e.g.
    by a second Ctrl-C, cannot clean up after itself); returns those removed."""
    removed = []
    for entry in parent.iterdir() if parent.is_dir() else []:
        match = STAGING.match(entry.name)
        if match and entry.is_dir() and not process_exists(int(match.group(1))):
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
    return removed


def write_report(report: Report, folder: Path, print_pdf: PdfPrinter,
                 check: Callable[[], None] | None = None) -> ReportFiles:
    """Write the report's four files into `folder` (which must not exist yet). `check` is called
    between the steps and may raise to stop (a cancelled run): nothing is left behind then."""
    if folder.exists():
        raise StorageError(str(folder), FileExistsError(17, "a report is already stored there"))
    check = check or (lambda: None)
    clean_dead_staging(folder.parent)
    staging = folder.with_name(f".{folder.name}.staging-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    try:
        html = write_atomic(staging / "report.html", report_html(report))
        check()
        try:
            pdf_bytes = print_pdf(html, READY, pdf_params(report))
        except Exception as exc:  # noqa: BLE001 - any printer's failure, said in one sentence
            raise PrintFailed(f"report.pdf could not be printed: {exc}") from None
        check()
        pdf = write_atomic(staging / "report.pdf", pdf_bytes)
        xlsx = write_atomic(staging / "report-data.xlsx", report_xlsx(report))
        archive = write_atomic(staging / "bundle.zip", bundle_zip(report, {"html": html, "pdf": pdf, "xlsx": xlsx}))
        check()
        try:
            staging.rename(folder)
        except OSError as exc:
            raise StorageError(str(folder), exc) from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return ReportFiles(folder, folder / html.name, folder / pdf.name, folder / xlsx.name, folder / archive.name,
                       pdf_page_count(pdf_bytes))
