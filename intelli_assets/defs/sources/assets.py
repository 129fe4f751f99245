"""raw_source: the immutable copy of each input file."""

from pathlib import Path

import dagster as dg
from pydantic import Field

from intelli_assets.artifacts import source_record
from intelli_assets.dataset import file_sha256, key_matches_content, partition_key_for
from intelli_assets.defs.common.partitions import datasets_partitions
from intelli_assets.defs.common.resources import ArtifactStore
from intelli_assets.errors import IntelliError


class RawSourceConfig(dg.Config):
    path: str = Field(
        default="",
        description="Espacenet workbook to ingest for this partition. Leave empty to re-record the stored copy.",
    )


@dg.asset(
    partitions_def=datasets_partitions,
    group_name="sources",
    kinds={"excel"},
    pool="ingestion_io",
)
def raw_source(context: dg.AssetExecutionContext, config: RawSourceConfig, store: ArtifactStore) -> dg.MaterializeResult:
    """Exact copy of the input workbook in the artifact store, with its size, sha256 and name.

    The partition key is a slug of the file name plus the first 10 hex digits of its sha256,
    so the same bytes always map to the same partition and any later dataset can be re-derived
    even after the original file is gone.
    """
    key = context.partition_key
    layout = store.layout
    if config.path:
        source = Path(config.path).expanduser().resolve()
        if not source.is_file():
            raise dg.Failure(description=f"{source}: file does not exist")
        sha = file_sha256(source)
        if not key_matches_content(key, sha):
            raise dg.Failure(
                description=f"{source} has content key {partition_key_for(source.name, sha)!r}, not this "
                f"partition's {key!r}; add a partition for it (intelli run does) instead of overwriting "
                "another dataset"
            )
        info = source_record(source, sha)
        try:
            stored = layout.store_raw(key, source, info)
        except IntelliError as exc:  # read-only or full artifact store: say where and why
            raise dg.Failure(description=str(exc)) from None
    else:
        info = layout.raw_info(key)
        if info is None:
            raise dg.Failure(
                description=f"partition {key!r} has no stored input yet; set config 'path' to the workbook"
            )
        stored = Path(info["stored_path"])
    return dg.MaterializeResult(
        metadata={
            "source_type": info["source_type"],
            "original_name": info["original_name"],
            "size_bytes": dg.MetadataValue.int(info["size_bytes"]),
            "sha256": info["sha256"],
            "stored_path": dg.MetadataValue.path(str(stored)),
        }
    )
