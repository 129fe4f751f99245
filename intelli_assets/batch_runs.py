"""Inbox batch runs as operators follow them: which datasets a batch holds, where a dataset's
job is before it has a run, and cancelling a batch without losing track of its datasets.

A batch run's datasets are listed only in its run config until each one's turn comes (then it
gets its own `dataset_charts` run, tagged with its job id), so these read that config. Local
instance only: a remote client (`--url`) sees a batch run as a run.
"""

from __future__ import annotations

import dagster as dg

from intelli_assets.defs.inbox.batch import BATCH_JOB_NAME
from intelli_assets.errors import IntelliError
from intelli_assets.jobs import WAITING, JobNotFound, load_job

DRAWING = {*WAITING, "STARTED"}  # a batch in these states may still draw a dataset it has not reached
RECENT_BATCHES = 500  # how far back a job id is looked for among batch runs


def batch_run(instance: dg.DagsterInstance, run_id: str) -> dg.DagsterRun | None:
    """The inbox batch run with this id, if it is one."""
    run = instance.get_run_by_id(run_id)
    return run if run is not None and run.job_name == BATCH_JOB_NAME else None


def batch_datasets(run: dg.DagsterRun) -> list[dict]:
    """The datasets a batch run draws, in order (partition, path, job_id, source...)."""
    return run.run_config.get("ops", {}).get("draw_datasets", {}).get("config", {}).get("datasets", [])


def unreached_status(run: dg.DagsterRun) -> str:
    """A dataset the batch has not reached: WAITING while the batch may still draw it, else
    NOT_DRAWN."""
    return "WAITING" if run.status.value in DRAWING else "NOT_DRAWN"


def place_in_batches(instance: dg.DagsterInstance, job_id: str) -> dict | None:
    """Where a job without a run is: WAITING its turn in a batch that may still draw it, or
    NOT_DRAWN by a batch that ended (or is being cancelled) before its turn. None: in no batch."""
    found = None
    for run in instance.get_runs(dg.RunsFilter(job_name=BATCH_JOB_NAME), limit=RECENT_BATCHES):  # newest first
        datasets = batch_datasets(run)
        jobs = [dataset.get("job_id") for dataset in datasets]
        if job_id not in jobs:
            continue
        dataset = datasets[jobs.index(job_id)]
        place = {"job": job_id, "status": unreached_status(run),
                 "batch_run": run.run_id, "batch_status": run.status.value, "position": jobs.index(job_id) + 1,
                 "of": len(jobs), "partition": dataset["partition"], "source": dataset.get("source", ""),
                 "path": dataset["path"]}
        if place["status"] == "WAITING":
            return place  # a re-execution that may still draw it wins over the batch that did not
        found = found or place
    return found


def place_line(place: dict) -> str:
    where = (f"dataset {place['position']} of {place['of']} of inbox batch run {place['batch_run']} "
             f"({place['batch_status']})")
    if place["status"] == "WAITING":
        return (f"job {place['job']} · WAITING · {where}; its run starts when its turn comes "
                f"(`intelli status {place['batch_run']}` lists the batch; cancelling it stops the datasets not drawn)")
    return (f"job {place['job']} · NOT_DRAWN · {where} ended before its turn; its bytes are kept at {place['path']}: "
            "re-execute the batch run, or `intelli run PATH` draws it as a job of its own")


def batch_summary(instance: dg.DagsterInstance, run: dg.DagsterRun) -> dict:
    """A batch run and each of its datasets' status: its job's own once it has a run, else
    `WAITING` while the batch may still reach it, `NOT_DRAWN` once it will not."""
    datasets = []
    for dataset in batch_datasets(run):
        try:
            status = load_job(instance, dataset["job_id"]).status
        except JobNotFound:  # no run yet
            status = unreached_status(run)
        datasets.append({"partition": dataset["partition"], "source": dataset.get("source", ""),
                         "job": dataset["job_id"], "path": dataset["path"], "status": status})
    return {"batch_run": run.run_id, "status": run.status.value, "datasets": datasets}


def print_batch(summary: dict) -> None:
    print(f"inbox batch run {summary['batch_run']} · {summary['status']} · {len(summary['datasets'])} datasets")
    for n, dataset in enumerate(summary["datasets"], 1):
        print(f"  {n:>2}. {dataset['status']:<15} {dataset['source'] or dataset['partition']}  job {dataset['job']}")
    if any(d["status"] == "NOT_DRAWN" for d in summary["datasets"]):
        print("  not drawn: re-execute the batch run (UI: Re-execute), or `intelli run PATH` on each one's kept "
              "path (`--json` lists them) to draw it as a job of its own")


def cancel_batch(instance: dg.DagsterInstance, run: dg.DagsterRun, requested_by: str) -> list[str]:
    """Cancel a batch run: a queued one at once (none of its datasets is drawn), a running one
    after the dataset it is drawing (whose own run `intelli cancel JOB` stops). The lines name
    the datasets left undrawn and how to draw them."""
    undrawn = [d for d in batch_summary(instance, run)["datasets"] if d["status"] == "WAITING"]
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
        done.append("to draw them: re-execute the batch run, or `intelli run PATH` on a path above (a job of its own)")
    return done
