"""report-data.xlsx: a summary sheet (the dataset, the key figures, the charts) and one sheet
per chart with its chart_data as tables. Generic: any chart_data shape is laid out the same
way, so a chart added to the registry needs nothing here. No Dagster imports.

A sheet holds the title, a `field | value` table of every single value (dotted paths, e.g.
`totals.total_publications`), then one table per list in chart_data: a list of records is a
table with a column per key (a list of names in a record, e.g. a family's applicants, is one
cell, the names joined with "; "); parallel lists in one object (`labels` and `data`) are
columns of one table; a list of values is one column; a list of lists is a grid, headed by
the lists of its object that name its rows and columns (a heatmap's applicants and years).
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font, PatternFill
from openpyxl.worksheet.worksheet import Worksheet

from intelli_assets.report.model import Report
from intelli_assets.report.text import date_text, t

Scalar = str | int | float | bool | None
HEADER_FILL = PatternFill("solid", fgColor="E2E8F0")
MAX_SHEET_NAME = 31


@dataclass
class Table:
    title: str  # where it sits in chart_data
    header: list[str]
    rows: list[list[Scalar]] = field(default_factory=list)


def _scalar(value: object) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


JOIN = "; "


def _flat(record: dict, prefix: str = "") -> dict[str, Scalar] | None:
    """A record's values under dotted keys (a list of texts joined into one), or None if it
    holds other lists (not one row)."""
    out: dict[str, Scalar] = {}
    for key, value in record.items():
        name = f"{prefix}{key}"
        if _scalar(value):
            out[name] = value
        elif isinstance(value, list) and all(isinstance(v, str) for v in value):
            out[name] = JOIN.join(value)
        elif isinstance(value, dict):
            inner = _flat(value, f"{name}.")
            if inner is None:
                return None
            out.update(inner)
        else:
            return None
    return out


def _labels(owner: dict, length: int, skip: str = "") -> tuple[str, list] | None:
    """The first list of values in `owner` with `length` items (other than `skip`)."""
    return next(((k, v) for k, v in owner.items() if k != skip and isinstance(v, list) and len(v) == length
                 and v and all(map(_scalar, v))), None)


def labelled_grid(path: str, value: object, owner: dict) -> Table | None:
    """A list of lists whose rows and columns its object names (a heatmap's z between its
    `applicants` and `years`): a table with the row labels first and the column labels as the
    header (as text: a label is no number of the grid). None for anything else."""
    if not (isinstance(value, list) and value and all(isinstance(v, list) and all(map(_scalar, v)) for v in value)):
        return None
    width = max(len(v) for v in value)
    rows = _labels(owner, len(value))
    columns = _labels(owner, width, skip=rows[0]) if rows else None
    if rows is None or columns is None:
        return None
    header = [f"{rows[0]} \\ {columns[0]}", *(str(c) for c in columns[1])]
    return Table(path, header, [[str(label), *v, *[None] * (width - len(v))] for label, v in zip(rows[1], value)])


def flatten(value: object, path: str, fields: list[tuple[str, Scalar]], tables: list[Table]) -> None:
    """Split chart_data into single values (`fields`) and tables."""
    if _scalar(value):
        fields.append((path, value))
    elif isinstance(value, dict):
        lengths = {len(v) for v in value.values() if isinstance(v, list) and v and all(map(_scalar, v))}
        columns = [k for k, v in value.items() if isinstance(v, list) and v and all(map(_scalar, v))]
        if len(columns) >= 2 and len(lengths) == 1:  # parallel lists: the columns of one table
            (n,) = lengths
            tables.append(Table(path, columns, [[value[c][i] for c in columns] for i in range(n)]))
            rest = {k: v for k, v in value.items() if k not in columns}
        else:
            rest = value
        for key, inner in rest.items():
            name = f"{path}.{key}" if path else str(key)
            grid = labelled_grid(name, inner, value)
            if grid is not None:
                tables.append(grid)
            else:
                flatten(inner, name, fields, tables)
    elif isinstance(value, list):
        if not value:
            fields.append((path, None))
        elif all(map(_scalar, value)):
            tables.append(Table(path, [path.rsplit(".", 1)[-1]], [[v] for v in value]))
        elif all(isinstance(v, list) and all(map(_scalar, v)) for v in value):
            width = max(len(v) for v in value)
            tables.append(Table(path, [str(i) for i in range(width)], [v + [None] * (width - len(v)) for v in value]))
        elif all(isinstance(v, dict) for v in value) and None not in (rows := [_flat(v) for v in value]):
            header = list(dict.fromkeys(k for row in rows for k in row))
            tables.append(Table(path, header, [[row.get(k) for k in header] for row in rows]))
        else:
            for i, inner in enumerate(value):
                flatten(inner, f"{path}[{i}]", fields, tables)
    else:
        fields.append((path, str(value)))


def chart_tables(chart_data: dict) -> tuple[list[tuple[str, Scalar]], list[Table]]:
    fields: list[tuple[str, Scalar]] = []
    tables: list[Table] = []
    flatten(chart_data, "", fields, tables)
    return fields, tables


def _put(sheet: Worksheet, row: int, column: int, value: Scalar, bold: bool = False, fill: bool = False) -> None:
    cell = sheet.cell(row=row, column=column)
    if isinstance(value, str):
        cell.value = ILLEGAL_CHARACTERS_RE.sub("", value)
        cell.data_type = "s"  # text, even when it starts with '=' (never a formula)
    else:
        cell.value = value
    if bold:
        cell.font = Font(bold=True)
    if fill:
        cell.fill = HEADER_FILL


def write_table(sheet: Worksheet, row: int, table: Table) -> int:
    """The table from `row` (its title, header, rows); the next free row after a blank one."""
    _put(sheet, row, 1, table.title, bold=True)
    for column, name in enumerate(table.header, 1):
        _put(sheet, row + 1, column, name, bold=True, fill=True)
    for i, values in enumerate(table.rows):
        for column, value in enumerate(values, 1):
            _put(sheet, row + 2 + i, column, value)
    return row + 2 + len(table.rows) + 1


def _widths(sheet: Worksheet) -> None:
    for column in sheet.columns:
        longest = max((len(str(c.value)) for c in column if c.value is not None), default=8)
        sheet.column_dimensions[column[0].column_letter].width = min(60, max(10, longest + 2))


def sheet_name(key: str, taken: set[str]) -> str:
    name = "".join(ch for ch in key if ch not in "[]:*?/\\")[:MAX_SHEET_NAME] or "chart"
    base, n = name, 2
    while name.lower() in taken:
        suffix = f"~{n}"
        name, n = base[:MAX_SHEET_NAME - len(suffix)] + suffix, n + 1
    taken.add(name.lower())
    return name


def summary_tables(report: Report) -> tuple[list[tuple[str, Scalar]], list[Table]]:
    manifest, lang = report.manifest, report.language
    source = manifest.get("source") or {}
    fields: list[tuple[str, Scalar]] = [
        ("title", report.title), ("partition", report.partition), ("source_file", source.get("original_name")),
        ("source_sha256", source.get("sha256")), ("source_type", manifest.get("source_type")),
        ("query", manifest.get("query")), ("results_count", manifest.get("results_count")),
        ("counting", t("counting_records" if report.figures.record_level else "counting_filters", lang)),
        ("generated", date_text(report.created_at, lang)), ("report_run_id", report.run_id)]
    figures: list[tuple[str, Scalar]] = []
    flatten(report.figures.to_dict(), "key_figures", figures, [])
    facets = (manifest.get("summary_stats") or {}).get("facets") or {}
    facet_table = Table("facets", ["facet", "rows", "total", "by_family", "truncated", "row_cap"],
                        [[name, info.get("rows"), info.get("total"), info.get("by_family"), info.get("truncated"),
                          info.get("row_cap")] for name, info in facets.items()])
    charts = Table("charts", ["chart", "title", "status", "render", "rendered_at", "reason"],
                   [[c.key, c.title, "included" if c.included else "missing", c.params_hash or None,
                     c.rendered_at.isoformat() if c.rendered_at else None, c.reason or c.stale]
                    for c in report.charts])
    return fields + figures, [facet_table, charts]


def _fill(sheet: Worksheet, title: str, subtitle: str, fields: list[tuple[str, Scalar]], tables: list[Table]) -> None:
    _put(sheet, 1, 1, title, bold=True)
    sheet.cell(row=1, column=1).font = Font(bold=True, size=14)
    _put(sheet, 2, 1, subtitle)
    row = write_table(sheet, 4, Table("fields", ["field", "value"], [[k, v] for k, v in fields]))
    for table in tables:
        row = write_table(sheet, row, table)
    _widths(sheet)


def report_xlsx(report: Report) -> bytes:
    """The workbook's bytes: the summary sheet first, then a sheet per included chart."""
    book = Workbook()
    summary = book.active
    taken: set[str] = set()
    summary.title = sheet_name(t("summary_sheet", report.language), taken)
    fields, tables = summary_tables(report)
    _fill(summary, report.title, t("report", report.language), fields, tables)
    for chart in report.included:
        sheet = book.create_sheet(sheet_name(chart.key, taken))
        fields, tables = chart_tables(chart.chart_data)
        rendered = date_text(chart.rendered_at, report.language) if chart.rendered_at else ""
        _fill(sheet, chart.title, f"charts/{chart.key} · render {chart.params_hash} · {rendered}", fields, tables)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


__all__ = ["Table", "chart_tables", "report_xlsx", "sheet_name"]
