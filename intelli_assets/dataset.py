"""The canonical `Dataset` every chart consumes: a `facets` table plus a manifest, and for
record-level sources the `records` table the facets were derived from.

Stored as `facets.parquet` (+ `records.parquet`) + `manifest.json` in one folder. No Dagster imports.
"""

from __future__ import annotations

import hashlib
import json
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from intelli_assets.artifacts import atomic_target, write_atomic
from intelli_assets.errors import IntelliError, MissingFacetError
from intelli_assets.espacenet import ESPACENET_ROW_CAPS, FACET_SHEETS
from intelli_assets.records import (
    EARLIEST_YEAR,
    RECORDS_SCHEMA_VERSION,
    duplicate_publication_numbers,
    implausible_dates,
)

if TYPE_CHECKING:
    from intelli_assets.sources import SourceData

SCHEMA_VERSION = "3"  # 3: records.parquet beside facets for record-level sources
PARTITION_KEY_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


CONTENT_HASH_DIGITS = 10


def partition_key_for(name: str, sha256: str, existing: Iterable[str] = ()) -> str:
    """Readable slug of the source name plus a short content hash. The content decides: when
    a partition with the same hash already exists (the same bytes under another name), its
    key is returned, so a renamed copy is the same dataset."""
    suffix = f"-{sha256[:CONTENT_HASH_DIGITS]}"
    for key in existing:
        if key.endswith(suffix):
            return key
    stem = unicodedata.normalize("NFKD", Path(name).stem).encode("ascii", "ignore").decode().lower()  # Ü -> u
    slug = re.sub(r"[^a-z0-9]+", "-", stem).strip("-")[:40].strip("-") or "source"
    return f"{slug}{suffix}"


def key_matches_content(key: str, sha256: str) -> bool:
    return key.endswith(f"-{sha256[:CONTENT_HASH_DIGITS]}")


@dataclass
class Dataset:
    facets: pd.DataFrame
    manifest: dict
    records: pa.Table | None = None  # record-level sources only; charts read facets

    @property
    def has_records(self) -> bool:
        """A record-level source's dataset (its records loaded or not); False for a Filters workbook."""
        return self.records is not None or self.manifest.get("records") is not None

    def facet(self, name: str) -> pd.DataFrame:
        """Rows of one facet in source order; a clear error when the source lacks it."""
        rows = self.facets[self.facets["facet"] == name]
        if rows.empty:
            sheets = " / ".join(repr(t) for t in FACET_SHEETS.get(name, (name,)))
            available = ", ".join(sorted(self.facets["facet"].unique())) or "none"
            raise MissingFacetError(
                f"this chart needs the {name!r} facet (sheet {sheets}), which dataset "
                f"{self.manifest.get('partition_key', '?')} does not have; available facets: {available}"
            )
        return rows.reset_index(drop=True)

    def has_facet(self, name: str) -> bool:
        return bool((self.facets["facet"] == name).any())


def build_manifest(facets: pd.DataFrame, data: SourceData, source: dict) -> dict:
    per_facet = facets.groupby("facet", sort=False).agg(
        rows=("count", "size"),
        total=("count", "sum"),
        by_family=("by_family", "first"),
        truncated=("truncated", "first"),
        source_sheet=("source_sheet", "first"),
    )
    return {
        "schema_version": SCHEMA_VERSION,
        "source_type": data.kind,
        "source": source,
        "query": data.query,
        "results_count": data.results_count,
        "columns_map": {row.source_sheet: facet for facet, row in per_facet.iterrows()},
        "ignored_sheets": data.details.get("ignored_sheets", []),
        "reader": {k: v for k, v in data.details.items() if k not in ("ignored_sheets", "records")},
        "records": None if data.records is None else {
            "schema_version": RECORDS_SCHEMA_VERSION, "counting": "families (a family counts once per value)",
            **data.details.get("records", {})},
        "summary_stats": {
            "total_rows": int(len(facets)),
            "facets": {
                facet: {
                    "rows": int(row.rows),
                    "total": int(row.total),
                    "by_family": bool(row.by_family),
                    "truncated": bool(row.truncated),
                    # the export's own cap for this facet (None: uncapped); quoted when truncated
                    "row_cap": ESPACENET_ROW_CAPS.get(facet) if data.records is None else None,
                }
                for facet, row in per_facet.iterrows()
            },
        },
    }


def save_dataset(dataset: Dataset, directory: str | Path) -> Path:
    """Write atomically enough for readers: each file appears only once complete."""
    directory = Path(directory)
    with atomic_target(directory / "facets.parquet") as tmp:
        dataset.facets.to_parquet(tmp, index=False)
    if dataset.records is not None:
        with atomic_target(directory / "records.parquet") as tmp:
            pq.write_table(dataset.records, tmp, compression="zstd")
    else:  # a Filters dataset replacing nothing record-level: no stale records beside it
        (directory / "records.parquet").unlink(missing_ok=True)
    write_atomic(directory / "manifest.json", json.dumps(dataset.manifest, indent=2, ensure_ascii=False))
    return directory


def load_dataset(directory: str | Path) -> Dataset:
    directory = Path(directory)
    if not (directory / "manifest.json").exists():
        raise IntelliError(f"no dataset at {directory}; materialize patent_dataset for this partition first")
    manifest = json.loads((directory / "manifest.json").read_text())
    return Dataset(pd.read_parquet(directory / "facets.parquet"), manifest)


def load_records(directory: str | Path) -> pa.Table | None:
    """The records table of a record-level dataset (None for a Filters workbook)."""
    path = Path(directory) / "records.parquet"
    return pq.read_table(path) if path.exists() else None


@dataclass
class CheckOutcome:
    name: str
    passed: bool
    description: str
    failing_rows: int = 0


def quality_checks(facets: pd.DataFrame, records: pa.Table | None = None) -> list[CheckOutcome]:
    """The dataset's invariants; any failure blocks every chart downstream."""
    counts = pd.to_numeric(facets["count"], errors="coerce")
    bad_counts = counts.isna() | (counts < 0) | (counts % 1 != 0)
    years = facets[facets["facet"].isin(["publication_year", "priority_year"])]
    year_values = pd.to_numeric(years["value"], errors="coerce")
    bad_years = year_values.isna() | (year_values < EARLIEST_YEAR) | (year_values > 2100)
    dupes = facets.duplicated(["facet", "value"], keep=False)
    return [
        CheckOutcome("non_empty", len(facets) > 0, f"{len(facets)} facet rows"),
        CheckOutcome("counts_are_non_negative_integers", not bad_counts.any(),
                     f"{int(bad_counts.sum())} rows with a negative, fractional or missing count",
                     int(bad_counts.sum())),
        CheckOutcome("years_plausible", not bad_years.any(),
                     f"{int(bad_years.sum())} year values outside {EARLIEST_YEAR}-2100", int(bad_years.sum())),
        CheckOutcome("no_duplicate_values", not dupes.any(),
                     f"{int(dupes.sum())} rows repeat a value within their facet", int(dupes.sum())),
        *record_checks(records),
    ]


def record_checks(records: pa.Table | None) -> list[CheckOutcome]:
    """Record-level rules; a Filters workbook has no records and passes them trivially."""
    if records is None:
        return [CheckOutcome("no_duplicate_publication_numbers", True, "no records (pre-aggregated source)"),
                CheckOutcome("dates_plausible", True, "no records (pre-aggregated source)")]
    dupes, numbers = duplicate_publication_numbers(records)
    bad, examples = implausible_dates(records)
    return [
        CheckOutcome("no_duplicate_publication_numbers", dupes == 0,
                     f"{dupes} records share a publication number" + (f", e.g. {', '.join(numbers)}" if dupes else "")
                     if dupes else f"{records.num_rows} records, every publication number once", dupes),
        CheckOutcome("dates_plausible", bad == 0,
                     f"{bad} records dated before {EARLIEST_YEAR} or after next year, e.g. {', '.join(examples)}"
                     if bad else f"every date between {EARLIEST_YEAR} and next year", bad),
    ]
