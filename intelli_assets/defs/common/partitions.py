"""The one partitions definition: a dataset per source file (content-hash keys)."""

import dagster as dg

DATASETS_PARTITIONS_NAME = "datasets"
datasets_partitions = dg.DynamicPartitionsDefinition(name=DATASETS_PARTITIONS_NAME)
