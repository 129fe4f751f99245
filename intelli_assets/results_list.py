"""Reader for Espacenet "results list" exports (XLSX or CSV, one row per patent family) into the
canonical records table (one record per publication, see records.py). No Dagster imports.

Choices (the cells' side is in results_list_cells.py): multi-valued cells split on line breaks (Espacenet); a list-like cell (publication and
priority numbers, applicants, inventors, IPC, CPC) with no line break splits on ';' (other tools).
A line of several complete publication numbers split by spaces, commas or ';' is split too
('EP 3456789 A1' stays one). Dates zip with the publication numbers when the counts match; a lone
date is the first number's; other counts leave them empty, with a warning. Of several titles
('Title (DE)'...) the one in `title_language` wins, then a plain 'Title' (language ''), then any.
Legal status: a line per publication when the counts match, else the whole cell. A row is one
family: without a family number its publications share the id of its first publication number
(normalised, e.g. 'EP1234567A1'), so facets count the row once. Workbooks are told by content (zip,
OLE2), not by name: an .xlsx renamed .xls reads. Workbook numbers read as typed: 20200102, not
'20200102.0'; a 5-digit number in a date column is Excel's day count. All vectorised (Arrow
compute, numpy): no per-row Python loop, so a million rows take seconds.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from intelli_assets.errors import InvalidSourceError
from intelli_assets.results_list_cells import KIND, ResultsListInfo, records_from_cells
from intelli_assets.source_kinds import is_results_list_header

SCAN_ROWS = 30  # metadata rows (query, date) sit above the header
HEAD_BYTES = 1 << 20
WORKBOOK_SUFFIXES = {".xlsx", ".xlsm", ".xlsb", ".xls", ".ods"}
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"

# meaning -> accepted headers (compared case-folded, spaces collapsed, trailing ':' dropped)
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "publication_number": ("publication number", "publication numbers", "publication no", "publication no.", "pub. no.",
                           "pub no", "publication_number"),
    "title": ("title", "titles"),  # also 'Title (DE)', 'Title [en]': see TITLE_IN
    "applicants": ("applicants", "applicant", "applicant(s)", "applicant names", "assignees", "assignee"),
    "inventors": ("inventors", "inventor", "inventor(s)", "inventor names"),
    "earliest_priority_date": ("earliest priority", "earliest priority date", "priority date"),
    "ipc": ("ipc", "ipc classification", "ipc symbols", "ipcr", "international classification"),
    "cpc": ("cpc", "cpc classification", "cpc symbols", "cooperative patent classification"),
    "publication_date": ("publication date", "publication dates", "date of publication"),
    "family_earliest_publication_date": ("earliest publication", "earliest publication date"),
    "family_id": ("family number", "family id", "family no", "family no.", "family", "docdb family", "docdb family id",
                  "simple family", "family_id"),
    "priority_countries": ("priority numbers", "priority number", "priorities"),
    "legal_status": ("legal status", "status"),
    "cited_by_count": ("cited by", "cited by count", "times cited"),
}
NOT_USED = {"no", "no.", "#", "result", "application number", "application numbers", "application date",
            "cited documents", "abstract", "url", "link"}
KEY_OF = {alias: key for key, aliases in COLUMN_ALIASES.items() for alias in aliases}
HEADER_LABELS = {"publication_number": "Publication number", "title": "Title", "applicants": "Applicants",
                 "inventors": "Inventors", "cpc": "CPC", "ipc": "IPC"}
TITLE_IN = re.compile(r"^titles? ?[(\[]? ?([a-z]{2}) ?[)\]]?$")
QUERY_CELL = (re.compile(r"^\s*(?:search\s+)?query\s*[:=]\s*(\S.*?)\s*$", re.I | re.S),
              re.compile(r"results?\s+found\s+for\s+(\S.*?)\s*$", re.I | re.S))
CSV_RECORD = re.compile(rb'(?:"[^"]*"|[^"\r\n])*(?:\r\n|\n|\r|\Z)')  # quoted fields may hold line breaks


def _norm(text: object) -> str:
    return re.sub(r"\s+", " ", str(text)).strip().casefold().rstrip(":").strip()


def _key(cell: object) -> str | None:
    name = _norm(cell) if isinstance(cell, str) else ""
    return "title" if TITLE_IN.match(name) else KEY_OF.get(name)


def _is_header(cells: list[object]) -> bool:
    """Espacenet's test (aliases read as canonical names), or a lean export: publication numbers
    and any other known column."""
    keys = {_key(c) for c in cells} - {None}
    return is_results_list_header([HEADER_LABELS.get(k, "") for k in keys]) or (
        "publication_number" in keys and len(keys) >= 2)


def _find_header(rows: list[list[object]]) -> tuple[int | None, bool]:
    """(index of the header row, whether it names a publication number column). A row naming
    two known columns but no publication number is returned so the error can list it."""
    rows = list(rows[:SCAN_ROWS])
    hit = next((i for i, row in enumerate(rows) if _is_header(row)), None)
    near = next((i for i, row in enumerate(rows) if sum(_key(c) is not None for c in row) >= 2), None)
    return (hit, True) if hit is not None else (near, False)


def _query(rows: list[list[object]]) -> str | None:
    """'Query: ...', '... results found for ...', or a 'Query' cell followed by the query."""
    for row in rows:
        cells = [c.strip() if isinstance(c, str) else "" for c in row]
        for i, cell in enumerate(cells):
            found = next((m.group(1) for p in QUERY_CELL if cell and (m := p.search(cell))), None)
            if found or _norm(cell) in {"query", "search query"} and (found := next((c for c in cells[i + 1:] if c), None)):
                return found
    return None


def _fail(path: Path, problems: list[str]) -> InvalidSourceError:
    return InvalidSourceError(str(path), problems, kind=KIND)


def _is_workbook(path: Path) -> bool:
    """Zip (xlsx, xlsb, ods) or OLE2 (xls) content whatever the name; else a workbook suffix
    (the reader then says why it is not one)."""
    with open(path, "rb") as fh:
        return zipfile.is_zipfile(fh) or fh.seek(0) == 0 and fh.read(8) == OLE2_MAGIC \
            or path.suffix.lower() in WORKBOOK_SUFFIXES


def _is_xlsx(path: Path) -> bool:
    """An Office Open XML workbook (xlsx, xlsm), whatever its name says."""
    try:
        with zipfile.ZipFile(path) as archive:
            return "xl/workbook.xml" in archive.namelist()
    except zipfile.BadZipFile:
        return False


def _csv_head(path: Path) -> tuple[list[list[str]], int | None, bool, tuple[int, int, str]]:
    """Records of the first lines, the header's index, whether it names a publication number,
    and where it starts: byte offset, line as an editor shows it, delimiter."""
    with open(path, "rb") as fh:
        head = fh.read(HEAD_BYTES)
    # a long cell (an abstract) exceeds csv's default 128 KiB field limit; process-wide, so only raised
    csv.field_size_limit(max(csv.field_size_limit(), 1 << 30))
    records, spots = [], []
    for m in CSV_RECORD.finditer(head, 3 if head.startswith(b"\xef\xbb\xbf") else 0):
        try:
            text = m.group().rstrip(b"\r\n").decode("utf-8")
        except UnicodeDecodeError:
            text = m.group().rstrip(b"\r\n").decode("cp1252", errors="replace")
        rows = {d: next(csv.reader(io.StringIO(text, newline=""), delimiter=d), []) for d in ";,"}
        delimiter = ";" if _is_header(rows[";"]) or not _is_header(rows[","]) else ","
        records.append(rows[delimiter])
        spots.append((m.start(), len(re.findall(rb"\r\n|\r|\n", head[:m.start()])) + 1, delimiter))
        if len(records) == SCAN_ROWS or _is_header(records[-1]):  # what follows the header is the reader's
            break
    index, named = _find_header(records)
    return records, index, named, spots[index] if index is not None else (0, 0, ";")


def _sheets(path: Path):
    """(name, calamine sheet) per worksheet, each read when reached."""
    from python_calamine import CalamineWorkbook, SheetTypeEnum

    with open(path, "rb") as fh:  # from_path picks the reader by extension, from_filelike by content
        book = CalamineWorkbook.from_filelike(fh)
    try:
        yield from ((m.name, book.get_sheet_by_name(m.name)) for m in book.sheets_metadata
                    if m.typ == SheetTypeEnum.WorkSheet)
    finally:
        book.close()


def is_results_list(path: str | Path) -> bool:
    """Cheap sniff: a results list header in the first rows (of some sheet). A workbook that
    cannot be opened is not one (the Filters reader says why); a text file that cannot be
    read raises InvalidSourceError with the reason, rather than pass for 'no header'."""
    path, workbook = Path(path), False
    try:
        workbook = _is_workbook(path)
        if not workbook:
            return _csv_head(path)[2]
        if not _is_xlsx(path):
            return any(_find_header(sheet.to_python(nrows=SCAN_ROWS))[1] for _, sheet in _sheets(path))
        from openpyxl import load_workbook  # streams: only the first rows of each sheet are parsed

        with open(path, "rb") as fh:  # a file object: openpyxl refuses a path not named .xlsx
            book = load_workbook(fh, read_only=True, data_only=True)
            try:
                return any(_find_header(list(ws.iter_rows(max_row=SCAN_ROWS, values_only=True)))[1] for ws in book)
            finally:
                book.close()
    except OSError as exc:
        raise _fail(path, [f"cannot be read ({exc.strerror or exc})"]) from None
    except Exception as exc:  # noqa: BLE001 - a damaged workbook is not a results list; other failures say why
        if workbook:
            return False
        raise _fail(path, [f"the CSV cannot be read ({type(exc).__name__}: {exc})"]) from None


def _no_header(path: Path, what: str, first: list[object], header: list[object] | None) -> InvalidSourceError:
    cells = [str(c).strip() for c in (header if header is not None else first) if c is not None and str(c).strip()]
    if header is not None:
        found = ", ".join(map(repr, cells))
        return _fail(path, [f"{what}: the header has no 'Publication number' column (columns found: {found})"])
    return _fail(path, [f"{what}: no results list header in the first {SCAN_ROWS} rows (expected a row naming "
                        f"'Publication number' and one of Title, Applicants, Inventors, IPC, CPC); first row: "
                        f"{' | '.join(cells)[:120]!r}"])


def _strings(values: object) -> pa.Array:
    """Cells as one contiguous string array (list builders need one chunk); in a workbook
    dates become ISO text and numbers their text, with str() run by pandas' C loop."""
    series = values if isinstance(values, pd.Series) else _as_typed(pd.Series(values, dtype=object))
    array = pa.array(series.where(series.notna(), "").astype(str), type=pa.string())
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def _as_typed(series: pd.Series) -> pd.Series:
    """Whole numbers as integers: a workbook stores 20200102 as a float, which prints '20200102.0'."""
    floats = series.map(type).eq(float).to_numpy()  # numbers only: a text '5.0' stays as typed
    if floats.any():
        x = series[floats].astype(float)
        whole = (np.isfinite(x) & (x == np.round(x)) & (x.abs() < 2 ** 53)).to_numpy()
        series = series.copy()
        series.iloc[np.flatnonzero(floats)[whole]] = x[whole].astype(np.int64).astype(object)
    return series


def _read_workbook(path: Path) -> tuple[list[str], list[pa.Array], np.ndarray, ResultsListInfo]:
    above, names, near, hit = [], [], None, None
    try:
        for name, sheet in _sheets(path):
            rows = sheet.to_python(skip_empty_area=False, nrows=SCAN_ROWS)  # from A1: row numbers hold
            index, named = _find_header(rows)
            if named:
                hit = name, index, sheet.to_python(skip_empty_area=False)
                above += rows[:index]
                break
            names.append(name)
            near = near or (index is not None and (name, rows[index]))
            above += rows
    except Exception as exc:  # calamine's errors are terse; say what the file is not
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise _fail(path, [f"cannot be read as a spreadsheet ({reason})"]) from None
    if hit is None:
        first = next((r for r in above if any(str(c).strip() for c in r)), [])
        what = f"sheet {near[0]!r}" if near else f"sheet{'s' * (len(names) != 1)} {', '.join(map(repr, names)) or '(none)'}"
        raise _no_header(path, what, first, near[1] if near else None)
    sheet, index, rows = hit
    header = ["" if c is None else str(c).strip() for c in rows[index]]
    body = rows[index + 1:]
    columns = list(zip(*[r[:len(header)] for r in body])) if body else [() for _ in header]
    info = ResultsListInfo(str(path), "xlsx", sheet, index + 1, _query(above))
    return header, [_strings(c) for c in columns], np.arange(index + 2, index + 2 + len(body)), info


def _read_csv(path: Path) -> tuple[list[str], list[pa.Array], np.ndarray, ResultsListInfo]:
    records, index, named, (offset, line, delimiter) = _csv_head(path)
    if not named:
        raise _no_header(path, "the CSV", records[0] if records else [], records[index] if index is not None else None)
    info = ResultsListInfo(str(path), "csv", None, line, _query(records[:index]))
    for encoding, errors in (("utf-8", "strict"), ("cp1252", "replace")):
        try:
            with open(path, "rb") as fh:
                fh.seek(offset)  # the C parser starts at the header: the metadata block varies in length
                frame = pd.read_csv(fh, sep=delimiter, header=None, dtype=str, engine="c", quotechar='"',
                                    keep_default_na=False, na_filter=False, skip_blank_lines=False,
                                    encoding=encoding, encoding_errors=errors)
            break
        except UnicodeDecodeError:
            info.warnings.append("the file is not UTF-8; read as Windows-1252 (cp1252)")
        except pd.errors.ParserError as exc:
            raise _fail(path, [f"the CSV cannot be parsed (lines counted from the header, line {line}, as 1): "
                               f"{str(exc).strip()}"]) from None
    cells = [_strings(frame.pop(c)) for c in list(frame.columns)]  # pop: one copy in memory at a time
    # a record spans 1 + its embedded line breaks: its first line is what an editor shows
    lines = np.ones(len(cells[0]), dtype=np.int64)
    for col in cells:
        lines += pc.count_substring(col, "\n").to_numpy()
        if pc.any(pc.match_substring(col, "\r")).as_py():
            lines += pc.count_substring(col, "\r").to_numpy() - pc.count_substring(col, "\r\n").to_numpy()
    starts = line + np.concatenate([[0], np.cumsum(lines)[:-1]])
    header = [c[0].as_py().strip() for c in cells]
    return header, [c.slice(1) for c in cells], starts[1:], info


MEANINGS = {"publication_number": "publication_number, jurisdiction, doc_number, kind, family_size",
            "applicants": "applicants, applicant_countries", "inventors": "inventors, inventor_countries"}


def _columns(header: list[str], info: ResultsListInfo) -> tuple[dict[str, int], list[tuple[int, str]]]:
    """Position of each known column, and the title columns with their language."""
    keys: dict[str, int] = {}
    titles: list[tuple[int, str]] = []  # (position, language)
    for i, name in enumerate(header):
        key, norm = _key(name), _norm(name)
        if key == "title":
            titles.append((i, m.group(1) if (m := TITLE_IN.match(norm)) else ""))
            info.columns_map[name] = f"title ({titles[-1][1]})" if titles[-1][1] else "title"
        elif key and key not in keys:
            keys[key], info.columns_map[name] = i, MEANINGS.get(key, key)
        elif key:  # the first column of a meaning wins
            info.columns_map[f"{name} (column {i + 1})"] = f"ignored (repeats column {keys[key] + 1})"
            info.warnings.append(f"column {i + 1} ({name!r}) repeats column {keys[key] + 1}; ignored")
        elif norm:
            info.columns_map[name] = "ignored (not in the records schema)" if norm in NOT_USED else "ignored"
            if norm not in NOT_USED:
                info.warnings.append(f"column {i + 1} ({name!r}) is not a results list column; ignored")
    return keys, titles


def read_results_list(path: str | Path, title_language: str = "en") -> tuple[pa.Table, ResultsListInfo]:
    """Read an Espacenet results list (XLSX or CSV) into the canonical records table, one record
    per publication number; raise InvalidSourceError naming what is wrong and where."""
    path = Path(path)
    if not path.is_file():
        raise _fail(path, ["file does not exist" if not path.exists() else "not a regular file"])
    if path.stat().st_size == 0:
        raise _fail(path, ["file is empty (0 bytes)"])
    workbook = _is_workbook(path)
    header, cells, numbers, info = _read_workbook(path) if workbook else _read_csv(path)
    keys, titles = _columns(header, info)
    table = records_from_cells(header, keys, titles, cells, numbers, info, title_language, "row" if workbook else "line")
    info.publications = table.num_rows
    return table, info
