"""The jobs, one per kind of work, each with its maximum run time (enforced by Dagster's run
monitoring through the `dagster/max_runtime` tag; a run over it is cancelled and fails).

- `dataset_charts`: a partition's source -> dataset -> charts (the CLI, the inbox sensor, a
  remote launch of a new dataset), in one process with one browser;
- `render_charts`: charts of an already-built dataset (a re-render, a retry);
- `describe_charts`: AI descriptions;
- `register_dataset`: add a source file's partition (remote clients);
- `inbox_batch` (`defs/inbox/batch.py`): several new inbox datasets, a `dataset_charts` run
  each, in one run worker with one browser.

Limits default to the old backend's Celery time limits: ingestion 60 s, charts 120 s, AI 60 s;
set INTELLI_MAX_RUNTIME_INGESTION / _CHARTS / _AI (seconds) where the code location runs.
"""

import os
import re

import dagster as dg

from intelli_assets.defs.sources.registration import REGISTER_JOB_NAME, register_dataset_op
from intelli_assets.errors import IntelliError

MAIN_JOB_NAME = "dataset_charts"
RENDER_JOB_NAME = "render_charts"
DESCRIBE_JOB_NAME = "describe_charts"
DEFAULT_MAX_RUNTIME = {"ingestion": 60, "charts": 120, "ai": 60}


def max_runtime(kind: str) -> int:
    """Seconds a run of this kind may take: INTELLI_MAX_RUNTIME_<KIND>, else the default."""
    name = f"INTELLI_MAX_RUNTIME_{kind.upper()}"
    raw = os.environ.get(name, "").strip()
    if not raw:
        return DEFAULT_MAX_RUNTIME[kind]
    if not re.fullmatch(r"[0-9]+", raw) or int(raw) == 0:  # a typo must not silently mean "the default"
        raise IntelliError(f"{name}={raw!r}: expected a whole number of seconds, at least 1")
    return int(raw)


def _runtime_tag(*kinds: str) -> dict[str, str]:
    return {"dagster/max_runtime": str(sum(max_runtime(kind) for kind in kinds))}


# in-process: the multiprocess executor starts a Python process and a browser per step
# (51 s instead of ~3 s for ten charts, measured)
dataset_charts_job = dg.define_asset_job(
    MAIN_JOB_NAME,
    selection=dg.AssetSelection.groups("sources", "datasets", "charts"),
    executor_def=dg.in_process_executor,
    description="Copy a source, build its canonical dataset, render every chart.",
    tags=_runtime_tag("ingestion", "charts"),
)

render_charts_job = dg.define_asset_job(
    RENDER_JOB_NAME,
    selection=dg.AssetSelection.groups("charts"),
    executor_def=dg.in_process_executor,
    description="Render charts of a dataset that is already built (re-render with other settings, retry).",
    tags=_runtime_tag("charts"),
)

describe_charts_job = dg.define_asset_job(
    DESCRIBE_JOB_NAME,
    selection=dg.AssetSelection.groups("descriptions"),
    executor_def=dg.in_process_executor,
    description="Describe the latest render of charts with an AI model.",
    tags=_runtime_tag("ai"),
)


@dg.job(name=REGISTER_JOB_NAME, executor_def=dg.in_process_executor, tags=_runtime_tag("ingestion"),
        description="Validate a source file the code location can read and add its dataset partition.")
def register_dataset_job() -> None:
    register_dataset_op()


JOBS = [dataset_charts_job, render_charts_job, describe_charts_job, register_dataset_job]
