"""Results-list cells -> the canonical records table: multi-valued cells split, names and
their country suffixes, classification symbols, publication numbers exploded into one record
each, dates zipped with them. All vectorised (Arrow compute, numpy): no per-row Python loop,
so a million rows take seconds. No Dagster imports. The file side (finding the header, CSV
and workbook reading) is `results_list.py`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from intelli_assets.errors import InvalidSourceError
from intelli_assets.records import records_table

KIND = "Espacenet results list"
SOURCE = "espacenet_results_list"
LIMIT = 10  # rows named in one message
PUB = r"[A-Za-z]{2}[A-Za-z]{0,2}\d+[A-Za-z]?\d?"
PUB_PARTS = r"^(?P<jurisdiction>[A-Z]{2})(?P<doc_number>[A-Z]{0,2}\d+)(?P<kind>[A-Z]\d?)?$"
DATE_FORMATS = "YYYY-MM-DD (also YYYYMMDD, DD.MM.YYYY, DD/MM/YYYY, or Excel's day number)"
EXCEL_1970 = 25569  # Excel's day number of 1970-01-01, where date32 counts from


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
    dates = pc.if_else(real, pc.cast(stamps, pa.date32()), pa.scalar(None, pa.date32()))
    serial = pc.match_substring_regex(text, r"^\d{5}(?:\.\d+)?$")  # a date cell formatted as a number: 1927-2173
    if pc.any(serial).as_py():
        days = pc.cast(pc.if_else(serial, pc.utf8_slice_codeunits(text, 0, 5), "0"), pa.int32())
        dates = pc.if_else(serial, pc.cast(pc.subtract(days, pa.scalar(EXCEL_1970, pa.int32())), pa.date32()), dates)
    return dates, parents, text


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


def records_from_cells(header: list[str], keys: dict[str, int], titles: list[tuple[int, str]], cells: list[pa.Array],
                       numbers: np.ndarray, info: ResultsListInfo, title_language: str, unit: str) -> pa.Table:
    """The records of a results list's cells: `keys` gives the column of each meaning, `titles`
    the title columns and their language; `numbers` the row (or line) of each cell as shown."""
    where = f"sheet {info.sheet!r}, " if info.sheet else ""
    label = {key: f"{where}column {header[i]!r}" for key, i in keys.items()}
    filled = np.zeros(len(numbers), dtype=bool)
    for col in cells:
        filled |= _mask(pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(col)), 0))
    if not filled.all():  # fully blank rows are skipped
        cells, numbers = [c.filter(pa.array(filled)) for c in cells], numbers[filled]
    n = info.rows = len(numbers)
    if not n:
        raise InvalidSourceError(info.path, [f"{where}the list holds no results: nothing below the header "
                                      f"({unit} {info.header_row})"], kind=KIND)
    problems = []
    text, parents = _publications(cells[keys["publication_number"]])
    empty = np.flatnonzero(np.bincount(parents, minlength=n) == 0)  # blank, or only separators (';')
    if len(empty):  # nothing silently lost
        problems.append(f"{label['publication_number']} is empty in {_listed(numbers[empty], unit)}, which "
                        "hold other values; each result needs its publication number(s)")
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
        raise InvalidSourceError(info.path, problems, kind=KIND)

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
    # the row is the family: without a family number its first publication number stands for it
    family = pc.take(pubs, pa.array(p_off[:-1]))
    if "family_id" in keys:
        given = pc.replace_substring_regex(pc.utf8_trim_whitespace(cells[keys["family_id"]]), r"^(\d+)\.0+$", r"\1")
        family = pc.if_else(pc.equal(given, ""), family, given)
    columns["family_id"] = pc.take(family, take)
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
    # as the reader's messages name it: 'row N' in a workbook, 'line N' in a CSV
    columns["source_id"] = pc.binary_join_element_wise(f"{unit} ", pc.cast(pa.array(numbers[parents]), pa.string()), "")
    return records_table(columns)
