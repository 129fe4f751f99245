"""patent_dataset: the canonical Dataset per partition, guarded by blocking checks."""

from pathlib import Path

import dagster as dg
from pydantic import Field

from intelli_assets.artifacts import ArtifactLayout
from intelli_assets.dataset import Dataset, build_manifest, quality_checks, save_dataset
from intelli_assets.defs.common.partitions import datasets_partitions
from intelli_assets.defs.common.resources import ArtifactStore
from intelli_assets.defs.sources.assets import raw_source
from intelli_assets.errors import IntelliError
from intelli_assets.sources import LENS_QUERY, SOURCE_LABELS, SourceData, read_lens_fetch, read_source

CHECK_NAMES = ("non_empty", "counts_are_non_negative_integers", "years_plausible", "no_duplicate_values",
               "no_duplicate_publication_numbers", "dates_plausible")


class DatasetConfig(dg.Config):
    title_language: str = Field(
        default="en", pattern=r"^[a-z]{2}$",
        description="Record-level sources: which title to keep when a record has several (ISO 639-1: en, es, "
        "de, ...); a record without one keeps its first title.")


def read_stored_source(layout: ArtifactLayout, key: str, info: dict, title_language: str = "en") -> SourceData:
    """The stored input of a partition, read by the reader of its kind."""
    if info["source_type"] != LENS_QUERY:
        return read_source(Path(info["stored_path"]), info["source_type"], title_language)
    fetch = layout.latest_fetch(key)
    if fetch is None:
        raise IntelliError(f"partition {key!r}: its Lens query has no complete fetch yet; materialize raw_source")
    return read_lens_fetch(sorted(fetch.glob("page-*.json")), Path(info["stored_path"]), title_language)


@dg.asset(
    partitions_def=datasets_partitions,
    deps=[raw_source],
    group_name="datasets",
    kinds={"parquet"},
    pool="ingestion_io",
    check_specs=[dg.AssetCheckSpec(name, asset="patent_dataset", blocking=True) for name in CHECK_NAMES],
)
def patent_dataset(context: dg.AssetExecutionContext, config: DatasetConfig, store: ArtifactStore) -> dg.MaterializeResult:
    """The canonical dataset every chart reads: a `facets` table (facet, value, count,
    by_family, truncated, source_sheet) in Parquet plus a manifest (schema version, source
    type, query, summary_stats, columns_map). Record-level sources (results lists, Lens) also
    keep their `records` table (one row per publication) and derive facets from it, counting
    families as Espacenet does. Blocking checks stop bad data before any chart.
    """
    key = context.partition_key
    layout = store.layout
    info = layout.raw_info(key)
    if info is None:
        raise dg.Failure(description=f"partition {key!r} has no raw_source; materialize raw_source first")
    try:
        data = read_stored_source(layout, key, info, config.title_language)
    except IntelliError as exc:
        raise dg.Failure(description=str(exc)) from None
    facets = data.facets
    outcomes = quality_checks(facets, data.records)
    manifest = build_manifest(facets, data, {**info, "partition_key": key})
    manifest["partition_key"] = key
    if all(o.passed for o in outcomes):  # a failing dataset never replaces a good one on disk
        try:
            save_dataset(Dataset(facets, manifest, data.records), layout.dataset_dir(key))
        except IntelliError as exc:
            raise dg.Failure(description=str(exc)) from None
    stats = manifest["summary_stats"]["facets"]
    table = "| facet | sheet | rows | total | by family | truncated |\n|---|---|---|---|---|---|\n" + "\n".join(
        f"| {f} | {sheet} | {s['rows']} | {s['total']} | {s['by_family']} | {s['truncated']} |"
        for sheet, f in manifest["columns_map"].items()
        for s in [stats[f]]
    )
    metadata = {
        "dagster/row_count": dg.MetadataValue.int(len(facets)),
        "source_kind": SOURCE_LABELS.get(data.kind, data.kind),
        "facets": dg.MetadataValue.md(table),
        "query": manifest["query"] or "(no Query sheet)",
        "results_count": manifest["results_count"] or 0,
        "schema_version": manifest["schema_version"],
        "path": dg.MetadataValue.path(str(layout.dataset_dir(key))),
    }
    if data.records is not None:
        summary = manifest["records"]
        metadata.update({
            "publications": dg.MetadataValue.int(summary["publications"]),
            "families": dg.MetadataValue.int(summary["families"]),
            "records_schema_version": summary["schema_version"],
        })
    return dg.MaterializeResult(
        metadata=metadata,
        check_results=[
            dg.AssetCheckResult(
                check_name=o.name,
                passed=o.passed,
                description=o.description,
                metadata={"failing_rows": o.failing_rows},
            )
            for o in outcomes
        ],
    )
