"""The canonical `records` table (one row per patent publication) and the family-counted
`facets` derived from it. No Dagster imports.

Record-level sources (Espacenet results lists, the Lens.org API) are normalised to
`RECORDS_SCHEMA`; every chart then reads facets derived here, so all of them work on every
source. Counting follows Espacenet's "(family)" filters: a family counts once per value it
has (country, applicant, CPC symbol...), and once in the year of its earliest publication
(or earliest priority). A record without a family id is its own family. All of it is
vectorised with Arrow/pandas: no per-record Python loop, so a million records take seconds.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

RECORDS_SCHEMA_VERSION = "1"

STRINGS = pa.list_(pa.string())
# name -> (type, meaning). The one declaration of the table; docs and checks derive from it.
RECORD_FIELDS: dict[str, tuple[pa.DataType, str]] = {
    "publication_number": (pa.string(), "jurisdiction + number + kind, no spaces (EP2471949A1)"),
    "jurisdiction": (pa.string(), "publishing office, 2 letters (EP, US, WO, CN...)"),
    "doc_number": (pa.string(), "number without jurisdiction and kind"),
    "kind": (pa.string(), "kind code (A1, B2...); empty when the source omits it"),
    "publication_date": (pa.date32(), "date of this publication"),
    "earliest_priority_date": (pa.date32(), "earliest priority claimed by the family"),
    "family_earliest_publication_date": (pa.date32(), "first publication of the family, when the source says"),
    "title": (pa.string(), "title in the chosen language (else the first available)"),
    "title_language": (pa.string(), "language of `title` (ISO 639-1), empty when unknown"),
    "language": (pa.string(), "language of the publication, when the source says"),
    "applicants": (STRINGS, "applicant names, without country suffixes"),
    "applicant_countries": (STRINGS, "country of each applicant, aligned with `applicants` ('' unknown)"),
    "inventors": (STRINGS, "inventor names, without country suffixes"),
    "inventor_countries": (STRINGS, "country of each inventor, aligned with `inventors` ('' unknown)"),
    "ipc": (STRINGS, "IPC symbols, no spaces (G01N33/24)"),
    "cpc": (STRINGS, "CPC symbols, no spaces or trailing notes (G01N33/0098)"),
    "priority_countries": (STRINGS, "offices of the priority claims"),
    "family_id": (pa.string(), "simple family id; empty: the record is its own family"),
    "family_size": (pa.int32(), "members of the simple family, when the source says"),
    "legal_status": (pa.string(), "legal status, lower case (active, pending, inactive, ...); '' unknown"),
    "cited_by_count": (pa.int32(), "citing patents (Lens); null when the source does not say"),
    "source": (pa.string(), "espacenet_results_list or lens"),
    "source_id": (pa.string(), "where the record came from: Lens id, or the results list's row"),
}
RECORDS_SCHEMA = pa.schema([pa.field(name, kind) for name, (kind, _) in RECORD_FIELDS.items()])
LIST_FIELDS = [name for name, (kind, _) in RECORD_FIELDS.items() if kind == STRINGS]

# facet -> (record column, how a family's values are taken)
RECORD_FACETS: dict[str, str] = {
    "countries": "jurisdiction",
    "languages": "language",
    "applicants": "applicants",
    "inventors": "inventors",
    "applicant_countries": "applicant_countries",
    "inventor_countries": "inventor_countries",
    "ipc_subgroups": "ipc",
    "cpc_subgroups": "cpc",
    "ipc_main_groups": "ipc",
    "cpc_main_groups": "cpc",
}
MAIN_GROUP_FACETS = {"ipc_main_groups", "cpc_main_groups"}
EARLIEST_YEAR = 1782  # the oldest documents Espacenet holds
FACET_COLUMNS = ["facet", "value", "count", "by_family", "truncated", "source_sheet"]


def records_table(columns: dict[str, object]) -> pa.Table:
    """A records table in the canonical schema from column arrays; absent columns are null
    (lists: empty), so each reader fills only what its source has."""
    rows = None
    for values in columns.values():
        rows = len(values)
        break
    rows = rows or 0
    arrays = []
    for name, (kind, _) in RECORD_FIELDS.items():
        if name in columns:
            arrays.append(pa.array(columns[name], type=kind) if not isinstance(columns[name], pa.Array | pa.ChunkedArray)
                          else columns[name].cast(kind))
        elif kind == STRINGS:
            arrays.append(pa.array([[]] * rows, type=kind))
        else:
            arrays.append(pa.nulls(rows, type=kind))
    return pa.Table.from_arrays(arrays, schema=RECORDS_SCHEMA)


def family_keys(records: pa.Table) -> pa.ChunkedArray:
    """The family each record counts for: its family id, else its own publication number."""
    family = records["family_id"]
    own = pc.binary_join_element_wise("pub:", records["publication_number"], "")
    missing = pc.or_kleene(pc.is_null(family), pc.equal(pc.utf8_trim_whitespace(family), ""))
    return pc.if_else(missing, own, family)


def _family_values(records: pa.Table, column: str, families: pa.ChunkedArray) -> pd.DataFrame:
    """(family, value) pairs, one per distinct value a family has in `column`."""
    values = records[column]
    if pa.types.is_list(values.type):
        values = values.combine_chunks()
        parents = pc.list_parent_indices(values)
        flat = pc.list_flatten(values)
        fam = pc.take(families.combine_chunks(), parents)
    else:
        flat, fam = values, families
    frame = pd.DataFrame({"family": fam.to_pandas(), "value": flat.to_pandas()})
    frame = frame[frame["value"].notna()]
    frame["value"] = frame["value"].str.strip()
    frame = frame[frame["value"] != ""]
    return frame.drop_duplicates()


def _counted(pairs: pd.DataFrame, facet: str) -> pd.DataFrame:
    counts = pairs.groupby("value", sort=False).size().rename("count").reset_index()
    counts = counts.sort_values(["count", "value"], ascending=[False, True], kind="stable")
    return counts.assign(facet=facet, by_family=True, truncated=False, source_sheet=f"records:{facet}")


def family_years(records: pa.Table, families: pa.ChunkedArray, kind: str) -> pd.Series:
    """Year per family: of its earliest publication (`publication`) or earliest priority."""
    if kind == "publication":
        dates = pc.coalesce(records["family_earliest_publication_date"], records["publication_date"])
    else:
        dates = records["earliest_priority_date"]
    frame = pd.DataFrame({"family": families.to_pandas(), "date": pd.to_datetime(dates.to_pandas())})
    earliest = frame.dropna(subset=["date"]).groupby("family")["date"].min()
    return earliest.dt.year.astype("int64")


def facets_from_records(records: pa.Table) -> pd.DataFrame:
    """The `facets` table every chart reads, counted by family as Espacenet's Filters are.
    Facets a source has no data for (e.g. languages in a results list) are left out."""
    families = family_keys(records)
    frames = []
    for facet, column in RECORD_FACETS.items():
        pairs = _family_values(records, column, families)
        if facet in MAIN_GROUP_FACETS:
            pairs = pairs.assign(value=pairs["value"].str.split("/", n=1).str[0]).drop_duplicates()
        if not pairs.empty:
            frames.append(_counted(pairs, facet))
    for facet, kind in (("publication_year", "publication"), ("priority_year", "priority")):
        years = family_years(records, families, kind)
        if years.empty:
            continue
        counts = years.value_counts().sort_index()
        frames.append(pd.DataFrame({"value": counts.index.astype(str), "count": counts.to_numpy()}).assign(
            facet=facet, by_family=True, truncated=False, source_sheet=f"records:{facet}"))
    if not frames:
        return pd.DataFrame(columns=FACET_COLUMNS)
    facets = pd.concat(frames, ignore_index=True)[FACET_COLUMNS]
    facets["count"] = facets["count"].astype("int64")
    return facets


def records_summary(records: pa.Table) -> dict:
    """Key figures of a records table, for the manifest and the UI."""
    families = family_keys(records)
    dates = records["publication_date"]
    first, last = pc.min(dates).as_py(), pc.max(dates).as_py()
    return {
        "publications": records.num_rows,
        "families": int(pc.count_distinct(families).as_py()) if records.num_rows else 0,
        "jurisdictions": int(pc.count_distinct(records["jurisdiction"]).as_py()) if records.num_rows else 0,
        "first_publication": first.isoformat() if first else None,
        "last_publication": last.isoformat() if last else None,
        "without_family_id": int(pc.sum(pc.is_null(records["family_id"])).as_py() or 0),
    }


def duplicate_publication_numbers(records: pa.Table, limit: int = 5) -> tuple[int, list[str]]:
    """How many records repeat a publication number, and a few of the numbers with where each
    came from (`EP1234567A1 (row 6, row 10)`)."""
    frame = pd.DataFrame({"number": records["publication_number"].to_pandas(),
                          "source": records["source_id"].to_pandas()})
    repeated = frame[frame["number"].duplicated(keep=False)]
    examples = [f"{number} ({', '.join(map(str, group['source'].head(4)))})"
                for number, group in list(repeated.groupby("number", sort=True))[:limit]]
    return int(len(repeated)), examples


def implausible_dates(records: pa.Table, today: dt.date | None = None, limit: int = 5) -> tuple[int, list[str]]:
    """Records dated before Espacenet's oldest document or after next year, with examples
    naming the record, the date column, the value and where the record came from."""
    today = today or dt.date.today()
    low, high = pa.scalar(dt.date(EARLIEST_YEAR, 1, 1), pa.date32()), pa.scalar(dt.date(today.year + 1, 12, 31), pa.date32())
    bad_any = pa.array([False] * records.num_rows)
    examples: list[str] = []
    for column in ("publication_date", "earliest_priority_date", "family_earliest_publication_date"):
        values = records[column]
        out = pc.fill_null(pc.or_(pc.less(values, low), pc.greater(values, high)), False)
        bad_any = pc.or_(bad_any, out)
        hits = records.filter(out).slice(0, limit)
        examples += [f"{number} {column} {value} ({source})" for number, value, source in zip(
            hits["publication_number"].to_pylist(), hits[column].to_pylist(), hits["source_id"].to_pylist(), strict=True)]
    return int(pc.sum(bad_any).as_py() or 0), examples[:limit]


def records_schema_markdown() -> str:
    """The documented schema (README and the UI derive from this one declaration)."""
    names = {pa.string(): "text", pa.date32(): "date", pa.int32(): "integer", STRINGS: "list of text"}
    lines = ["| column | type | meaning |", "|---|---|---|"]
    lines += [f"| `{name}` | {names[kind]} | {meaning} |" for name, (kind, meaning) in RECORD_FIELDS.items()]
    return "\n".join(lines)
