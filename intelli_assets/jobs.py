"""Jobs: the run that renders charts for one dataset, plus its retries, as operators follow them.

Nothing here is stored: a job's status and each chart's status are computed from Dagster's
runs (tags, statuses) and event logs every time, with one rule (`job_status`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import dagster as dg

from intelli_assets.defs.runs.status import step_failures
from intelli_assets.defs.runs.tags import (
    IDEMPOTENCY_TAG,
    JOB_TAG,
    ORIGIN_TAG,
    REQUESTED_BY_TAG,
    RETRY_OF_TAG,
    SOURCE_TAG,
    cancel_chart_tag,
    cancelled_charts,
)
from intelli_assets.errors import IntelliError

WAITING = {dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING}
ACTIVE = {dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING}
FINISHED_CHART = {"success", "failed", "skipped", "cancelled"}


class JobNotFound(IntelliError):
    """No run carries this job id (nor is it a run id)."""


@dataclass
class ChartState:
    key: str
    status: str  # pending | running | success | failed | skipped | cancelled
    run_id: str
    attempts: int
    files: dict[str, str] = field(default_factory=dict)
    error: str | None = None

    def to_dict(self) -> dict:
        return {"status": self.status, "run_id": self.run_id, "attempts": self.attempts, "files": self.files,
                **({"error": self.error} if self.error else {})}


@dataclass
class Job:
    job_id: str
    partition: str | None
    origin: str
    requested_by: str | None
    idempotency_key: str | None
    source: str | None
    runs: list[dg.DagsterRun]  # oldest first
    charts: dict[str, ChartState]
    status: str

    def to_dict(self) -> dict:
        return {
            "job": self.job_id, "partition": self.partition, "status": self.status, "origin": self.origin,
            "requested_by": self.requested_by, "idempotency_key": self.idempotency_key, "source": self.source,
            "runs": [{"run_id": r.run_id, "status": r.status.value, "retry_of": r.tags.get(RETRY_OF_TAG)}
                     for r in self.runs],
            "charts": {key: state.to_dict() for key, state in self.charts.items()},
        }


def job_runs(instance: dg.DagsterInstance, job_id: str) -> list[dg.DagsterRun]:
    """The runs of a job, oldest first. A run launched without our tags (e.g. from the UI's
    Materialize button) is a job of its own, found by its run id."""
    runs = list(instance.get_runs(dg.RunsFilter(tags={JOB_TAG: job_id}), ascending=True))
    if not runs:
        run = instance.get_run_by_id(job_id)
        if run is not None:
            runs = [run, *instance.get_runs(dg.RunsFilter(tags={JOB_TAG: run.run_id}), ascending=True)]
    if not runs:
        raise JobNotFound(f"no job {job_id!r} in this instance (DAGSTER_HOME); `intelli run` prints the job id")
    return runs


def charts_of(run: dg.DagsterRun) -> list[str]:
    selection = run.asset_selection or set()
    return sorted(key.path[1] for key in selection if len(key.path) == 2 and key.path[0] == "charts")


def run_failure_message(instance: dg.DagsterInstance, run_id: str) -> str:
    records = instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
    return (records[-1].dagster_event.message or "the run failed") if records else "the run failed"


def chart_in_run(instance: dg.DagsterInstance, run: dg.DagsterRun, key: str,
                 materialized: dict[str, dict], failures: dict[str, str]) -> ChartState:
    """What became of one chart in one run that selected it."""
    if key in materialized:
        files = {name: info["path"] for name, info in materialized[key].items() if name != "settings"}
        return ChartState(key, "success", run.run_id, 1, files)
    dropped = key in cancelled_charts(run.tags)
    if run.status in WAITING:
        return ChartState(key, "cancelled" if dropped else "pending", run.run_id, 1)
    if run.status in ACTIVE and not dropped:
        return ChartState(key, "running", run.run_id, 1)
    if dropped:
        who = run.tags.get(cancel_chart_tag(key))
        return ChartState(key, "cancelled", run.run_id, 1, error=f"cancelled by {who}" if who else "cancelled")
    if run.status == dg.DagsterRunStatus.CANCELED:
        return ChartState(key, "cancelled", run.run_id, 1, error="the job was cancelled before this chart was done")
    error = failures.get(f"charts/{key}") or failures.get("charts")
    if error:
        return ChartState(key, "failed", run.run_id, 1, error=error)
    if failures:
        return ChartState(key, "skipped", run.run_id, 1, error=f"not run: {'; '.join(failures.values())}")
    if run.status == dg.DagsterRunStatus.FAILURE:  # no step failed: the run itself died (killed)
        return ChartState(key, "failed", run.run_id, 1, error=run_failure_message(instance, run.run_id))
    return ChartState(key, "skipped", run.run_id, 1, error="not run: an upstream step or blocking check failed")


def materialized_files(instance: dg.DagsterInstance, run_id: str) -> dict[str, dict]:
    """Chart key -> the files its materialization in this run recorded."""
    out = {}
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION):
        materialization = record.asset_materialization
        path = materialization.asset_key.path
        if path[0] == "charts":
            files = materialization.metadata.get("files")
            out[path[1]] = files.value if files else {
                name[:-5]: {"path": value.value} for name, value in materialization.metadata.items()
                if name.endswith("_path")}
    return out


def job_status(states: list[ChartState], runs: list[dg.DagsterRun]) -> str:
    """The one rule: over the latest attempt of each chart, all succeeded -> SUCCESS, some ->
    PARTIAL_SUCCESS, none -> FAILED; a job the user cancelled is CANCELLED, never FAILED."""
    if any(s.status == "running" for s in states) or any(r.status in ACTIVE for r in runs):
        return "RUNNING"
    if any(s.status == "pending" for s in states):
        return "PENDING"
    if runs[-1].status == dg.DagsterRunStatus.CANCELED:  # the job itself was cancelled
        return "CANCELLED"
    succeeded = sum(s.status == "success" for s in states)
    if states and succeeded == len(states):
        return "SUCCESS"
    if succeeded:
        return "PARTIAL_SUCCESS"
    if states and all(s.status == "cancelled" for s in states):
        return "CANCELLED"
    return "FAILED"


def load_job(instance: dg.DagsterInstance, job_id: str) -> Job:
    runs = job_runs(instance, job_id)
    first = runs[0]
    states: dict[str, ChartState] = {}
    for run in runs:  # later runs (retries) override earlier attempts of the same chart
        keys = charts_of(run)
        if not keys:
            continue
        materialized = materialized_files(instance, run.run_id)
        failures = step_failures(instance, run.run_id)
        for key in keys:
            state = chart_in_run(instance, run, key, materialized, failures)
            state.attempts = (states[key].attempts + 1) if key in states else 1
            states[key] = state
    ordered = {key: states[key] for key in charts_of(first) if key in states}
    ordered.update({k: v for k, v in states.items() if k not in ordered})
    return Job(
        job_id=first.tags.get(JOB_TAG, first.run_id),
        partition=first.tags.get("dagster/partition"),
        origin=first.tags.get(ORIGIN_TAG, "ui"),
        requested_by=first.tags.get(REQUESTED_BY_TAG),
        idempotency_key=first.tags.get(IDEMPOTENCY_TAG),
        source=first.tags.get(SOURCE_TAG),
        runs=runs,
        charts=ordered,
        status=job_status(list(ordered.values()), runs),
    )


def find_by_idempotency_key(instance: dg.DagsterInstance, key: str) -> str | None:
    """The job an idempotency key already started, if any."""
    runs = instance.get_runs(dg.RunsFilter(tags={IDEMPOTENCY_TAG: key}), limit=1, ascending=True)
    return runs[0].tags.get(JOB_TAG, runs[0].run_id) if runs else None


# --- events --------------------------------------------------------------------------------------

@dataclass
class JobEvent:
    timestamp: float
    run_id: str
    kind: str
    step: str | None
    message: str
    data: dict

    def to_dict(self) -> dict:
        return {"time": dt.datetime.fromtimestamp(self.timestamp, dt.UTC).isoformat(), "run_id": self.run_id,
                "kind": self.kind, "step": self.step, "message": self.message, **({"data": self.data} if self.data else {})}

    def line(self) -> str:
        when = dt.datetime.fromtimestamp(self.timestamp).strftime("%H:%M:%S")
        return f"{when}  {self.run_id[:8]}  {self.kind:<24} {self.step or '':<10} {self.message}"


def describe(record: dg.EventLogEntry) -> JobEvent:
    event = record.dagster_event
    kind = event.event_type_value if event else "LOG"
    data: dict = {}
    message = record.user_message or (event.message if event else "") or ""
    if event and event.event_type == dg.DagsterEventType.ASSET_OBSERVATION:
        observation = event.asset_observation_data.asset_observation
        data = {k: v.value for k, v in observation.metadata.items()}
        kind = f"CHART_{str(data.get('event', 'progress')).upper()}"
        message = "/".join(observation.asset_key.path) + (f": {data['message']}" if data.get("message") else "")
    elif event and event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION:
        message = "/".join(event.asset_key.path) + " materialized"
    return JobEvent(record.timestamp, record.run_id, kind, record.step_key, message.replace("\n", " ")[:300], data)


# bookkeeping an operator does not need to follow a job
QUIET_EVENTS = {"STEP_OUTPUT", "HANDLED_OUTPUT", "LOADED_INPUT", "ASSET_MATERIALIZATION_PLANNED", "STEP_INPUT",
                "RESOURCE_INIT_STARTED", "RESOURCE_INIT_SUCCESS", "STEP_WORKER_STARTING", "STEP_WORKER_STARTED",
                "LOGS_CAPTURED", "ASSET_CHECK_EVALUATION_PLANNED", "PIPELINE_ENQUEUED", "PIPELINE_STARTING"}


def job_events(instance: dg.DagsterInstance, job_id: str, cursors: dict[str, str | None] | None = None
               ) -> tuple[list[JobEvent], dict[str, str | None]]:
    """The job's events after `cursors` (per run), oldest first, and the new cursors."""
    cursors = dict(cursors or {})
    out: list[JobEvent] = []
    for run in job_runs(instance, job_id):
        connection = instance.get_records_for_run(run.run_id, cursor=cursors.get(run.run_id))
        cursors[run.run_id] = connection.cursor
        out += [describe(r.event_log_entry) for r in connection.records
                if not (r.event_log_entry.dagster_event and r.event_log_entry.dagster_event.event_type_value in QUIET_EVENTS)]
    return sorted(out, key=lambda e: e.timestamp), cursors


# --- cancel --------------------------------------------------------------------------------------

def cancel_job(instance: dg.DagsterInstance, job_id: str, requested_by: str) -> list[str]:
    """Cancel every unfinished run of a job: a queued one ends CANCELED now; a running one is
    asked to stop (its charts step stops before the next chart; charts already done keep their
    artifacts) and ends CANCELED. Returns what was done, one line per run."""
    done = []
    for run in job_runs(instance, job_id):
        if run.status in WAITING:
            instance.report_run_canceled(run, f"Cancelled by {requested_by} before it started.")
            done.append(f"run {run.run_id}: cancelled before it started")
        elif run.status == dg.DagsterRunStatus.STARTED:
            instance.report_run_canceling(run, f"Cancel requested by {requested_by}; stopping before the next chart.")
            done.append(f"run {run.run_id}: stopping before its next chart")
    if not done:
        raise IntelliError(f"job {job_id} has nothing left to cancel (status {load_job(instance, job_id).status})")
    return done


def cancel_chart(instance: dg.DagsterInstance, job_id: str, chart: str, requested_by: str) -> str:
    """Cancel one chart of a job: skipped if it has not started, its result dropped if it has;
    the job's other charts finish."""
    job = load_job(instance, job_id)
    state = job.charts.get(chart)
    if state is None:
        raise IntelliError(f"job {job_id} has no chart {chart!r}; its charts: {', '.join(job.charts)}")
    if state.status in FINISHED_CHART:
        raise IntelliError(f"chart {chart} of job {job_id} is already {state.status}; nothing to cancel")
    run = instance.get_run_by_id(state.run_id)
    others = [k for k in charts_of(run) if k != chart and k not in cancelled_charts(run.tags)]
    if run.status in WAITING and not others:  # its run draws nothing else: cancel the run itself
        instance.report_run_canceled(run, f"Chart {chart} cancelled by {requested_by} before the run started.")
        return f"chart {chart}: its run {run.run_id} was cancelled before it started"
    instance.add_run_tags(run.run_id, {cancel_chart_tag(chart): requested_by})
    instance.report_engine_event(f"Cancel of chart {chart} requested by {requested_by}.", run)
    return f"chart {chart}: cancel requested in run {run.run_id}"
