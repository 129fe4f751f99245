"""register_dataset: add a source file's partition from a path the code location can read.

What a remote client (GraphQL) calls before launching charts on a new file: the file is read
where the runs run, validated in full (a bad file adds nothing and the run fails with the
problems named), and its content decides the partition key. The key is recorded as an
observation of `raw_source` for that partition, so the registration is in the audit trail
and the client reads the key from the run's events.
"""

from pathlib import Path

import dagster as dg
from pydantic import Field

from intelli_assets.dataset import file_sha256
from intelli_assets.defs.common.partitions import register_partition
from intelli_assets.errors import IntelliError
from intelli_assets.sources import source_display_name, validate_source

REGISTER_JOB_NAME = "register_dataset"


class RegisterDatasetConfig(dg.Config):
    path: str = Field(description="source file (Espacenet .xlsx/.csv or NAME.lens.json), as the code location sees it")


@dg.op
def register_dataset_op(context: dg.OpExecutionContext, config: RegisterDatasetConfig) -> str:
    """Validate the file and add its content's dataset partition; returns the partition key."""
    path = Path(config.path).expanduser()
    try:
        if not path.is_file():
            raise IntelliError(f"{path}: no such file where the code location runs (paths are read by the "
                               "server, not the client)")
        kind = validate_source(path)
        sha = file_sha256(path)
        key = register_partition(context.instance, source_display_name(path, kind), sha)
    except IntelliError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None
    context.log_event(dg.AssetObservation(asset_key="raw_source", partition=key, metadata={
        "registered_path": str(path.resolve()), "source_type": kind, "sha256": sha, "partition": key}))
    context.log.info(f"{path.name}: dataset partition {key}")
    return key
