"""Executing the main job in this process for `intelli run` and `intelli retry`, and reporting it
as a job (the same rule as `intelli status`).
"""

from __future__ import annotations

import fcntl
import getpass
import os
import re
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg

from intelli_assets.artifacts import instance_home, params_hash
from intelli_assets.dataset import file_sha256
from intelli_assets.defs.common.partitions import register_partition
from intelli_assets.defs.jobs import MAIN_JOB_NAME
from intelli_assets.defs.runs.ownership import owner_tags
from intelli_assets.defs.runs.sqlite_connections import sqlite_files_kept_open
from intelli_assets.defs.runs.status import step_failures
from intelli_assets.defs.runs.tags import (
    IDEMPOTENCY_TAG,
    JOB_TAG,
    ORIGIN_TAG,
    REQUEST_TAG,
    REQUESTED_BY_TAG,
    RETRY_OF_TAG,
    SOURCE_TAG,
)
from intelli_assets.errors import ChartParamError, IntelliError
from intelli_assets.forecast_worker import StartedForecasts
from intelli_assets.jobs import find_by_idempotency_key, load_job, retry_settings, retryable
from intelli_assets.launch.config import chart_run_config
from intelli_assets.rendering import FigureRenderer
from intelli_assets.sources import LENS_QUERY, source_display_name, validate_source
from intelli_assets.stop_signals import run_cancellable


@dataclass
class RunReport:
    partition: str
    job: str = ""  # the job id (the first run's id; retries share it)
    run_id: str = ""
    status: str = "failed"
    charts: dict[str, dict] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    exit_signal: int | None = None  # set when Ctrl-C or SIGTERM cancelled the run
    stop_signal: int | None = None  # a stop signal received while it ran (it may have ended anyway)
    existing: bool = False  # an idempotency key returned an earlier job instead of a new run

    def to_dict(self) -> dict:
        return {"job": self.job, "partition": self.partition, "run_id": self.run_id, "status": self.status,
                "dagster_job": MAIN_JOB_NAME, "existing": self.existing, "charts": self.charts,
                "errors": self.errors}


PROGRESS_EVENTS = {dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE,
                   dg.DagsterEventType.STEP_SKIPPED, dg.DagsterEventType.ASSET_MATERIALIZATION,
                   dg.DagsterEventType.ASSET_OBSERVATION}


def progress_line(record: dg.EventLogEntry) -> tuple[str, str] | None:
    """(item, outcome) for a finished ingestion step or a materialized chart, else None."""
    event = record.dagster_event
    if event.event_type == dg.DagsterEventType.ASSET_OBSERVATION:  # a Lens fetch's progress line
        observation = event.asset_observation_data.asset_observation
        if observation.asset_key.path != ["raw_source"] or "progress" not in observation.metadata:
            return None
        return f"raw_source@{record.timestamp}", "      " + observation.metadata["progress"].value
    if event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION:
        path = event.asset_key.path
        return ("/".join(path), "done") if path[0] == "charts" else None
    if record.step_key == "charts":  # its charts are reported one by one; failures at the end
        return None
    outcome = {dg.DagsterEventType.STEP_SUCCESS: "done", dg.DagsterEventType.STEP_FAILURE: "FAILED"}.get(
        event.event_type, "skipped")
    return record.step_key or "", outcome


def watch_steps(instance: dg.DagsterInstance, run_id: str, total: int, emit: Callable[[str], None],
                stop: threading.Event) -> None:
    """Print one line per finished step or chart while the run goes on (polls the event log)."""
    seen: set[str] = set()
    noted: set[str] = set()
    while True:
        done = stop.wait(0.25)
        try:
            records = instance.all_logs(run_id, of_type=PROGRESS_EVENTS)
        except Exception:  # noqa: BLE001 - the run may not exist yet
            records = []
        for record in records:
            line = progress_line(record)
            if line is None or line[0] in seen or line[0] in noted:
                continue
            if "@" in line[0]:  # a progress note within a step, not a finished item
                noted.add(line[0])
                emit(line[1].strip())
                continue
            seen.add(line[0])
            emit(f"[{len(seen):>2}/{total}] {line[0]}: {line[1]}")
        if done:
            return


def mark_canceling(instance: dg.DagsterInstance, run_id: str, signum: int) -> bool:
    """A stop signal cancels the run (its charts step stops at the next chart, and Dagster ends
    it CANCELED). False while the run does not exist yet: ask again."""
    run = instance.get_run_by_id(run_id)
    if run is None or run.status in (dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING):
        return False  # its start event would overwrite a CANCELING set now
    if run.status == dg.DagsterRunStatus.STARTED:
        name = {2: "Ctrl-C (SIGINT)", 15: "SIGTERM"}.get(signum, f"signal {signum}")
        instance.report_run_canceling(run, f"intelli received {name}; cancelling the run. Charts already "
                                           "written keep their files and materializations.")
    return True


def register_source(path: Path, instance: dg.DagsterInstance, sha256: str | None = None, name: str | None = None) -> str:
    """The partition of a (validated) source, added when new; `name` (default: the file's)
    makes the key readable."""
    return register_partition(instance, name or path.name, sha256 or file_sha256(path))


def require_lens_token(path: Path) -> None:
    from intelli_assets.lens import TOKEN_ENV

    if not os.environ.get(TOKEN_ENV, "").strip():
        raise IntelliError(f"{path.name} is a Lens.org query: set {TOKEN_ENV} to your Lens API token "
                           "(lens.org > Subscriptions > Patent API) before running it")


def requester(name: str | None = None) -> str:
    return name or os.environ.get("USER") or getpass.getuser()


@contextmanager
def idempotency_lock(key: str | None) -> Iterator[Callable[[], None]]:
    """Held from the idempotency check until the new run exists (call the yielded `release`),
    so two launches with one key never both start a job."""
    if not key:
        yield lambda: None
        return
    lock = open(instance_home() / ".intelli-idempotency.lock", "a")  # noqa: SIM115 - released early
    fcntl.flock(lock, fcntl.LOCK_EX)

    def release() -> None:
        if not lock.closed:
            fcntl.flock(lock, fcntl.LOCK_UN)
            lock.close()

    try:
        yield release
    finally:
        release()


def report_of_job(instance: dg.DagsterInstance, job_id: str) -> RunReport:
    job = load_job(instance, job_id)
    last = job.runs[-1]
    steps = [f"{step}: {msg}" for step, msg in step_failures(instance, last.run_id).items()
             if not step.startswith("charts")]
    return RunReport(partition=job.partition or "", job=job.job_id, run_id=last.run_id,
                     status="cancelled" if job.status == "CANCELLED" else job.status.lower(),
                     charts={k: {"status": c.status, "files": c.files, **({"error": c.error} if c.error else {})}
                             for k, c in job.charts.items()},
                     errors=steps + [f"charts/{k}: {c.error}" for k, c in job.charts.items()
                                     if c.error and c.status != "skipped"])


def main_job(renderer: FigureRenderer | None = None, forecasts: StartedForecasts | None = None) -> dg.JobDefinition:
    """The main job; with `renderer` or `forecasts`, one whose charts are drawn by that renderer
    and fit their models in that worker (each started by the caller)."""
    from intelli_assets.definitions import build_defs, defs

    own = renderer is not None or forecasts is not None
    return (build_defs(renderer, forecasts) if own else defs).resolve_job_def(MAIN_JOB_NAME)


def execute_run(instance: dg.DagsterInstance, key: str, charts: list[str], run_config: dict, tags: dict[str, str],
                run_id: str, progress: Callable[[str], None] | None = None, ingest: bool = True,
                on_poll: Callable[[], None] | None = None, renderer: FigureRenderer | None = None,
                job: dg.JobDefinition | None = None, forecasts: StartedForecasts | None = None) -> RunReport:
    """Execute the main job for one partition in this process (ingestion steps too when
    `ingest`), Ctrl-C/SIGTERM cancelling it, and report per chart. A `renderer` given (e.g.
    started early by the caller, which closes it) draws the charts instead of the run's own, and
    `forecasts` fits their models; `job` is the main job already built for them (`main_job`),
    for callers running many."""
    job = job or main_job(renderer, forecasts)
    selection = ([dg.AssetKey("raw_source"), dg.AssetKey("patent_dataset")] if ingest else []) + \
        [dg.AssetKey(["charts", k]) for k in charts]
    run_config = {**run_config, "loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}  # the CLI reports
    stop = threading.Event()
    watcher = None
    if progress:
        watcher = threading.Thread(target=watch_steps, args=(instance, run_id, len(selection), progress, stop),
                                   daemon=True)
        watcher.start()
    started = time.perf_counter()

    def execute() -> dg.ExecuteInProcessResult:
        with sqlite_files_kept_open():  # each of the run's ~75 events opens and closes its files
            return job.execute_in_process(
                run_config=run_config, instance=instance, partition_key=key, asset_selection=selection,
                raise_on_error=False, run_id=run_id, tags={**tags, **owner_tags()},
            )

    try:
        _, stop_request = run_cancellable(execute, lambda signum: mark_canceling(instance, run_id, signum),
                                          on_poll=on_poll)
    finally:
        stop.set()
        if watcher:
            watcher.join()
    run = instance.get_run_by_id(run_id)
    cancelled = run is not None and run.status == dg.DagsterRunStatus.CANCELED
    report = report_of_job(instance, tags[JOB_TAG])  # the one status rule, as `intelli status` shows it
    report.exit_signal = stop_request.signum if cancelled else None
    report.stop_signal = stop_request.signum
    if progress:
        progress(f"run {run_id} finished in {time.perf_counter() - started:.1f} s: {report.status}")
    return report


def run_workbook(path: Path, charts: list[str], overrides: dict[str, Any], instance: dg.DagsterInstance,
                 progress: Callable[[str], None] | None = None, idempotency_key: str | None = None,
                 requested_by: str | None = None, renderer: FigureRenderer | None = None,
                 title_language: str | None = None, forecasts: StartedForecasts | None = None) -> RunReport:
    """Validate a source (Filters workbook, results list or Lens query file), add its partition,
    execute the main job in this process and report per chart. Raises InvalidSourceError and
    ChartParamError before touching the instance. With an idempotency key already used,
    returns that job instead of a new one. Ctrl-C or SIGTERM cancel the run (status
    `cancelled`, `exit_signal` set). A Lens query is fetched again on every run.
    `title_language` picks the title of record-level sources (default: English)."""
    kind = validate_source(path)  # full validation first: a bad file adds nothing
    if kind == LENS_QUERY:
        require_lens_token(path)
    ops = chart_run_config(charts, overrides)
    sha = file_sha256(path)
    title_language = title_language.strip().lower() if title_language else None
    if title_language and not re.fullmatch(r"[a-z]{2}", title_language):
        raise ChartParamError(f"--title-language {title_language!r}: expected a two-letter language code (en, es, de...)")
    engine = str(overrides["engine"]).lower() if "engine" in overrides else None
    dataset_ops = {"patent_dataset": {"config": {"title_language": title_language}}} if title_language else {}
    asked = {"content": sha, "charts": charts, "config": ops, **({"engine": engine} if engine else {}),
             **({"dataset": dataset_ops} if dataset_ops else {})}
    request = params_hash(asked)  # what was asked, exactly
    with idempotency_lock(idempotency_key) as release:
        if idempotency_key and (existing := find_by_idempotency_key(instance, idempotency_key)):
            release()
            earlier = load_job(instance, existing).runs[0].tags.get(REQUEST_TAG)
            if earlier != request:
                raise ChartParamError(
                    f"idempotency key {idempotency_key!r} was already used by job {existing} for another file or "
                    "other charts/settings; use a new key for a different request")
            if progress:
                progress(f"idempotency key {idempotency_key!r} already started job {existing}; following it")
            while load_job(instance, existing).status in ("PENDING", "RUNNING"):  # its outcome is ours
                time.sleep(0.5)
            report = report_of_job(instance, existing)
            report.existing = True
            return report
        key = register_source(path, instance, sha, name=source_display_name(path, kind))
        run_id = str(uuid.uuid4())
        tags = {JOB_TAG: run_id, ORIGIN_TAG: "cli", REQUESTED_BY_TAG: requester(requested_by), SOURCE_TAG: path.name,
                **({IDEMPOTENCY_TAG: idempotency_key, REQUEST_TAG: request} if idempotency_key else {})}

        created = threading.Event()

        def release_once_created() -> None:  # a query per look at the run: only until it exists
            if not created.is_set() and instance.has_run(run_id):
                created.set()
                release()

        run_config: dict[str, Any] = {"ops": {"raw_source": {"config": {"path": str(path.resolve())}}, **dataset_ops,
                                              **ops}}
        if engine and renderer is None:  # the caller's own renderer already is the engine asked for
            run_config["resources"] = {"renderer": {"config": {"engine": engine}}}
        return execute_run(instance, key, charts, run_config, tags, run_id, progress, on_poll=release_once_created,
                           renderer=renderer, forecasts=forecasts)


def retry_chart(instance: dg.DagsterInstance, job_id: str, chart: str, progress: Callable[[str], None] | None = None,
                requested_by: str | None = None) -> RunReport:
    """Re-draw one chart of a job: a run of only that chart, for the same partition and with
    the same settings, tagged as part of the job."""
    job = load_job(instance, job_id)
    retryable(job, chart)
    settings = retry_settings(job.runs[0].run_config, chart)
    run_id = str(uuid.uuid4())
    tags = {JOB_TAG: job.job_id, ORIGIN_TAG: "cli", REQUESTED_BY_TAG: requester(requested_by), RETRY_OF_TAG: chart,
            **({SOURCE_TAG: job.source} if job.source else {})}
    report = execute_run(instance, job.partition, [chart], {"ops": {"charts": {"config": settings}}}, tags,
                         run_id, progress, ingest=False)
    job_report = report_of_job(instance, job.job_id)  # the job as a whole, after the retry
    job_report.exit_signal = report.exit_signal
    return job_report


def print_report(report: RunReport, stream=sys.stdout) -> None:
    again = " (existing job for this idempotency key; nothing new was run)" if report.existing else ""
    print(f"job {report.job} · partition {report.partition} · run {report.run_id} · {report.status}{again}",
          file=stream)
    for key, chart in report.charts.items():
        print(f"  {key:<26} {chart['status']}", file=stream)
        for fmt, path in chart["files"].items():
            print(f"      {fmt:<10} {path}", file=stream)
        if chart.get("error"):
            print(f"      error: {chart['error']}", file=stream)
