"""Lens.org response pages -> the canonical records table, vectorised with Arrow (no loop per
record): pages are parsed by Arrow's JSON reader against the struct type of only the fields
used, then normalised a chunk of records at a time. No Dagster imports.
"""

from __future__ import annotations

import gc
import io
import json
import re
from collections.abc import Iterable

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from intelli_assets.lens import LensError, page_document
from intelli_assets.records import RECORDS_SCHEMA, records_table

# Only the fields read below: other keys are ignored, missing ones are null.
_S = pa.string()
_PARTIES = pa.list_(pa.struct([("residence", _S), ("extracted_name", pa.struct([("value", _S)]))]))
_CLASSES = pa.struct([("classifications", pa.list_(pa.struct([("symbol", _S)])))])
LENS_RECORD_TYPE = pa.struct([
    ("lens_id", _S), ("jurisdiction", _S), ("doc_number", _S), ("kind", _S), ("date_published", _S), ("lang", _S),
    ("biblio", pa.struct([
        ("invention_title", pa.list_(pa.struct([("text", _S), ("lang", _S)]))),
        ("parties", pa.struct([("applicants", _PARTIES), ("inventors", _PARTIES)])),
        ("classifications_ipcr", _CLASSES), ("classifications_cpc", _CLASSES),
        ("priority_claims", pa.struct([("claims", pa.list_(pa.struct([("jurisdiction", _S), ("date", _S)]))),
                                       ("earliest_claim", pa.struct([("date", _S)]))])),
        ("cited_by", pa.struct([("patent_count", pa.int64())])),
    ])),
    ("families", pa.struct([("simple_family", pa.struct([
        ("family_id", pa.int64()), ("size", pa.int64()),
        ("members", pa.list_(pa.struct([("document_id", pa.struct([("date", _S)])), ("lens_id", _S)]))),
    ]))])),
    ("legal_status", pa.struct([("patent_status", _S)])),
])
_PARSE = pj.ParseOptions(explicit_schema=pa.schema([("data", pa.list_(LENS_RECORD_TYPE))]),
                         unexpected_field_behavior="ignore", newlines_in_values=True)
CHUNK_RECORDS = 50_000  # pages are parsed one by one and normalised this many records at a time
REQUIRED = ("jurisdiction", "doc_number")  # the publication number
DATES = ("date_published", "biblio.priority_claims.earliest_claim.date", "biblio.priority_claims.claims.date",
         "families.simple_family.members.document_id.date")
NAMED = 10  # records named in an error
_WHOLE = re.compile(r"\s*[+-]?\d+\s*")


class _Unusable(Exception):
    """A value no coercion makes fit: (field path, value, what was expected)."""


def _get(arr: pa.Array, path: str) -> pa.Array:
    return pc.struct_field(arr, path.split("."))  # null where any parent is null


def _flat(lists: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """A list column's items and the row each came from (null lists: no items)."""
    return pc.list_flatten(lists), pc.list_parent_indices(lists).to_numpy()


def _regroup(values: pa.Array, parents: np.ndarray, rows: int, keep: np.ndarray | None = None) -> pa.Array:
    """Items back into one list per row (no items: an empty list), those in `keep` only."""
    if keep is not None:
        values, parents = values.filter(pa.array(keep)), parents[keep]
    offsets = np.zeros(rows + 1, dtype=np.int32)
    np.cumsum(np.bincount(parents, minlength=rows), out=offsets[1:])
    return pa.ListArray.from_arrays(pa.array(offsets), values)


def _true(mask: pa.Array) -> np.ndarray:
    return pc.fill_null(mask, False).to_numpy(zero_copy_only=False)


def _first_per_row(parents: np.ndarray, mask: np.ndarray, rows: int) -> np.ndarray:
    """Index of the first item per row where `mask` holds (-1: none); items are in row order."""
    out, hits = np.full(rows, -1, dtype=np.int64), np.flatnonzero(mask)
    first_rows, first_at = np.unique(parents[hits], return_index=True)
    out[first_rows] = hits[first_at]
    return out


def _distinct(values: pa.Array, parents: np.ndarray, rows: int) -> pa.Array:
    """Per-row lists of the non-empty values without spaces, first of each kept, in order."""
    values = pc.replace_substring(values, " ", "")
    keep = _true(pc.not_equal(values, "")) & ~pd.DataFrame({"p": parents, "v": values.to_pandas()}).duplicated().to_numpy()
    return _regroup(values, parents, rows, keep)


def _list_min(values: pa.Array, parents: np.ndarray, rows: int) -> pa.Array:
    """Per-row minimum of the items (null when a row has none)."""
    grouped = pa.table({"p": pa.array(parents), "v": values}).group_by("p").aggregate([("v", "min")])
    return pc.take(grouped["v_min"], pc.index_in(pa.array(np.arange(rows)), value_set=grouped["p"]))


def _dates(values: pa.Array) -> pa.Array:
    return pc.cast(pc.strptime(values, "%Y-%m-%d", "s", error_is_null=True), pa.date32())


def _parties(arr: pa.Array, path: str, rows: int) -> tuple[pa.Array, pa.Array]:
    """Names (extracted_name.value) and their residence countries ('' unknown), aligned."""
    items, parents = _flat(_get(arr, path))
    names = pc.utf8_trim_whitespace(pc.struct_field(items, ["extracted_name", "value"]))
    countries = pc.fill_null(pc.struct_field(items, ["residence"]), "")
    keep = _true(pc.not_equal(names, ""))
    return _regroup(names, parents, rows, keep), _regroup(countries, parents, rows, keep)


def _title(arr: pa.Array, language: str, rows: int) -> tuple[pa.Array, pa.Array]:
    """The title in `language`, else in the record's own `lang`, else in English, else the
    first one; and its language ('' unknown). Languages compare case-insensitively."""
    items, parents = _flat(_get(arr, "biblio.invention_title"))
    langs = pc.utf8_lower(pc.struct_field(items, ["lang"]))
    own = pc.take(pc.utf8_lower(_get(arr, "lang")), pa.array(parents, pa.int64()))
    chosen = np.full(rows, -1, dtype=np.int64)
    for wanted in (pc.equal(langs, language.strip().lower()), pc.equal(langs, own), pc.equal(langs, "en")):
        chosen = np.where(chosen >= 0, chosen, _first_per_row(parents, _true(wanted), rows))
    chosen = np.where(chosen >= 0, chosen, _first_per_row(parents, np.ones(len(parents), dtype=bool), rows))
    at = pa.array(chosen, mask=chosen < 0)
    return pc.take(pc.struct_field(items, ["text"]), at), pc.fill_null(pc.take(langs, at), "")


def _parsed(raw: pa.Array, parents: np.ndarray | None = None, rows: int = 0) -> tuple[pa.Array, np.ndarray]:
    """Dates, and the rows with a date given but not YYYY-MM-DD (null or '' is no date: fine)."""
    dates = _dates(raw)
    bad = _true(pc.and_(pc.not_equal(raw, ""), pc.is_null(dates)))
    return dates, (bad if parents is None else np.bincount(parents[bad], minlength=rows) > 0)


def _normalise(arr: pa.Array, title_language: str) -> tuple[pa.Table, dict[str, np.ndarray]]:
    """Canonical records from a struct array of LENS_RECORD_TYPE, column by column, and per
    field of REQUIRED and DATES the rows where it is missing or not a date."""
    rows = len(arr)
    text = {k: pc.fill_null(_get(arr, k), "") for k in ("jurisdiction", "doc_number", "kind")}
    problems = {k: _true(pc.equal(text[k], "")) for k in REQUIRED}
    published, problems[DATES[0]] = _parsed(_get(arr, DATES[0]))
    title, title_lang = _title(arr, title_language, rows)
    applicants, applicant_countries = _parties(arr, "biblio.parties.applicants", rows)
    inventors, inventor_countries = _parties(arr, "biblio.parties.inventors", rows)
    ipc, cpc = (_distinct(pc.struct_field(items, ["symbol"]), parents, rows) for items, parents in
                (_flat(_get(arr, f"biblio.classifications_{s}.classifications")) for s in ("ipcr", "cpc")))
    claims, claim_rows = _flat(_get(arr, "biblio.priority_claims.claims"))
    earliest_claim, problems[DATES[1]] = _parsed(_get(arr, DATES[1]))
    claim_dates, problems[DATES[2]] = _parsed(pc.struct_field(claims, ["date"]), claim_rows, rows)
    family = _get(arr, "families.simple_family")
    members, member_rows = _flat(pc.struct_field(family, ["members"]))
    member_dates, problems[DATES[3]] = _parsed(pc.struct_field(members, ["document_id", "date"]), member_rows, rows)
    # no family_id in the answer: the members' smallest Lens id names the family, alike for each member
    member_key = pc.binary_join_element_wise(
        "lens:", _list_min(pc.struct_field(members, ["lens_id"]), member_rows, rows), "")
    member_count = pc.cast(pc.list_value_length(pc.struct_field(family, ["members"])), pa.int64())
    return records_table({
        "publication_number": pc.binary_join_element_wise(text["jurisdiction"], text["doc_number"], text["kind"], ""),
        **text, "publication_date": published,
        "earliest_priority_date": pc.coalesce(earliest_claim, _list_min(claim_dates, claim_rows, rows)),
        "family_earliest_publication_date": pc.min_element_wise(_list_min(member_dates, member_rows, rows), published),
        "title": title, "title_language": title_lang, "language": pc.utf8_lower(_get(arr, "lang")),
        "applicants": applicants, "applicant_countries": applicant_countries,
        "inventors": inventors, "inventor_countries": inventor_countries, "ipc": ipc, "cpc": cpc,
        "priority_countries": _distinct(pc.struct_field(claims, ["jurisdiction"]), claim_rows, rows),
        "family_id": pc.coalesce(pc.cast(pc.struct_field(family, ["family_id"]), _S), member_key),
        "family_size": pc.coalesce(pc.struct_field(family, ["size"]), member_count),
        "legal_status": pc.fill_null(pc.utf8_lower(_get(arr, "legal_status.patent_status")), ""),
        "cited_by_count": _get(arr, "biblio.cited_by.patent_count"),
        "source": pa.array(["lens"] * rows, _S), "source_id": _get(arr, "lens_id"),
    }), problems


def _coerce(value: object, typ: pa.DataType, path: str) -> object:
    """`value` made to fit `typ`: numbers as text and text as numbers are both accepted; the
    record's other fields are dropped. Raises _Unusable naming the path."""
    if value is None:
        return None
    if pa.types.is_struct(typ):
        if not isinstance(value, dict):
            raise _Unusable(path, value, "an object")
        return {f.name: _coerce(value.get(f.name), f.type, f"{path}.{f.name}".lstrip(".")) for f in typ}
    if pa.types.is_list(typ):
        if not isinstance(value, list):
            raise _Unusable(path, value, "a list")
        return [_coerce(v, typ.value_type, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, bool) or isinstance(value, dict | list):
        raise _Unusable(path, value, "text" if pa.types.is_string(typ) else "a whole number")
    if pa.types.is_string(typ):
        return value if isinstance(value, str) else str(value)
    if not (isinstance(value, int) or (isinstance(value, float) and value.is_integer())
            or (isinstance(value, str) and _WHOLE.fullmatch(value))):
        raise _Unusable(path, value, "a whole number")
    if not -(2 ** 63) <= int(value) < 2 ** 63:
        raise _Unusable(path, value, "a whole number of at most 64 bits")
    return int(value)


def _page_records(body: bytes | str, number: int) -> pa.Array:
    """A page's records as a struct array of LENS_RECORD_TYPE."""
    body = body.encode() if isinstance(body, str) else body
    try:  # Arrow's own JSON reader: three times as fast as json.loads + pa.array, same array
        table = pj.read_json(io.BytesIO(body), read_options=pj.ReadOptions(block_size=len(body) + 1),
                             parse_options=_PARSE)
        if table.num_rows == 1 and not table["data"].null_count:
            return table["data"].combine_chunks().flatten()
    except pa.ArrowInvalid:
        pass
    # Not of the declared types (say a family_id as text): json.loads, then a Python pass over
    # this page only that coerces what it can and names what it cannot. A page's dicts are
    # acyclic: the collector, run while they are built, would triple the time.
    collecting = gc.isenabled()
    gc.disable()
    try:
        data = page_document(body, number)["data"]
        fitted = []
        for i, record in enumerate(data, start=1):
            try:
                fitted.append(_coerce(record, LENS_RECORD_TYPE, ""))
            except _Unusable as exc:
                path, value, expected = exc.args
                lens_id = record.get("lens_id") if isinstance(record, dict) else None
                who = f"record {lens_id}" if lens_id is not None else f"record {i} (no lens_id)"
                shown = json.dumps(value, ensure_ascii=False)
                shown = shown if len(shown) <= 80 else shown[:79] + "…"
                where = f"`{path}` is {shown}" if path else f"it is {shown}"
                raise LensError(f"page {number}: Lens {who}: {where}, expected {expected}", page=number) from None
        return pa.array(fitted, type=LENS_RECORD_TYPE)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as exc:  # a number beyond int64, say
        raise LensError(f"page {number}: a Lens record has an unexpected value ({exc})", page=number) from None
    finally:
        if collecting:
            gc.enable()


def _problems(records: pa.Table, problems: dict[str, np.ndarray]) -> str:
    """What makes records unusable, naming up to NAMED lens_ids per field."""
    parts, ids = [], records["source_id"].to_numpy(zero_copy_only=False)
    for name, rows in problems.items():
        count = int(rows.sum())
        if count:
            named = ", ".join("(no lens_id)" if i is None else str(i) for i in ids[rows][:NAMED])
            what = f"no `{name}`" if name in REQUIRED else f"`{name}` not a YYYY-MM-DD date"
            parts.append(f"{count:,} with {what} ({named}{f' and {count - NAMED:,} more' if count > NAMED else ''})")
    # an empty publication number, or a date dropped unseen (the family leaves the year charts), misleads
    bad = int(np.logical_or.reduce(list(problems.values())).sum())
    return (f"{bad:,} of {len(records):,} Lens records cannot be used: " + "; ".join(parts)
            + ". Check the query's `include` and these records on lens.org")


def _keys(records: pa.Table) -> pa.Array:
    """Each record's lens_id, else jurisdiction+doc_number+kind (null: neither), as the fetch
    tells records apart."""
    records = records.combine_chunks()
    number = pc.binary_join_element_wise("", records["jurisdiction"], records["doc_number"], records["kind"], "\x1f")
    numbered = pc.and_(pc.not_equal(records["jurisdiction"], ""), pc.not_equal(records["doc_number"], ""))
    return pc.if_else(pa.array(_true(pc.not_equal(records["source_id"], ""))), records["source_id"],
                      pc.if_else(numbered, number, pa.scalar(None, _S)))


def lens_records(pages: Iterable[bytes], title_language: str = "en", max_records: int | None = None) -> pa.Table:
    """The canonical records table from raw Lens response bodies, in page order; records a
    restarted scroll repeated are dropped (same Lens id, first kept), then cut at max_records.
    LensError when a kept record lacks its publication number or has a date not YYYY-MM-DD."""
    tables, chunk, size, problems = [], [], 0, []

    def normalise() -> None:
        table, found = _normalise(pa.concat_arrays(chunk), title_language)
        tables.append(table)
        problems.append(found)

    for number, body in enumerate(pages, start=1):
        chunk.append(_page_records(body, number))
        size += len(chunk[-1])
        if size >= CHUNK_RECORDS:
            normalise()
            chunk, size = [], 0
    if size:
        normalise()
    records = pa.concat_tables(tables) if tables else RECORDS_SCHEMA.empty_table()
    keys = _keys(records).to_pandas()
    kept = ~(keys.duplicated() & keys.notna()).to_numpy()
    if max_records is not None:
        kept[np.flatnonzero(kept)[max_records:]] = False
    if not kept.all():
        records = records.filter(pa.array(kept))
    found = {k: np.concatenate([p[k] for p in problems])[kept] for k in problems[0]} if problems else {}
    if any(rows.any() for rows in found.values()):
        raise LensError(_problems(records, found))
    return records.combine_chunks()
