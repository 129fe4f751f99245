"""Inbox batch runs as operators follow them: which datasets a batch holds, where a dataset
waits before its own run exists, and cancelling a batch without losing track of its datasets.

A batch run's datasets are listed only in its run config until each one's turn comes (then it
gets its own `dataset_charts` run, tagged with its job id), so these read that config.
"""

from __future__ import annotations

import dagster as dg

from intelli_assets.defs.inbox.batch import BATCH_JOB_NAME
from intelli_assets.errors import IntelliError
from intelli_assets.jobs import ENDED, WAITING, JobNotFound, load_job

UNFINISHED = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
              dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]


def batch_run(instance: dg.DagsterInstance, run_id: str) -> dg.DagsterRun | None:
    """The inbox batch run with this id, if it is one."""
    run = instance.get_run_by_id(run_id)
    return run if run is not None and run.job_name == BATCH_JOB_NAME else None


def batch_datasets(run: dg.DagsterRun) -> list[dict]:
    """The datasets a batch run draws, in order (partition, path, job_id, source...)."""
    return run.run_config.get("ops", {}).get("draw_datasets", {}).get("config", {}).get("datasets", [])


def waiting_in_batch(instance: dg.DagsterInstance, job_id: str) -> str | None:
    """Where a dataset's job waits while it has no run yet: its place in an unfinished batch."""
    for run in instance.get_runs(dg.RunsFilter(job_name=BATCH_JOB_NAME, statuses=UNFINISHED)):
        jobs = [dataset.get("job_id") for dataset in batch_datasets(run)]
        if job_id in jobs:
            return (f"job {job_id} has no run yet: it is dataset {jobs.index(job_id) + 1} of {len(jobs)} of inbox "
                    f"batch run {run.run_id} ({run.status.value}), and its run starts when its turn comes. "
                    f"`intelli status {run.run_id}` lists the batch; cancelling the batch run stops the "
                    "datasets not drawn yet.")
    return None


def batch_summary(instance: dg.DagsterInstance, run: dg.DagsterRun) -> dict:
    """A batch run and each of its datasets' job status: the job's own (once it has a run),
    `WAITING` while the batch may still draw it, `NOT_DRAWN` once the batch has ended."""
    datasets = []
    for dataset in batch_datasets(run):
        try:
            status = load_job(instance, dataset["job_id"]).status
        except JobNotFound:
            status = "NOT_DRAWN" if run.status.value in ENDED else "WAITING"
        datasets.append({"partition": dataset["partition"], "source": dataset.get("source", ""),
                         "job": dataset["job_id"], "path": dataset["path"], "status": status})
    return {"batch_run": run.run_id, "status": run.status.value, "datasets": datasets}


def print_batch(summary: dict) -> None:
    print(f"inbox batch run {summary['batch_run']} · {summary['status']} · {len(summary['datasets'])} datasets")
    for n, dataset in enumerate(summary["datasets"], 1):
        print(f"  {n:>2}. {dataset['status']:<15} {dataset['source'] or dataset['partition']}  job {dataset['job']}")
    if any(d["status"] == "NOT_DRAWN" for d in summary["datasets"]):
        print("  not drawn: re-execute the batch run (UI: Re-execute), or `intelli run PATH` on each one's path "
              "(`--json` lists them)")


def cancel_batch(instance: dg.DagsterInstance, run: dg.DagsterRun, requested_by: str) -> list[str]:
    """Cancel a batch run: a queued one at once (none of its datasets is drawn), a running one
    after the dataset it is drawing (whose own run `intelli cancel JOB` stops). The lines name
    the datasets left undrawn and how to draw them."""
    summary = batch_summary(instance, run)
    undrawn = [d for d in summary["datasets"] if d["status"] == "WAITING"]
    if run.status.value in WAITING:
        instance.report_run_canceled(run, f"Cancelled by {requested_by} before it started.")
        done = [f"batch run {run.run_id}: cancelled before it started"]
    elif run.status == dg.DagsterRunStatus.STARTED:
        instance.report_run_canceling(run, f"Cancel requested by {requested_by}; stopping after the dataset "
                                           "being drawn, the ones after it are not drawn.")
        done = [f"batch run {run.run_id}: stopping after the dataset it is drawing"]
    else:
        raise IntelliError(f"batch run {run.run_id} has nothing left to cancel (status {run.status.value})")
    done += [f"not drawn: {d['source'] or d['partition']} (job {d['job']}, {d['path']})" for d in undrawn]
    if undrawn:
        done.append("to draw them later: re-execute the batch run, or `intelli run PATH` on each path above")
    return done
