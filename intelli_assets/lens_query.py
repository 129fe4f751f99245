"""Lens.org query files `NAME.lens.json`: `{"name", "query", "include"?, "max_records"?,
"page_size"?}`, read and checked field by field. No Dagster imports.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from intelli_assets.errors import InvalidSourceError

# Response paths, as `include` takes them. `families.simple_family` whole: a third-party client
# reports `families.simple_family.family_id` refused as "Unrecognized fields".
DEFAULT_INCLUDE: list[str] = [
    "lens_id", "jurisdiction", "doc_number", "kind", "date_published", "lang",
    "biblio.invention_title", "biblio.parties.applicants", "biblio.parties.inventors",
    "biblio.classifications_ipcr", "biblio.classifications_cpc", "biblio.priority_claims",
    "biblio.cited_by.patent_count", "families.simple_family", "legal_status.patent_status",
]
MAX_PAGE_SIZE = 1000
QUERY_KIND = "Lens query file"
QUERY_FIELDS = ("name", "query", "include", "max_records", "page_size", "description")


@dataclass
class LensQuery:
    name: str
    query: dict | str
    include: list[str]
    max_records: int | None
    page_size: int = MAX_PAGE_SIZE


def whole_number(value: object, low: int = 1, high: int | None = None) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low and (high is None or value <= high)


def read_lens_query(path: str | Path) -> LensQuery:
    """Read and check a query file NAME.lens.json; InvalidSourceError lists every problem."""
    def invalid(*problems: str) -> InvalidSourceError:
        return InvalidSourceError(str(path), list(problems), kind=QUERY_KIND)

    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8-sig"))  # Notepad saves a BOM
    except json.JSONDecodeError as exc:
        raise invalid(f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise invalid(f"cannot be read ({exc.__class__.__name__}: {exc})") from None
    if not isinstance(doc, dict):
        raise invalid(f"must be a JSON object, not {type(doc).__name__}")
    problems = []
    name, query, max_records = doc.get("name"), doc.get("query"), doc.get("max_records")
    if not isinstance(name, str) or not name.strip():
        problems.append("`name`: required, a non-empty string naming the dataset")
    if "query" not in doc:
        problems.append('`query`: required, a Lens query object ({"match": ...}) or a query string')
    elif not (isinstance(query, dict | str) and query and str(query).strip()):
        problems.append("`query`: expected a non-empty object or string")
    include = doc.get("include", [])
    if not isinstance(include, list) or not all(isinstance(f, str) for f in include):
        problems.append('`include`: expected a list of field paths (strings), e.g. ["abstract"]')
        include = []
    problems += [f"`include`: entry {i} is empty; remove it or give a field path such as \"abstract\""
                 for i, f in enumerate(include, 1) if not f.strip()]
    include = [f.strip() for f in include]
    if max_records is not None and not whole_number(max_records):
        problems.append(f"`max_records`: expected a positive whole number, got {max_records!r}")
    page_size = doc.get("page_size", MAX_PAGE_SIZE)
    if not whole_number(page_size, 1, MAX_PAGE_SIZE):
        problems.append(f"`page_size`: expected a whole number from 1 to {MAX_PAGE_SIZE}, got {page_size!r}")
    # a typo such as `max_record` would otherwise fetch everything, silently
    problems += [f"unknown field `{k}` (expected: {', '.join(QUERY_FIELDS)})" for k in doc if k not in QUERY_FIELDS]
    if problems:
        raise invalid(*problems)
    # the records table needs DEFAULT_INCLUDE; `include` adds fields to keep in the raw pages
    fields = DEFAULT_INCLUDE + [f for f in dict.fromkeys(include) if f not in DEFAULT_INCLUDE]
    return LensQuery(name.strip(), query, fields, max_records, page_size)
