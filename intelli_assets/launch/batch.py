"""Drawing several new datasets in one process: one Chromium, warm imports and model fits, and
still one Dagster run per dataset, executed in turn with its own job id, status,
materializations and failures (`execute_run`, as `intelli run` does). The inbox sensor asks
for it when one tick brings several new datasets (`defs/inbox/batch.py`): a run worker, a
browser start and the daemon's launch are then paid once per batch instead of per dataset.
"""

from __future__ import annotations

import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import dagster as dg

from intelli_assets.defs.runs.tags import BATCH_TAG, JOB_TAG, ORIGIN_TAG, REQUESTED_BY_TAG, SOURCE_TAG
from intelli_assets.forecasting import import_models
from intelli_assets.jobs import JobNotFound, load_job
from intelli_assets.launch.runs import execute_run, main_job
from intelli_assets.rendering import FigureRenderer

SUCCESS, FAILED, CANCELLED, DRAWN_BEFORE, NOT_RUN = "success", "failed", "cancelled", "drawn before", "not run"


@dataclass(frozen=True)
class BatchItem:
    """One dataset of a batch: its partition, the stored bytes its run reads, and its job."""

    partition: str
    path: str
    job_id: str
    requested_by: str
    source: str  # the file name it was dropped as
    charts: tuple[str, ...]


@dataclass
class BatchOutcome:
    item: BatchItem
    status: str  # success | failed | partial_success | cancelled | drawn before | not run
    run_id: str = ""
    errors: list[str] = field(default_factory=list)

    def line(self) -> str:
        run = f", run {self.run_id}" if self.run_id else ""
        errors = "".join(f"\n    {error}" for error in self.errors)
        return f"{self.item.partition} ({self.item.source}): {self.status}, job {self.item.job_id}{run}{errors}"


def drawn_before(instance: dg.DagsterInstance, job_id: str) -> bool:
    """Has this dataset's job run to an end that is not a failure (drawn, partly drawn, or
    cancelled by a user)? A re-executed batch leaves those alone and draws the rest again."""
    try:
        return load_job(instance, job_id).status in ("SUCCESS", "PARTIAL_SUCCESS", "CANCELLED")
    except JobNotFound:
        return False


def execute_batch(instance: dg.DagsterInstance, items: list[BatchItem], batch_run_id: str,
                  renderer: FigureRenderer, stop_requested: Callable[[], bool],
                  log: Callable[[str], None]) -> list[BatchOutcome]:
    """Execute the main job for each item in turn, all drawn by `renderer`. A dataset that
    fails costs only its own run. A dataset whose job already ran to an end that is not a
    failure (the batch run re-executed) is not drawn again. After a stop signal or once
    `stop_requested()`, the datasets left are not run."""
    # statsmodels imported here once: each run then fits in this process (ForecastFitting), not
    # in a worker process of its own that imports it again (~2.5 CPU-s a dataset)
    import_models()
    job = main_job(renderer)
    outcomes: list[BatchOutcome] = []
    stopped = False
    for item in items:
        if stopped or stop_requested():
            stopped = True
            outcomes.append(BatchOutcome(item, NOT_RUN))
            continue
        if drawn_before(instance, item.job_id):
            outcomes.append(BatchOutcome(item, DRAWN_BEFORE))
            log(outcomes[-1].line())
            continue
        run_id = str(uuid.uuid4())
        tags = {JOB_TAG: item.job_id, ORIGIN_TAG: "sensor", REQUESTED_BY_TAG: item.requested_by,
                SOURCE_TAG: item.source, BATCH_TAG: batch_run_id}
        run_config = {"ops": {"raw_source": {"config": {"path": item.path}}}}
        try:
            report = execute_run(instance, item.partition, list(item.charts), run_config, tags, run_id,
                                 renderer=renderer, job=job)
        except Exception as exc:  # noqa: BLE001 - one dataset's error must not cost the others
            outcomes.append(BatchOutcome(item, FAILED, run_id, [f"{type(exc).__name__}: {exc}"]))
            log(outcomes[-1].line() + "\n" + traceback.format_exc())
            continue
        outcomes.append(BatchOutcome(item, report.status, run_id, report.errors))
        log(outcomes[-1].line())
        stopped = report.stop_signal is not None  # the batch run itself is being stopped
    return outcomes
