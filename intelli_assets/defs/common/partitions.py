"""The one partitions definition: a dataset per source file (content-hash keys)."""

import dagster as dg

from intelli_assets.dataset import partition_key_for

DATASETS_PARTITIONS_NAME = "datasets"
datasets_partitions = dg.DynamicPartitionsDefinition(name=DATASETS_PARTITIONS_NAME)


def register_partition(instance: dg.DagsterInstance, name: str, sha256: str) -> str:
    """The partition of a source's content (the same bytes under any name are one dataset),
    added when new. `name` makes the key readable."""
    existing = instance.get_dynamic_partitions(DATASETS_PARTITIONS_NAME)
    key = partition_key_for(name, sha256, existing)
    if key not in existing:
        instance.add_dynamic_partitions(DATASETS_PARTITIONS_NAME, [key])
    return key
