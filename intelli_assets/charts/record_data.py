"""What the record-level charts count, from the `records` table (one row per publication).

Plain pandas over the canonical records (`intelli_assets.records`); no Dagster, no Plotly.
A family is `records.family_keys` (the family id, else the publication itself), as in the
facets, so these counts agree with the eight facet charts on the same source.
"""

from __future__ import annotations

import re

import pandas as pd
import pyarrow as pa

from intelli_assets.dataset import Dataset
from intelli_assets.errors import EmptyFacetError
from intelli_assets.records import family_keys, family_years

CPC_SUBCLASS = re.compile(r"^[A-HY]\d\d[A-Z]")  # section, class, subclass: G01N, Y02A

# raw legal status (lower case, as the readers store it) -> the four groups the chart draws
STATUS_GROUPS = ("active", "pending", "inactive", "unknown")
STATUS_WORDS: dict[str, str] = {
    **dict.fromkeys(("active", "alive", "granted", "patented", "in force", "in_force", "live"), "active"),
    **dict.fromkeys(("pending", "filed", "published", "under examination", "examination", "searched",
                     "application"), "pending"),
    **dict.fromkeys(("inactive", "discontinued", "expired", "lapsed", "abandoned", "withdrawn", "revoked",
                     "ceased", "rejected", "refused", "dead", "terminated", "not in force", "invalid"),
                    "inactive"),
    **dict.fromkeys(("", "unknown", "none", "n/a", "na", "-"), "unknown"),
}


def records_of(dataset: Dataset) -> pa.Table:
    """The dataset's records; a table with none is an error naming the dataset."""
    records = dataset.records
    if records is None or records.num_rows == 0:
        raise EmptyFacetError(f"dataset {dataset.manifest.get('partition_key', '?')} has no records to chart")
    return records


def family_column(records: pa.Table) -> pd.Series:
    """The family each record counts for, as a pandas Series aligned with the records."""
    return family_keys(records).to_pandas()


def family_pairs(records: pa.Table, column: str) -> pd.DataFrame:
    """(family, value) pairs, one per distinct value a family has in `column` (a list column
    is flattened); values are stripped, empty ones dropped."""
    frame = pd.DataFrame({"family": family_column(records), "value": records[column].to_pandas()})
    if pa.types.is_list(records.schema.field(column).type):
        frame = frame.explode("value")
    frame = frame[frame["value"].notna()]
    frame["value"] = frame["value"].astype(str).str.strip()
    frame = frame[frame["value"] != ""]
    return frame.drop_duplicates().reset_index(drop=True)


def ranked_values(pairs: pd.DataFrame) -> pd.Series:
    """Families per value, largest first, ties by value (deterministic)."""
    counts = pairs.groupby("value").size()
    order = sorted(counts.index, key=lambda v: (-int(counts[v]), v))
    return counts.reindex(order).astype(int)


def first_filing_years(records: pa.Table) -> tuple[pd.Series, pd.Index]:
    """Year of each family's first filing: its earliest priority date, else (no priority
    date at all) the year of its first publication. Returns (family -> year, the families
    dated by their first publication). Families with no date at all are absent."""
    families = family_keys(records)
    priority = family_years(records, families, "priority")
    publication = family_years(records, families, "publication")
    fallback = publication.drop(priority.index, errors="ignore")  # (a hash join: fast on a million families)
    years = pd.concat([priority, fallback]).astype(int)
    return years.sort_index(), pd.Index(fallback.index)


def all_families(records: pa.Table) -> pd.Index:
    return pd.Index(family_column(records).unique())


def status_group(raw: str | None) -> str:
    """active | pending | inactive | unknown for a raw status ('' or unrecognised: unknown)."""
    text = re.sub(r"\s+", " ", str(raw or "")).strip().lower()
    return STATUS_WORDS.get(text, STATUS_WORDS.get(text.replace("_", " "), "unknown"))


def family_sizes(records: pa.Table) -> pd.DataFrame:
    """Per family: `size` (the largest `family_size` its records report, else the number of
    its publications in the dataset) and `basis` (`source` or `records_in_dataset`)."""
    frame = pd.DataFrame({"family": family_column(records), "size": records["family_size"].to_pandas()})
    grouped = frame.groupby("family", sort=True)
    reported = grouped["size"].max()
    counted = grouped.size()
    out = pd.DataFrame({"size": reported.fillna(counted).astype(int),
                        "basis": reported.notna().map({True: "source", False: "records_in_dataset"})})
    out.loc[out["size"] < 1, "size"] = 1  # a family has at least the member we hold
    return out


def family_citations(records: pa.Table) -> pd.DataFrame:
    """Per family with a cited-by count: the largest member count (`cited_by`), the sum of
    members' counts, the member it belongs to, and the family's publications in the dataset."""
    frame = pd.DataFrame({
        "family": family_column(records),
        "publication_number": records["publication_number"].to_pandas(),
        "cited_by": records["cited_by_count"].to_pandas(),
    })
    publications = frame.groupby("family").size().rename("publications")
    known = frame[frame["cited_by"].notna()].copy()
    if known.empty:
        return pd.DataFrame(columns=["family", "cited_by", "cited_by_sum", "publication_number", "publications"])
    known["cited_by"] = known["cited_by"].astype(int)
    known = known.sort_values(["family", "cited_by", "publication_number"], ascending=[True, False, True])
    best = known.drop_duplicates("family").set_index("family")
    out = pd.DataFrame({
        "cited_by": best["cited_by"],
        "cited_by_sum": known.groupby("family")["cited_by"].sum(),
        "publication_number": best["publication_number"],
    }).join(publications)
    return out.reset_index().rename(columns={"index": "family"})
