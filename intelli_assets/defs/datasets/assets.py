"""patent_dataset: the canonical Dataset per partition, guarded by blocking checks."""

from pathlib import Path

import dagster as dg

from intelli_assets.dataset import Dataset, build_manifest, quality_checks, save_dataset
from intelli_assets.defs.common.partitions import datasets_partitions
from intelli_assets.defs.common.resources import ArtifactStore
from intelli_assets.defs.sources.assets import raw_source
from intelli_assets.errors import IntelliError
from intelli_assets.espacenet import read_filters_workbook

CHECK_NAMES = ("non_empty", "counts_are_non_negative_integers", "years_plausible", "no_duplicate_values")


@dg.asset(
    partitions_def=datasets_partitions,
    deps=[raw_source],
    group_name="datasets",
    kinds={"parquet"},
    pool="ingestion_io",
    check_specs=[dg.AssetCheckSpec(name, asset="patent_dataset", blocking=True) for name in CHECK_NAMES],
)
def patent_dataset(context: dg.AssetExecutionContext, store: ArtifactStore) -> dg.MaterializeResult:
    """The canonical dataset every chart reads: a `facets` table (facet, value, count,
    by_family, truncated, source_sheet) in Parquet plus a manifest (schema version, source
    type, query, summary_stats, columns_map). Blocking checks stop bad data before any chart.
    """
    key = context.partition_key
    layout = store.layout
    info = layout.raw_info(key)
    if info is None:
        raise dg.Failure(description=f"partition {key!r} has no raw_source; materialize raw_source first")
    try:
        facets, report = read_filters_workbook(Path(info["stored_path"]))
    except IntelliError as exc:
        raise dg.Failure(description=str(exc)) from None
    outcomes = quality_checks(facets)
    manifest = build_manifest(facets, report, {**info, "partition_key": key})
    manifest["partition_key"] = key
    if all(o.passed for o in outcomes):  # a failing dataset never replaces a good one on disk
        try:
            save_dataset(Dataset(facets, manifest), layout.dataset_dir(key))
        except IntelliError as exc:
            raise dg.Failure(description=str(exc)) from None
    stats = manifest["summary_stats"]["facets"]
    table = "| facet | sheet | rows | total | by family | truncated |\n|---|---|---|---|---|---|\n" + "\n".join(
        f"| {f} | {sheet} | {s['rows']} | {s['total']} | {s['by_family']} | {s['truncated']} |"
        for sheet, f in manifest["columns_map"].items()
        for s in [stats[f]]
    )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": dg.MetadataValue.int(len(facets)),
            "facets": dg.MetadataValue.md(table),
            "query": manifest["query"] or "(no Query sheet)",
            "results_count": manifest["results_count"] or 0,
            "schema_version": manifest["schema_version"],
            "path": dg.MetadataValue.path(str(layout.dataset_dir(key))),
        },
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
