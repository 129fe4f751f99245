"""Reader for Espacenet "results list" exports (XLSX or CSV, one row per patent family) into the
canonical records table (one record per publication, see records.py). No Dagster imports.

Choices: multi-valued cells split on line breaks (Espacenet); a list-like cell (publication and
priority numbers, applicants, inventors, IPC, CPC) with no line break splits on ';' (other tools).
A line of several complete publication numbers split by spaces, commas or ';' is split too
('EP 3456789 A1' stays one). Dates zip with the publication numbers when the counts match; a lone
date is the first number's; other counts leave them empty, with a warning. Of several titles
('Title (DE)'...) the one in `title_language` wins, then a plain 'Title' (language ''), then any.
Legal status: a line per publication when the counts match, else the whole cell. All vectorised
(Arrow compute, numpy): no per-row Python loop, so a million rows take seconds.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from intelli_assets.errors import InvalidSourceError
from intelli_assets.records import records_table
from intelli_assets.source_kinds import is_results_list_header

KIND = "Espacenet results list"
SOURCE = "espacenet_results_list"
SCAN_ROWS = 30  # metadata rows (query, date) sit above the header
HEAD_BYTES = 1 << 20
LIMIT = 10  # rows named in one message
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
PUB = r"[A-Za-z]{2}[A-Za-z]{0,2}\d+[A-Za-z]?\d?"
PUB_PARTS = r"^(?P<jurisdiction>[A-Z]{2})(?P<doc_number>[A-Z]{0,2}\d+)(?P<kind>[A-Z]\d?)?$"
DATE_FORMATS = "YYYY-MM-DD (also YYYYMMDD, DD.MM.YYYY, DD/MM/YYYY)"
CSV_RECORD = re.compile(rb'(?:"[^"]*"|[^"\r\n])*(?:\r\n|\n|\r|\Z)')  # quoted fields may hold line breaks


@dataclass
class ResultsListInfo:
    path: str
    format: str  # "xlsx" | "csv"
    sheet: str | None  # results sheet (xlsx)
    header_row: int  # 1-based, as a spreadsheet or editor shows it
    query: str | None
    rows: int = 0  # data rows read (families)
    publications: int = 0  # records produced
    columns_map: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


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
    if path.suffix.lower() in WORKBOOK_SUFFIXES | {".csv", ".txt"}:
        return path.suffix.lower() in WORKBOOK_SUFFIXES
    with open(path, "rb") as fh:  # no telling suffix: zip (xlsx) or OLE2 (xls), else text
        return zipfile.is_zipfile(fh) or fh.seek(0) == 0 and fh.read(8) == OLE2_MAGIC


def _csv_head(path: Path) -> tuple[list[list[str]], int | None, bool, tuple[int, int, str]]:
    """Records of the first lines, the header's index, whether it names a publication number,
    and where it starts: byte offset, line as an editor shows it, delimiter."""
    with open(path, "rb") as fh:
        head = fh.read(HEAD_BYTES)
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
        if len(records) == SCAN_ROWS:
            break
    index, named = _find_header(records)
    return records, index, named, spots[index] if index is not None else (0, 0, ";")


def _sheets(path: Path):
    """(name, calamine sheet) per worksheet, each read when reached."""
    from python_calamine import CalamineWorkbook, SheetTypeEnum

    book = CalamineWorkbook.from_path(str(path))
    try:
        yield from ((m.name, book.get_sheet_by_name(m.name)) for m in book.sheets_metadata
                    if m.typ == SheetTypeEnum.WorkSheet)
    finally:
        book.close()


def is_results_list(path: str | Path) -> bool:
    """Cheap sniff: a results list header in the first rows (of some sheet)."""
    path = Path(path)
    try:
        if not _is_workbook(path):
            return _csv_head(path)[2]
        if path.suffix.lower() not in {".xlsx", ".xlsm"}:
            return any(_find_header(sheet.to_python(nrows=SCAN_ROWS))[1] for _, sheet in _sheets(path))
        from openpyxl import load_workbook  # streams: only the first rows of each sheet are parsed

        book = load_workbook(path, read_only=True, data_only=True)
        try:
            return any(_find_header(list(ws.iter_rows(max_row=SCAN_ROWS, values_only=True)))[1] for ws in book)
        finally:
            book.close()
    except Exception:  # noqa: BLE001 - a file we cannot even sniff is not a results list
        return False


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
    series = values if isinstance(values, pd.Series) else pd.Series(values, dtype=object)
    array = pa.array(series.where(series.notna(), "").astype(str), type=pa.string())
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


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


def _split(cells: pa.Array, pattern: str = "\n", semicolons: bool = False) -> tuple[pa.Array, np.ndarray]:
    """Non-empty, trimmed pieces of multi-valued cells, and the row each came from."""
    if semicolons:  # other tools separate with '; ', Espacenet with line breaks
        cells = pc.if_else(pc.match_substring_regex(cells, r"[\r\n]"), cells, pc.replace_substring(cells, ";", "\n"))
    if pattern == "\n":  # plain splitting is much faster than a regex
        lists = pc.split_pattern(pc.replace_substring(cells, "\r", "\n"), "\n")
    else:
        lists = pc.split_pattern_regex(cells, pattern)
    pieces = pc.utf8_trim_whitespace(pc.list_flatten(lists))
    keep = pc.not_equal(pieces, "")
    return pieces.filter(keep), pc.list_parent_indices(lists).filter(keep).to_numpy()


def _offsets(parents: np.ndarray, n: int) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(np.bincount(parents, minlength=n))]).astype(np.int32)


def _lists(values: pa.Array, parents: np.ndarray, n: int) -> pa.Array:
    return pa.ListArray.from_arrays(pa.array(_offsets(parents, n)), values)


def _dates(cells: pa.Array) -> tuple[pa.Array, np.ndarray, pa.Array]:
    """Dates (null where a piece is not one), the row of each, and the pieces as written."""
    if pc.any(pc.match_substring(cells, ":")).as_py():  # datetime cells: drop the time
        cells = pc.replace_substring_regex(cells, r"(\d)[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?", r"\1")
    text, parents = _split(cells, r"[\s,;]+")
    try:  # the usual case, all ISO: one strict cast
        return pc.cast(text, pa.date32()), parents, text
    except pa.ArrowInvalid:
        iso = text
    for pattern, to in ((r"^(\d{4})(\d{2})(\d{2})$", r"\1-\2-\3"), (r"^(\d{1,2})[./](\d{1,2})[./](\d{4})$", r"\3-\2-\1"),
                        (r"^(\d{4})/(\d{1,2})/(\d{1,2})$", r"\1-\2-\3"), (r"^(\d{4})-(\d)-", r"\1-0\2-"),
                        (r"^(\d{4}-\d\d)-(\d)$", r"\1-0\2")):
        iso = pc.replace_substring_regex(iso, pattern, to)
    stamps = pc.strptime(iso, format="%Y-%m-%d", unit="s", error_is_null=True)
    # strptime rolls 2020-02-30 over into March: keep only dates that print back unchanged
    real = pc.equal(pc.strftime(stamps, format="%Y-%m-%d"), iso)
    return pc.if_else(real, pc.cast(stamps, pa.date32()), pa.scalar(None, pa.date32())), parents, text


def _row_min(dates: pa.Array, parents: np.ndarray, n: int) -> pa.Array:
    top = np.iinfo(np.int32).max
    out = np.full(n, top, dtype=np.int32)
    np.minimum.at(out, parents, pc.fill_null(dates.cast(pa.int32()), top).to_numpy())
    return pa.array(out, mask=out == top).cast(pa.date32())


def _names(cells: pa.Array, n: int) -> tuple[pa.Array, pa.Array]:
    """'NAME [CC]' pieces as aligned lists of names and countries ('' without a suffix)."""
    pieces, parents = _split(cells, semicolons=True)
    if pc.any(pc.match_substring_regex(pieces, r"\s\s|[^\S ]|\x{00a0}")).as_py():
        pieces = pc.replace_substring_regex(pieces, r"[\s\x{00a0}]+", " ")
    suffixed = pc.match_substring_regex(pieces, r"\[[A-Za-z]{2}\]$")
    names = pc.utf8_trim_whitespace(pc.if_else(suffixed, pc.utf8_slice_codeunits(pieces, 0, -4), pieces))
    countries = pc.if_else(suffixed, pc.utf8_upper(pc.utf8_slice_codeunits(pieces, -3, -1)), "")
    keep = pc.not_equal(names, "")
    kept = parents[keep.to_numpy(zero_copy_only=False)]
    return _lists(names.filter(keep), kept, n), _lists(countries.filter(keep), kept, n)


def _symbols(cells: pa.Array, n: int) -> pa.Array:
    """IPC/CPC symbols without spaces or trailing notes ('(EP, US)', '(2013.01)'), once each."""
    pieces, parents = _split(cells, semicolons=True)
    if pc.any(pc.match_substring(pieces, "(")).as_py():
        pieces = pc.replace_substring_regex(pieces, r"(?:\s*\([^)]*\))+\s*$", "")
    pieces = pc.utf8_upper(pc.replace_substring(pieces, " ", ""))  # trimmed already: only inner spaces remain
    frame = pd.DataFrame({"row": parents, "symbol": pieces.to_pandas()})
    keep = ((frame["symbol"] != "") & ~frame.duplicated()).to_numpy()
    return _lists(pieces.filter(pa.array(keep)), parents[keep], n)


def _listed(rows: np.ndarray, unit: str, values: list | None = None) -> str:
    """'rows 5, 9' or "row 5 ('x'), row 9 ('y')": the first LIMIT, then how many more."""
    more = f" and {len(rows) - LIMIT} more" if len(rows) > LIMIT else ""
    if values is not None:
        return ", ".join(f"{unit} {r} ({v!r})" for r, v in zip(rows[:LIMIT], values)) + more
    return f"{unit}{'s' if len(rows) > 1 else ''} {', '.join(map(str, rows[:LIMIT]))}{more}"


def _mask(values: pa.Array) -> np.ndarray:
    return values.to_numpy(zero_copy_only=False)


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


def _publications(cell: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """One publication number per piece (as written) and its row."""
    pieces, parents = _split(cell, semicolons=True)
    several = pc.match_substring_regex(pieces, rf"^{PUB}(?:[\s,;]+{PUB})+$")  # 'EP1A1 US2B2', not 'EP 1 A1'
    if pc.any(several).as_py():
        lists = pc.split_pattern(pc.if_else(several, pc.replace_substring_regex(pieces, r"[\s,;]+", "\n"), pieces), "\n")
        parents, pieces = parents[_mask(pc.list_parent_indices(lists))], pc.list_flatten(lists)
    return pieces, parents


def _zip(values: pa.Array, rows: np.ndarray, parents: np.ndarray, pos: np.ndarray, p_count: np.ndarray,
         n: int) -> tuple[pa.Array, np.ndarray]:
    """A row's k-th value for its k-th publication when the counts match (a lone value: the first
    publication's), else null; and the rows holding several values but not one per publication."""
    off = _offsets(rows, n)
    count = np.diff(off)
    idx = np.where(count[parents] == p_count[parents], off[parents] + pos,
                   np.where((count[parents] == 1) & (pos == 0), off[parents], -1))
    return pc.take(values, pa.array(idx, mask=idx < 0)), np.flatnonzero((count > 1) & (count != p_count))


def _records(header: list[str], cells: list[pa.Array], numbers: np.ndarray, info: ResultsListInfo,
             title_language: str, unit: str) -> pa.Table:
    where = f"sheet {info.sheet!r}, " if info.sheet else ""
    keys, titles = _columns(header, info)
    label = {key: f"{where}column {header[i]!r}" for key, i in keys.items()}
    filled = np.zeros(len(numbers), dtype=bool)
    for col in cells:
        filled |= _mask(pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(col)), 0))
    if not filled.all():  # fully blank rows are skipped
        cells, numbers = [c.filter(pa.array(filled)) for c in cells], numbers[filled]
    n = info.rows = len(numbers)
    if not n:
        raise _fail(Path(info.path), [f"{where}the list holds no results: nothing below the header "
                                      f"({unit} {info.header_row})"])
    problems = []
    cell = cells[keys["publication_number"]]
    empty = np.flatnonzero(_mask(pc.equal(pc.utf8_trim_whitespace(cell), "")))
    if len(empty):  # nothing silently lost
        problems.append(f"{label['publication_number']} is empty in {_listed(numbers[empty], unit)}, which "
                        "hold other values; each result needs its publication number(s)")
    text, parents = _publications(cell)
    pubs = pc.utf8_upper(pc.replace_substring(text, " ", ""))
    parts = pc.extract_regex(pubs, PUB_PARTS)
    bad = _mask(pc.is_null(parts))
    if bad.any():
        values = text.filter(pa.array(bad))[:LIMIT].to_pylist()
        problems.append(f"{label['publication_number']}: not a publication number in "
                        f"{_listed(numbers[parents[bad]], unit, values)}; expected e.g. EP3456789A1 "
                        "(office, number, optional kind code)")
    dated = {}
    for key in ("publication_date", "family_earliest_publication_date", "earliest_priority_date"):
        if key in keys:
            dates, rows, written = _dates(cells[keys[key]])
            dated[key] = dates, rows
            wrong = _mask(pc.is_null(dates))
            if wrong.any():
                values = written.filter(pa.array(wrong))[:LIMIT].to_pylist()
                problems.append(f"{label[key]}: not a date in {_listed(numbers[rows[wrong]], unit, values)}; "
                                f"expected {DATE_FORMATS}")
    if problems:
        raise _fail(Path(info.path), problems)

    p_off = _offsets(parents, n)
    p_count, pos, take = np.diff(p_off), np.arange(len(parents)) - p_off[parents], pa.array(parents)
    columns: dict[str, object] = {"publication_number": pubs, "family_size": pa.array(p_count[parents], pa.int32())}
    columns.update({f: pc.struct_field(parts, f) for f in ("jurisdiction", "doc_number", "kind")})
    earliest = _row_min(*dated["family_earliest_publication_date"], n) if "family_earliest_publication_date" in dated \
        else pa.nulls(n, pa.date32())
    if "publication_date" in dated:
        columns["publication_date"], odd = _zip(*dated["publication_date"], parents, pos, p_count, n)
        if len(odd):
            info.warnings.append(f"{label['publication_date']}: {_listed(numbers[odd], unit)} hold a different "
                                 "number of dates than of publication numbers; their publication dates are left empty")
        earliest = pc.coalesce(earliest, _row_min(*dated["publication_date"], n))
    columns["family_earliest_publication_date"] = pc.take(earliest, take)
    if "earliest_priority_date" in dated:
        columns["earliest_priority_date"] = pc.take(_row_min(*dated["earliest_priority_date"], n), take)
    if titles:  # the chosen language first, then a plain 'Title', then the others
        title = lang = pc.fill_null(pa.nulls(n, pa.string()), "")
        for i, code in sorted(titles, key=lambda t: (t[1] != title_language.casefold(), t[1] != "")):
            text = pc.utf8_trim_whitespace(cells[i])
            use = pc.and_(pc.equal(title, ""), pc.not_equal(text, ""))
            title, lang = pc.if_else(use, text, title), pc.if_else(use, code, lang)
        columns["title"], columns["title_language"] = pc.take(title, take), pc.take(lang, take)
    for key in ("applicants", "inventors"):
        if key in keys:
            names, countries = _names(cells[keys[key]], n)
            columns[key], columns[key[:-1] + "_countries"] = pc.take(names, take), pc.take(countries, take)
    for key in ("ipc", "cpc"):
        if key in keys:
            columns[key] = pc.take(_symbols(cells[keys[key]], n), take)
    if "priority_countries" in keys:
        pieces, rows = _split(cells[keys["priority_countries"]], semicolons=True)
        offices = pc.utf8_upper(pc.utf8_slice_codeunits(pieces, 0, 2))
        ok = pc.match_substring_regex(offices, r"^[A-Z]{2}$")
        columns["priority_countries"] = pc.take(_lists(offices.filter(ok), rows[_mask(ok)], n), take)
    if "family_id" in keys:
        family = pc.replace_substring_regex(pc.utf8_trim_whitespace(cells[keys["family_id"]]), r"^(\d+)\.0+$", r"\1")
        columns["family_id"] = pc.take(pc.if_else(pc.equal(family, ""), pa.scalar(None, pa.string()), family), take)
    if "legal_status" in keys:  # a line per publication when the counts match, else the cell for all
        cell = pc.utf8_lower(cells[keys["legal_status"]])
        whole = pc.replace_substring_regex(pc.utf8_trim_whitespace(cell), r"\s*[\r\n]+\s*", "; ")
        status = pc.coalesce(_zip(*_split(cell), parents, pos, p_count, n)[0], pc.take(whole, take))
        columns["legal_status"] = pc.replace_substring_regex(status, r"[ \t]+", " ")
    if "cited_by_count" in keys:
        text = pc.utf8_trim_whitespace(cells[keys["cited_by_count"]])
        numeric = pc.match_substring_regex(text, r"^\d{1,9}(?:\.0+)?$")
        digits = pc.if_else(numeric, pc.replace_substring_regex(text, r"\.0+$", ""), pa.scalar(None, pa.string()))
        columns["cited_by_count"] = pc.take(pc.cast(digits, pa.int32()), take)
        other = np.flatnonzero(_mask(pc.and_(pc.invert(numeric), pc.not_equal(text, ""))))
        if len(other):
            info.warnings.append(f"{label['cited_by_count']} is not a count in {_listed(numbers[other], unit)}; "
                                 "cited_by_count is left empty there")
    columns["source"] = pa.repeat(pa.scalar(SOURCE), len(parents))
    columns["source_id"] = pc.binary_join_element_wise("row ", pc.cast(pa.array(numbers[parents]), pa.string()), "")
    return records_table(columns)


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
    table = _records(header, cells, numbers, info, title_language, "row" if workbook else "line")
    info.publications = table.num_rows
    return table, info
