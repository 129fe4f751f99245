"""Reader for Espacenet "Filters" workbooks (pre-aggregated counts, one sheet per facet).

Produces the universal `facets` table (facet, value, count, by_family, truncated, source_sheet)
and a per-sheet validation report. No Dagster imports.
"""

from __future__ import annotations

import datetime as dt
import numbers
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from intelli_assets.errors import InvalidSourceError
from intelli_assets.records import EARLIEST_YEAR
from intelli_assets.source_kinds import RESULTS_LIST_PROBLEM, check_container, looks_like_results_list

EXCEL_SHEET_NAME_LIMIT = 31

# facet -> accepted sheet titles (full titles; Excel may cut them at 31 characters).
FACET_SHEETS: dict[str, tuple[str, ...]] = {
    "countries": ("Countries (family)", "Countries"),
    "languages": ("Languages (family)", "Languages"),
    "publication_year": ("Earliest publication date (family)", "Earliest publication date"),
    "priority_year": ("Earliest priority date (family)", "Earliest priority date"),
    "ipc_main_groups": ("IPC main groups",),
    "ipc_subgroups": ("IPC subgroups",),
    "cpc_main_groups": ("CPC main groups",),
    "cpc_subgroups": ("CPC subgroups",),
    "cpc_offices": ("CPC assigning offices",),
    "applicants": ("Applicants",),
    "inventors": ("Inventors",),
    "applicant_countries": ("Applicants - country",),
    "inventor_countries": ("Inventors - country",),
}
YEAR_FACETS = {"publication_year", "priority_year"}

# Espacenet lists at most this many rows per filter; a sheet that reaches its cap is cut
# (the tail is then alphabetical among the smallest counts, not complete).
ESPACENET_ROW_CAPS = {
    "ipc_main_groups": 100,
    "cpc_main_groups": 100,
    "ipc_subgroups": 150,
    "cpc_subgroups": 150,
    "applicants": 1000,
    "inventors": 1000,
}
MAX_DOCUMENT_COUNT = 1_000_000_000  # all patent documents ever published: about 150 million
COUNT_COLUMN_HINTS = ("number of documents", "number", "count", "documents", "publications")
FACET_COLUMNS = ["facet", "value", "count", "by_family", "truncated", "source_sheet"]

@dataclass
class SheetReport:
    sheet: str
    facet: str | None
    rows: int = 0
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    zero_counts: bool = False  # has rows, but every count is 0

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass
class WorkbookReport:
    path: str
    sheets: list[SheetReport]
    ignored_sheets: list[str]
    query: str | None = None
    results_count: int | None = None
    results_list: bool = False  # no Filters sheet, but a sheet laid out as a results list

    @property
    def ok(self) -> bool:
        return any(s.rows for s in self.recognized) and all(s.ok for s in self.recognized)

    @property
    def recognized(self) -> list[SheetReport]:
        return [s for s in self.sheets if s.facet]

    def problems(self) -> list[str]:
        if not self.recognized:
            if self.results_list:
                return [RESULTS_LIST_PROBLEM]
            expected = ", ".join(titles[0] for titles in FACET_SHEETS.values())
            found = ", ".join(repr(name) for name in self.ignored_sheets) or "none"  # what was there instead
            return [f"none of the expected sheets were found (expected any of: {expected}; found: {found})"]
        problems = [f"sheet {s.sheet!r}: {e}" for s in self.recognized for e in s.errors]
        if not any(s.rows for s in self.recognized):
            problems.append("every expected sheet is empty: the export holds no counts")
        elif all(s.rows == 0 or s.zero_counts for s in self.recognized):
            problems.append("every expected sheet is empty or holds only zero counts: the export holds no documents")
        return problems

    def to_dict(self) -> dict:
        return {
            "path": self.path,
            "valid": self.ok,
            "query": self.query,
            "results_count": self.results_count,
            "sheets": {
                s.sheet: {"facet": s.facet, "rows": s.rows, "valid": s.ok, "errors": s.errors, "warnings": s.warnings}
                for s in self.recognized
            },
            "ignored_sheets": self.ignored_sheets,
            "problems": [] if self.ok else self.problems(),
        }


def _norm(name: str) -> str:
    return re.sub(r"\s+", " ", name).strip().casefold()


def match_facet(sheet_name: str) -> str | None:
    """Facet for a sheet name, tolerant of case, spacing and Excel's 31-character cut."""
    name = _norm(sheet_name)
    for facet, titles in FACET_SHEETS.items():
        for title in titles:
            full = _norm(title)
            # exports cut long names near Excel's 31-character limit (seen: 30)
            cut = len(name) >= EXCEL_SHEET_NAME_LIMIT - 3 and full.startswith(name)
            if name == full or cut:
                return facet
    return None


def _count_column_by_name(columns: list[str]) -> str | None:
    for hint in COUNT_COLUMN_HINTS:
        for col in columns:
            if hint in col.casefold():
                return col
    return None


def _locate_header(df: pd.DataFrame) -> pd.DataFrame:
    """Some exports carry title rows above the header: use the row that names the counts.
    Data rows keep their index, so a sheet row number is still index + 2."""
    if _count_column_by_name([str(c) for c in df.columns[1:]]):
        return df
    for i in range(min(5, len(df))):
        cells = ["" if pd.isna(v) else str(v) for v in df.iloc[i].tolist()]
        if _count_column_by_name(cells[1:]):
            body = df.iloc[i + 1 :].copy()
            body.columns = cells
            return body
    return df


def _parse_counts(column: pd.Series) -> pd.Series:
    """Numbers, also when saved as text with thousands separators ('1,234', '1.234', '1 234')."""
    if column.dtype.kind in "iu" and not column.hasnans:  # whole numbers already, as exports store them
        return column
    text = column.astype(str).str.strip()
    grouped = text.str.fullmatch(r"\d{1,3}(?:[.,\s\u00a0]\d{3})+")
    text = text.where(~grouped, text.str.replace(r"[.,\s\u00a0]", "", regex=True))
    return pd.to_numeric(text, errors="coerce")


def _parse_years(column: pd.Series) -> pd.Series:
    """Years as numbers, or the year of a date ('2019-05-01', a datetime cell)."""
    years = pd.to_numeric(column, errors="coerce")
    dated = column.astype(str).str.extract(r"^\s*(\d{4})(?:[-/.]\d{1,2}(?:[-/.]\d{1,2})?)?(?:[ T].*)?$")[0]
    return years.where(years.notna(), pd.to_numeric(dated, errors="coerce"))


def _cell_text(value: object) -> str:
    """A cell as Excel shows it (-5, 3.5, 'many', an empty cell), never numpy's repr."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return "an empty cell"
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        number = float(value)
        return str(int(number)) if number.is_integer() else repr(number)
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat(sep=" ") if isinstance(value, dt.datetime) else value.isoformat()
    return repr(str(value))


class FormulaCells:
    """Formulas of an .xlsx/.xlsm, read with openpyxl only when an empty cell needs explaining:
    a program that writes formulas without running Excel leaves no saved value, which
    calamine then reads as an empty cell."""

    def __init__(self, path: Path):
        self.path = path
        self._workbook = None
        self._unreadable = path.suffix.lower() not in {".xlsx", ".xlsm"}

    def formula(self, sheet: str, row: int, column: int) -> str | None:
        """The formula text ('=SUM(B2:B3)') in a 1-based cell, or None."""
        if self._unreadable:
            return None
        try:
            if self._workbook is None:
                from openpyxl import load_workbook  # only on this error path

                self._workbook = load_workbook(self.path, read_only=True, data_only=False)
            cells = self._workbook[sheet].iter_rows(min_row=row, max_row=row, min_col=column, max_col=column,
                                                    values_only=True)
            value = next(iter(cells), (None,))[0]
        except Exception:  # noqa: BLE001 - the plain message is still right, just less specific
            self._unreadable = True
            return None
        text = getattr(value, "text", value)  # array formulas are objects holding their text
        return text if isinstance(text, str) and text.startswith("=") else None

    def close(self) -> None:
        if self._workbook is not None:
            self._workbook.close()
            self._workbook = None


FORMULA_ADVICE = "open and save the workbook in Excel (or LibreOffice) so its values are stored"


def _row_list(rows: list[int], limit: int = 10) -> str:
    """'row 5' or 'rows 5, 9' (the first `limit`, then how many more)."""
    if len(rows) == 1:
        return f"row {rows[0]}"
    more = f" and {len(rows) - limit} more" if len(rows) > limit else ""
    return f"rows {', '.join(map(str, rows[:limit]))}{more}"


def _no_saved_value(row: int, formula: str, more: str = "") -> str:
    return f"row {row} has a formula ({formula}) with no saved value{more}; {FORMULA_ADVICE}"


def _is_blank(column: pd.Series) -> pd.Series:
    """Empty cells, and text cells holding only spaces."""
    if pd.api.types.is_numeric_dtype(column):  # no text in it
        return column.isna()
    return column.isna() | column.map(lambda v: isinstance(v, str) and not v.strip())


def _sheet_facets(
    facet: str, sheet: str, df: pd.DataFrame, report: SheetReport, cells: FormulaCells | None = None
) -> pd.DataFrame | None:
    if df.shape[1] < 2:
        if df.dropna(how="all").empty:
            report.warnings.append("sheet is empty; charts that need it will say so")
            return None
        report.errors.append(f"expected 2 columns (<dimension>, 'Number of documents'), found {df.shape[1]}")
        return None
    df = _locate_header(df)
    df = df.dropna(how="all")
    label_col = str(df.columns[0])
    count_col = _count_column_by_name([str(c) for c in df.columns[1:]]) or str(df.columns[1])
    # calamine reads from cell A1, so a column's position is its Excel column
    count_pos = 1 + [str(c) for c in df.columns].index(count_col)
    cells = cells or FormulaCells(Path(""))

    def excel_row(index: object) -> int:  # 1-based sheet row; row 1 is the header
        return int(index) + 2

    no_label = _is_blank(df[label_col])
    report.rows = int((~no_label).sum())
    # a count without a label (an edited workbook's merged cells) would vanish from every total
    orphans = no_label & ~_is_blank(df[count_col])
    if orphans.any():
        rows = [excel_row(i) for i in orphans[orphans].index]
        parsed = _parse_counts(df.loc[orphans, count_col]).dropna()
        documents = int(parsed.clip(lower=0).sum())
        plural = len(rows) > 1
        amount = (f" ({documents} document{'' if documents == 1 else 's'}{' in all' if plural else ''})"
                  if len(parsed) else "")
        formula = cells.formula(sheet, rows[0], 1)  # a label computed by a formula nobody saved?
        report.errors.append(
            f"column {label_col!r} is empty in {_row_list(rows)} that {'have' if plural else 'has'} a count{amount}; "
            + (_no_saved_value(rows[0], formula) if formula else "fill in the labels (merged cells?)")
        )
        return None
    df = df[~no_label]
    if df.empty:
        report.warnings.append("sheet has a header but no data rows; charts that need it will say so")
        return None

    counts = _parse_counts(df[count_col])
    # a count beyond any patent office's total is a typo or a wrong column, and would overflow
    too_large = counts > MAX_DOCUMENT_COUNT
    if too_large.any() and not (counts.isna() | (counts < 0) | (counts % 1 != 0)).any():
        first = too_large.idxmax()
        report.errors.append(f"column {count_col!r} holds an implausible number of documents: row "
                             f"{excel_row(first)} has {_cell_text(df.loc[first, count_col])} "
                             f"(more than {MAX_DOCUMENT_COUNT:,})")
        return None
    bad = counts.isna() | (counts < 0) | (counts % 1 != 0)
    if bad.any():
        first = bad.idxmax()
        row, value = excel_row(first), df.loc[first, count_col]
        empty = _cell_text(value) == "an empty cell"
        formula = cells.formula(sheet, row, count_pos) if empty else None
        several = f" ({int(bad.sum())} bad rows)" if bad.sum() > 1 else ""
        report.errors.append(
            f"column {count_col!r} must hold non-negative whole numbers; "
            + (_no_saved_value(row, formula, several) if formula else f"row {row} has {_cell_text(value)}{several}")
        )
        return None
    if counts.sum() == 0:  # Espacenet lists only values that have documents
        report.zero_counts = True
        report.errors.append(f"every count in column {count_col!r} is 0: the sheet holds no documents")
        return None
    values = df[label_col]
    if facet in YEAR_FACETS:
        years = _parse_years(values)
        bad_years = years.isna() | (years % 1 != 0) | (years < EARLIEST_YEAR) | (years > 2100)
        if bad_years.any():
            first = bad_years.idxmax()
            report.errors.append(
                f"column {label_col!r} must hold years ({EARLIEST_YEAR}-2100); row {excel_row(first)} has {_cell_text(values[first])}"
            )
            return None
        values = years.astype(int).astype(str)
    else:
        values = values.astype(str).str.strip()
    repeated = values[values.duplicated(keep=False)]
    if not repeated.empty:
        first = repeated.iloc[0]
        rows = [excel_row(i) for i in repeated[repeated == first].index]
        report.errors.append(
            f"column {label_col!r} repeats {first!r} (rows {', '.join(map(str, rows))}); each value must appear once"
        )
        return None
    by_family = "family" in _norm(sheet) or "family" in _norm(label_col)
    cap = ESPACENET_ROW_CAPS.get(facet)
    return pd.DataFrame(
        {
            "facet": facet,
            "value": values.to_numpy(),
            "count": counts.astype("int64").to_numpy(),
            "by_family": by_family,
            "truncated": bool(cap and len(df) >= cap),
            "source_sheet": sheet,
        }
    )


def _parse_query_sheet(df: pd.DataFrame) -> tuple[str | None, int | None]:
    for cell in df.iloc[:, 0].dropna().astype(str):
        m = re.match(r"\s*([\d,.\s]+)\s+results? found for\s+(.*)", cell, flags=re.S)
        if m:
            return m.group(2).strip(), int(re.sub(r"\D", "", m.group(1)))
    return None, None


def inspect_workbook(path: str | Path) -> tuple[pd.DataFrame | None, WorkbookReport]:
    """Facets and a per-sheet report; raises InvalidSourceError only for unreadable files."""
    path = Path(path)
    check_container(path)
    try:
        sheets = pd.read_excel(path, sheet_name=None, engine="calamine")
    except Exception as exc:  # calamine's errors are terse; say what the file is not
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InvalidSourceError(str(path), [f"cannot be read as a spreadsheet ({reason})"]) from None
    reports: list[SheetReport] = []
    ignored: list[str] = []
    frames: list[pd.DataFrame] = []
    seen: set[str] = set()
    query = results = None
    cells = FormulaCells(path)
    try:
        for sheet, df in sheets.items():
            if _norm(sheet) == "query":
                query, results = _parse_query_sheet(df)
                continue
            facet = match_facet(sheet)
            if facet is None or facet in seen:
                ignored.append(sheet)
                continue
            seen.add(facet)
            report = SheetReport(sheet=sheet, facet=facet)
            reports.append(report)
            frame = _sheet_facets(facet, sheet, df, report, cells)
            if frame is not None:
                frames.append(frame)
    finally:
        cells.close()
    # only worth a look when nothing was recognized: say what the file is instead
    results_list = not reports and any(looks_like_results_list(df) for df in sheets.values())
    report = WorkbookReport(str(path), reports, ignored, query=query, results_count=results,
                            results_list=results_list)
    facets = pd.concat(frames, ignore_index=True)[FACET_COLUMNS] if report.ok else None
    return facets, report


def read_filters_workbook(path: str | Path) -> tuple[pd.DataFrame, WorkbookReport]:
    """Read and validate a Filters workbook; raise InvalidSourceError naming what is wrong."""
    facets, report = inspect_workbook(path)
    if facets is None:
        raise InvalidSourceError(str(path), report.problems())
    return facets, report
