"""Run tags that make runs into jobs: where a run came from, who asked, which job it belongs to.
A job is its first run plus the retries tagged with the same job id; its status is computed
from these runs and their events (`intelli_assets.jobs`), never stored."""

JOB_TAG = "intelli/job"
ORIGIN_TAG = "intelli/origin"  # cli | sensor | ui | graphql
REQUESTED_BY_TAG = "intelli/requested_by"
IDEMPOTENCY_TAG = "intelli/idempotency_key"
REQUEST_TAG = "intelli/request"  # hash of what an idempotent launch asked for (content, charts, settings)
RETRY_OF_TAG = "intelli/retry_of"  # the chart a retry run re-draws
SOURCE_TAG = "intelli/source"  # the file name the dataset came from
BATCH_TAG = "intelli/batch"  # the inbox batch run that executed this run (`defs/inbox/batch.py`)
BATCH_SIZE_TAG = "intelli/batch_size"  # on an inbox batch run: how many datasets it draws

# Dagster's tags on a sensor's runs (no public constants)
SENSOR_RUN_KEY_TAG = "dagster/run_key"
SENSOR_NAME_TAG = "dagster/sensor_name"
