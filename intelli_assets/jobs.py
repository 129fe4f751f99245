"""Jobs: the run that renders charts for one dataset, plus its retries, as operators follow them.

Nothing here is stored: a job's status and each chart's status are computed from Dagster's
runs (tags, statuses) and event logs every time, with one rule (`assemble_job`). The rule
works on `RunFacts`, which this module reads from an instance and `intelli_assets.client`
reads over GraphQL, so `intelli status` and a remote client always agree.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import dagster as dg

from intelli_assets.charts import CHARTS
from intelli_assets.defs.runs.cancels import (
    cancel_request_description,
    cancel_requests,
)
from intelli_assets.defs.runs.status import step_failures
from intelli_assets.defs.runs.tags import (
    IDEMPOTENCY_TAG,
    JOB_TAG,
    ORIGIN_TAG,
    REQUESTED_BY_TAG,
    RETRY_OF_TAG,
    SOURCE_TAG,
)
from intelli_assets.errors import ChartParamError, IntelliError

WAITING = {"QUEUED", "NOT_STARTED", "STARTING"}
ACTIVE = {"STARTED", "CANCELING"}
ENDED = {"SUCCESS", "FAILURE", "CANCELED"}
FINISHED_CHART = {"success", "failed", "skipped", "cancelled", "not_applicable"}
FINAL_JOB = {"SUCCESS", "PARTIAL_SUCCESS", "FAILED", "CANCELLED"}


class JobNotFound(IntelliError):
    """No run carries this job id (nor is it a run id)."""


@dataclass
class RunFacts:
    """What the job rule needs to know of one run, however it was read (instance or GraphQL)."""

    run_id: str
    status: str  # a DagsterRunStatus value: QUEUED, STARTED, SUCCESS...
    tags: dict[str, str]
    charts: list[str]  # chart keys the run selected
    run_config: dict = field(default_factory=dict)
    materialized: dict[str, dict] = field(default_factory=dict)  # chart -> its files
    failures: dict[str, str] = field(default_factory=dict)  # step (or charts/<key>) -> readable error
    failure_message: str | None = None  # the RUN_FAILURE message, if the run died
    cancelled: dict[str, str] = field(default_factory=dict)  # chart -> who asked to cancel it
    not_applicable: dict[str, str] = field(default_factory=dict)  # chart -> why its dataset cannot feed it

    @property
    def partition(self) -> str | None:
        return self.tags.get("dagster/partition")


@dataclass
class ChartState:
    key: str
    status: str  # pending | running | success | failed | skipped | cancelled | not_applicable
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
    runs: list[RunFacts]  # oldest first
    charts: dict[str, ChartState]
    status: str

    def to_dict(self) -> dict:
        return {
            "job": self.job_id, "partition": self.partition, "status": self.status, "origin": self.origin,
            "requested_by": self.requested_by, "idempotency_key": self.idempotency_key, "source": self.source,
            "runs": [{"run_id": r.run_id, "status": r.status, "retry_of": r.tags.get(RETRY_OF_TAG)}
                     for r in self.runs],
            "charts": {key: state.to_dict() for key, state in self.charts.items()},
        }


# --- the rule ------------------------------------------------------------------------------------

def chart_keys(asset_paths: list[list[str]]) -> list[str]:
    """The chart keys among a run's selected asset keys (given as paths)."""
    return sorted(path[1] for path in asset_paths if len(path) == 2 and path[0] == "charts")


def chart_in_run(run: RunFacts, key: str) -> ChartState:
    """What became of one chart in one run that selected it."""
    if key in run.materialized:
        files = {name: info["path"] for name, info in run.materialized[key].items() if name != "settings"}
        return ChartState(key, "success", run.run_id, 1, files)
    if key in run.not_applicable:  # e.g. a record-level chart in "Materialize all" on a Filters workbook
        return ChartState(key, "not_applicable", run.run_id, 1, error=run.not_applicable[key])
    dropped = key in run.cancelled
    if run.status in WAITING:
        return ChartState(key, "cancelled" if dropped else "pending", run.run_id, 1)
    if run.status in ACTIVE and not dropped:
        return ChartState(key, "running", run.run_id, 1)
    if dropped:
        who = run.cancelled[key]
        return ChartState(key, "cancelled", run.run_id, 1, error=f"cancelled by {who}" if who else "cancelled")
    if run.status == "CANCELED":
        return ChartState(key, "cancelled", run.run_id, 1, error="the job was cancelled before this chart was done")
    error = run.failures.get(f"charts/{key}") or run.failures.get("charts")
    if run.status == "FAILURE" and run.failure_message and not run.failure_message.startswith("Execution of"):
        # the run was stopped from outside (e.g. "Exceeded maximum runtime of 120 seconds"): that
        # is the reason, not the interrupt its steps saw
        return ChartState(key, "failed", run.run_id, 1, error=run.failure_message)
    if error:
        return ChartState(key, "failed", run.run_id, 1, error=error)
    if run.failures:
        return ChartState(key, "skipped", run.run_id, 1, error=f"not run: {'; '.join(run.failures.values())}")
    if run.status == "FAILURE":  # no step failed: the run itself died (killed, over its time limit)
        return ChartState(key, "failed", run.run_id, 1, error=run.failure_message or "the run failed")
    return ChartState(key, "skipped", run.run_id, 1, error="not run: an upstream step or blocking check failed")


def job_status(states: list[ChartState], runs: list[RunFacts]) -> str:
    """The one rule: over the latest attempt of each chart, all succeeded -> SUCCESS, some ->
    PARTIAL_SUCCESS, none -> FAILED; a job the user cancelled is CANCELLED, never FAILED.
    Charts the dataset cannot feed (`not_applicable`) do not count."""
    states = [s for s in states if s.status != "not_applicable"]
    if not any(r.charts for r in runs):  # a run that draws no chart (register_dataset, the UI's other jobs)
        return {"SUCCESS": "SUCCESS", "FAILURE": "FAILED", "CANCELED": "CANCELLED"}.get(
            runs[-1].status, "RUNNING" if runs[-1].status in ACTIVE else "PENDING")
    if any(s.status == "running" for s in states) or any(r.status in ACTIVE for r in runs):
        return "RUNNING"
    if any(s.status == "pending" for s in states) or (not states and any(r.status in WAITING for r in runs)):
        return "PENDING"
    if runs[-1].status == "CANCELED":  # the job itself was cancelled
        return "CANCELLED"
    succeeded = sum(s.status == "success" for s in states)
    if states and succeeded == len(states):
        return "SUCCESS"
    if succeeded:
        return "PARTIAL_SUCCESS"
    if states and all(s.status == "cancelled" for s in states):
        return "CANCELLED"
    return "FAILED"


def assemble_job(runs: list[RunFacts]) -> Job:
    """A job from its runs, oldest first: later runs (retries) override earlier attempts of
    the same chart."""
    first = runs[0]
    states: dict[str, ChartState] = {}
    for run in runs:
        for key in run.charts:
            state = chart_in_run(run, key)
            state.attempts = (states[key].attempts + 1) if key in states else 1
            states[key] = state
    ordered = {key: states[key] for key in first.charts if key in states}
    ordered.update({k: v for k, v in states.items() if k not in ordered})
    return Job(
        job_id=first.tags.get(JOB_TAG, first.run_id), partition=first.partition,
        origin=first.tags.get(ORIGIN_TAG, "ui"), requested_by=first.tags.get(REQUESTED_BY_TAG),
        idempotency_key=first.tags.get(IDEMPOTENCY_TAG), source=first.tags.get(SOURCE_TAG),
        runs=runs, charts=ordered, status=job_status(list(ordered.values()), runs),
    )


def retry_settings(first_run_config: dict, chart: str) -> dict:
    """The charts config a retry of `chart` runs with: the job's style and that chart's own
    section, as the job's first run had them."""
    charts_config = dict(first_run_config.get("ops", {}).get("charts", {}).get("config", {}))
    return {k: v for k, v in charts_config.items() if k not in CHARTS or k == chart}


def retryable(job: Job, chart: str) -> ChartState:
    """The chart's state, if a retry of it may start now."""
    state = job.charts.get(chart)
    if state is None:
        raise ChartParamError(f"job {job.job_id} has no chart {chart!r}; its charts: {', '.join(job.charts)}")
    if state.status in ("pending", "running"):
        raise IntelliError(f"chart {chart} of job {job.job_id} is still {state.status}; cancel it first or wait")
    if state.status == "not_applicable":
        raise ChartParamError(f"chart {chart} does not apply to job {job.job_id}'s dataset: {state.error}")
    if job.partition is None:
        raise IntelliError(f"job {job.job_id} has no dataset partition")
    return state


def chart_cancel_plan(job: Job, chart: str) -> tuple[str, RunFacts]:
    """How to cancel one chart of a job: ("cancel_run", run) when its run has not started and
    draws nothing else, else ("request", run): a cancel request its run honours before the
    chart (skipped) or after it (result dropped)."""
    state = job.charts.get(chart)
    if state is None:
        raise IntelliError(f"job {job.job_id} has no chart {chart!r}; its charts: {', '.join(job.charts)}")
    if state.status in FINISHED_CHART:
        raise IntelliError(f"chart {chart} of job {job.job_id} is already {state.status}; nothing to cancel")
    run = next(r for r in job.runs if r.run_id == state.run_id)
    others = [k for k in run.charts if k != chart and k not in run.cancelled]
    return ("cancel_run" if run.status in WAITING and not others else "request"), run


# --- reading runs from an instance ---------------------------------------------------------------

def job_runs(instance: dg.DagsterInstance, job_id: str) -> list[dg.DagsterRun]:
    """The runs of a job, oldest first. A run launched without our tags (e.g. from the UI's
    Materialize button) is a job of its own, found by its run id."""
    runs = list(instance.get_runs(dg.RunsFilter(tags={JOB_TAG: job_id}), ascending=True))
    # a run launched without our tags (the UI) is a job of its own, its retries tagged with its id
    first = instance.get_run_by_id(job_id)
    if first is not None and JOB_TAG not in first.tags:
        runs = [first, *runs]
    if not runs:
        raise JobNotFound(f"no job {job_id!r} in this instance (DAGSTER_HOME); `intelli run` prints the job id")
    return runs


def charts_of(run: dg.DagsterRun) -> list[str]:
    return chart_keys([list(key.path) for key in run.asset_selection or set()])


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


def run_facts(instance: dg.DagsterInstance, run: dg.DagsterRun) -> RunFacts:
    charts = charts_of(run)
    status = run.status.value
    facts = RunFacts(run.run_id, status, dict(run.tags), charts, dict(run.run_config or {}))
    if not charts:
        return facts
    if status in WAITING:
        facts.cancelled = cancel_requests(instance, run, charts)
        return facts
    facts.materialized = materialized_files(instance, run.run_id)
    open_charts = [k for k in charts if k not in facts.materialized]
    if not open_charts:  # every chart drawn (the usual end of `intelli run`): nothing else decides
        return facts
    facts.cancelled = cancel_requests(instance, run, open_charts)
    facts.failures = step_failures(instance, run.run_id)
    for record in instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ASSET_OBSERVATION):
        observation = record.asset_observation
        metadata = observation.metadata
        if observation.asset_key.path[0] == "charts" and metadata.get("event") and \
                metadata["event"].value == "skipped":
            facts.not_applicable[observation.asset_key.path[1]] = str(metadata["message"].value)
    if status == "FAILURE":
        records = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)
        facts.failure_message = (records[-1].dagster_event.message or "the run failed") if records else None
    return facts


def load_job(instance: dg.DagsterInstance, job_id: str) -> Job:
    return assemble_job([run_facts(instance, run) for run in job_runs(instance, job_id)])


def find_by_idempotency_key(instance: dg.DagsterInstance, key: str) -> str | None:
    """The job an idempotency key already started, if any (the earliest, should two have raced)."""
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


# bookkeeping an operator does not need to follow a job
QUIET_EVENTS = {"STEP_OUTPUT", "HANDLED_OUTPUT", "LOADED_INPUT", "ASSET_MATERIALIZATION_PLANNED", "STEP_INPUT",
                "RESOURCE_INIT_STARTED", "RESOURCE_INIT_SUCCESS", "STEP_WORKER_STARTING", "STEP_WORKER_STARTED",
                "LOGS_CAPTURED", "ASSET_CHECK_EVALUATION_PLANNED", "PIPELINE_ENQUEUED", "PIPELINE_STARTING"}
RUN_END_EVENTS = {"PIPELINE_SUCCESS", "PIPELINE_FAILURE", "PIPELINE_CANCELED"}


def job_event(timestamp: float, run_id: str, event_type: str | None, step: str | None, message: str,
              asset_path: list[str] | None = None, metadata: dict | None = None) -> JobEvent:
    """One event as operators read it, from its fields (an instance record or a GraphQL event)."""
    kind, data = event_type or "LOG", {}
    if event_type == "ASSET_OBSERVATION" and asset_path:
        data = dict(metadata or {})
        kind = f"CHART_{str(data.get('event', 'progress')).upper()}" if asset_path[0] == "charts" else \
            f"{asset_path[0].upper()}_{str(data.get('event', 'observed')).upper()}"
        message = "/".join(asset_path) + (f": {data['message']}" if data.get("message") else "")
    elif event_type == "ASSET_MATERIALIZATION" and asset_path:
        message = "/".join(asset_path) + " materialized"
    return JobEvent(timestamp, run_id, kind, step, (message or "").replace("\n", " ")[:300], data)


def describe(record: dg.EventLogEntry) -> JobEvent:
    event = record.dagster_event
    message = record.user_message or (event.message if event else "") or ""
    path, metadata = None, None
    if event and event.event_type == dg.DagsterEventType.ASSET_OBSERVATION:
        observation = event.asset_observation_data.asset_observation
        path, metadata = list(observation.asset_key.path), {k: v.value for k, v in observation.metadata.items()}
    elif event and event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION:
        path = list(event.asset_key.path)
    return job_event(record.timestamp, record.run_id, event.event_type_value if event else None, record.step_key,
                     message, path, metadata)


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
        if run.status.value in WAITING:
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
    the job's other charts finish. The request is an observation of the chart's asset, so it
    stays in the audit trail and a remote client can make it through GraphQL too."""
    action, facts = chart_cancel_plan(load_job(instance, job_id), chart)
    run = instance.get_run_by_id(facts.run_id)
    if action == "cancel_run":  # its run draws nothing else: cancel the run itself
        instance.report_run_canceled(run, f"Chart {chart} cancelled by {requested_by} before the run started.")
        return f"chart {chart}: its run {run.run_id} was cancelled before it started"
    instance.report_runless_asset_event(dg.AssetObservation(
        asset_key=dg.AssetKey(["charts", chart]), partition=facts.partition,
        description=cancel_request_description(run.run_id, requested_by)))
    instance.report_engine_event(f"Cancel of chart {chart} requested by {requested_by}.", run)
    return f"chart {chart}: cancel requested in run {run.run_id}"


__all__ = ["ChartState", "FINAL_JOB", "Job", "JobEvent", "JobNotFound", "RunFacts", "assemble_job", "cancel_chart",
           "cancel_job", "chart_cancel_plan", "chart_keys", "find_by_idempotency_key", "job_event",
           "job_events", "load_job", "retry_settings", "retryable"]
