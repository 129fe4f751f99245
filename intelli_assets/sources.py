"""Every kind of input, told apart and read into one shape. No Dagster imports.

- an Espacenet *Filters* workbook (pre-aggregated counts): `facets` directly;
- an Espacenet *results list* (.xlsx or .csv, one row per family): `records`, facets derived;
- a Lens.org query file `NAME.lens.json`: fetched page by page into the artifact store by
  `raw_source`, then `records` from those pages, facets derived.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow as pa

from intelli_assets.errors import IntelliError, InvalidSourceError
from intelli_assets.records import facets_from_records, records_summary

FILTERS = "espacenet_excel"
RESULTS_LIST = "espacenet_results_list"
LENS_QUERY = "lens_query"
SOURCE_LABELS = {FILTERS: "Espacenet Filters workbook", RESULTS_LIST: "Espacenet results list",
                 LENS_QUERY: "Lens.org query"}
LENS_SUFFIX = ".lens.json"
SUPPORTED = "an Espacenet export (.xlsx Filters workbook or results list, .csv results list) or a Lens query " \
            "file NAME.lens.json"


@dataclass
class SourceData:
    """A source read into the canonical tables, with what the manifest records about it."""

    kind: str
    facets: pd.DataFrame
    records: pa.Table | None = None
    query: str | None = None
    results_count: int | None = None
    details: dict = field(default_factory=dict)


def source_kind(path: str | Path) -> str:
    """Which kind of source a file is, from its name and first bytes; InvalidSourceError
    when it is none of them (or cannot be opened at all)."""
    from intelli_assets.source_kinds import check_container

    path = Path(path)
    name = path.name.lower()
    if name.endswith(LENS_SUFFIX):
        return LENS_QUERY
    if name.endswith(".json"):
        raise InvalidSourceError(str(path), [f"a JSON file is read as a Lens query only when named NAME{LENS_SUFFIX}; "
                                             f"rename it (e.g. {Path(path.stem).stem}{LENS_SUFFIX})"], kind="source")
    check_container(path, allow_csv=True)
    if path.suffix.lower() == ".csv" or not _has_filters_sheet(path):
        from intelli_assets.results_list import is_results_list

        if is_results_list(path):
            return RESULTS_LIST
        if path.suffix.lower() == ".csv":
            raise InvalidSourceError(str(path), [
                "this CSV is not an Espacenet results list: no header row naming 'Publication number' and a "
                "bibliographic column (Title, Applicants, Inventors, CPC, IPC) in its first lines; expected " + SUPPORTED
            ], kind="source")
    return FILTERS  # the Filters reader names what is missing


def _has_filters_sheet(path: Path) -> bool:
    """Cheap: sheet names only (a Filters workbook is recognised without reading cells)."""
    from python_calamine import CalamineWorkbook

    from intelli_assets.espacenet import match_facet

    try:
        with open(path, "rb") as fh:  # by content: calamine picks its reader from the name otherwise
            names = CalamineWorkbook.from_filelike(fh).sheet_names
    except Exception:  # noqa: BLE001 - the full reader reports what is wrong with the file
        return True
    return any(match_facet(name) for name in names)


def validate_source(path: str | Path) -> str:
    """Full validation before anything is added or stored; returns the source kind. A Lens
    query is checked as a file (its records are fetched by the run)."""
    path = Path(path)
    kind = source_kind(path)
    if kind == LENS_QUERY:
        from intelli_assets.lens import read_lens_query

        read_lens_query(path)
    else:
        check_records(path, read_source(path, kind))
    return kind


def check_records(path: Path, data: SourceData) -> None:
    """What the blocking record checks would stop, said before anything is added."""
    if data.records is None:
        return
    from intelli_assets.dataset import record_checks

    failed = [f"{check.name}: {check.description}" for check in record_checks(data.records) if not check.passed]
    if failed:
        raise InvalidSourceError(str(path), failed, kind=SOURCE_LABELS[data.kind])


def read_source(path: str | Path, kind: str | None = None, title_language: str = "en") -> SourceData:
    """A Filters workbook or a results list, read and validated into the canonical tables."""
    path = Path(path)
    kind = kind or source_kind(path)
    if kind == FILTERS:
        from intelli_assets.espacenet import read_filters_workbook

        facets, report = read_filters_workbook(path)
        return SourceData(FILTERS, facets, query=report.query, results_count=report.results_count,
                          details={"ignored_sheets": report.ignored_sheets})
    if kind == RESULTS_LIST:
        from intelli_assets.results_list import read_results_list

        records, info = read_results_list(path, title_language=title_language)
        return record_source(RESULTS_LIST, records, query=info.query, details={
            "format": info.format, "sheet": info.sheet, "header_row": info.header_row, "rows": info.rows,
            "columns_map": info.columns_map, "warnings": info.warnings})
    raise InvalidSourceError(str(path), [f"a {SOURCE_LABELS.get(kind, kind)} is not read from a file alone"],
                             kind="source")


def record_source(kind: str, records: pa.Table, query: str | None = None, details: dict | None = None) -> SourceData:
    """A record-level source: facets derived from its records, counted by family."""
    summary = records_summary(records)
    return SourceData(kind, facets_from_records(records), records=records, query=query,
                      results_count=summary["publications"], details={**(details or {}), "records": summary})


def read_lens_fetch(pages: list[Path], query_file: Path, title_language: str = "en") -> SourceData:
    """Records from the stored pages of one complete fetch of a Lens query."""
    from intelli_assets.lens import read_lens_query
    from intelli_assets.lens_records import lens_records

    query = read_lens_query(query_file)
    records = lens_records((page.read_bytes() for page in pages), title_language=title_language,
                           max_records=query.max_records)
    if records.num_rows == 0:
        raise IntelliError(f"Lens query {query.name!r}: its newest complete fetch holds no patents; nothing to chart")
    text = query.query if isinstance(query.query, str) else json.dumps(query.query, ensure_ascii=False)
    return record_source(LENS_QUERY, records, query=text, details={"pages": len(pages), "name": query.name})


def source_display_name(path: Path, kind: str) -> str:
    """What a partition key is made from: a Lens query's own name, else the file name."""
    if kind == LENS_QUERY:
        from intelli_assets.lens import read_lens_query

        return read_lens_query(path).name
    return path.name
