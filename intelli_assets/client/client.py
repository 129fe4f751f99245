"""`IntelliClient`: everything the old REST API and WebSocket allowed, over the Dagster
webserver's GraphQL API: register a dataset, launch charts (idempotently), a job's status (the
rule `intelli status` uses), retry a chart, cancel a job or a chart, follow a job's events.

Runs go through the webserver's queue; the daemon starts them within the pools' limits. A
job is its first run plus its retries, tied by the `intelli/job` tag, as for the CLI.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from intelli_assets.artifacts import params_hash
from intelli_assets.client import documents as doc
from intelli_assets.client.facts import metadata_dict, run_facts
from intelli_assets.client.stream import follow_run
from intelli_assets.defs.jobs import MAIN_JOB_NAME, RENDER_JOB_NAME
from intelli_assets.defs.runs.cancels import cancel_request_description
from intelli_assets.defs.runs.tags import (
    IDEMPOTENCY_TAG,
    JOB_TAG,
    ORIGIN_TAG,
    REQUEST_TAG,
    REQUESTED_BY_TAG,
    RETRY_OF_TAG,
    SOURCE_TAG,
)
from intelli_assets.defs.sources.registration import REGISTER_JOB_NAME
from intelli_assets.errors import ChartParamError, IntelliError
from intelli_assets.jobs import (
    ENDED,
    FINAL_JOB,
    WAITING,
    Job,
    JobEvent,
    JobNotFound,
    assemble_job,
    chart_cancel_plan,
    retry_settings,
    retryable,
)
from intelli_assets.launch.config import chart_run_config

PARTITION_TAG = "dagster/partition"
DEFAULT_URL = "http://127.0.0.1:3000"


def _is_run_id(text: str) -> bool:
    try:
        return str(uuid.UUID(text)) == text
    except ValueError:
        return False


class ClientError(IntelliError):
    """The webserver could not be reached, or refused or failed a request; says which."""


@dataclass
class Launched:
    job: str
    run_id: str
    partition: str
    dagster_job: str
    existing: bool = False  # an idempotency key returned an earlier job

    def to_dict(self) -> dict:
        return {"job": self.job, "run_id": self.run_id, "partition": self.partition,
                "dagster_job": self.dagster_job, "existing": self.existing}


class IntelliClient:
    """A client of one Dagster webserver (`url`, e.g. http://127.0.0.1:3000). `headers` go with
    every request (e.g. the authenticating proxy's token)."""

    def __init__(self, url: str = DEFAULT_URL, requested_by: str = "graphql", timeout: float = 60.0,
                 headers: dict[str, str] | None = None) -> None:
        parts = urlsplit(url if "://" in url else f"http://{url}")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ClientError(f"--url {url!r}: expected http(s)://HOST:PORT of a Dagster webserver")
        path = parts.path.rstrip("/").removesuffix("/graphql")  # the endpoint pasted instead of the server
        self.url = f"{parts.scheme}://{parts.netloc}{path}"
        self.display_url = f"{parts.scheme}://{parts.hostname}{f':{parts.port}' if parts.port else ''}{path}"
        self.requested_by = requested_by
        self.headers = dict(headers or {})
        self._http = httpx.Client(timeout=timeout, headers=self.headers)
        self._repository: dict[str, str] | None = None

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> IntelliClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # --- transport ---------------------------------------------------------------------------

    def query(self, document: str, variables: dict | None = None) -> dict:
        """The `data` of one GraphQL request; GraphQL and transport errors become ClientError."""
        try:
            reply = self._http.post(f"{self.url}/graphql", json={"query": document, "variables": variables or {}})
        except httpx.HTTPError as exc:
            raise ClientError(f"cannot reach the Dagster webserver at {self.display_url}: {exc.__class__.__name__}: {exc}. "
                              "Is `intelli ui` (or dagster-webserver) running there?") from None
        try:
            body = reply.json()
        except ValueError:
            raise ClientError(f"{self.display_url}/graphql answered HTTP {reply.status_code} with no GraphQL reply "
                              f"({reply.text[:200]!r}); is this a Dagster webserver?") from None
        if body.get("errors"):
            raise ClientError(f"GraphQL error from {self.display_url}: " + "; ".join(e.get("message", "?") for e in body["errors"]))
        return body["data"]

    @staticmethod
    def _ok(result: dict, expected: str, what: str) -> dict:
        if result["__typename"] != expected:
            detail = result.get("message") or "; ".join(e["message"] for e in result.get("errors", [])) or ""
            raise ClientError(f"{what}: {result['__typename']}: {detail}".rstrip(": "))
        return result

    def repository(self) -> dict[str, str]:
        """The repository selector of the code location that has the main job."""
        if self._repository is None:
            workspace = self.query(doc.REPOSITORIES)["workspaceOrError"]
            self._ok(workspace, "Workspace", "reading the workspace")
            for entry in workspace["locationEntries"]:
                location = entry["locationOrLoadError"] or {}
                if location.get("__typename") == "PythonError":
                    raise ClientError(f"code location {entry['name']} failed to load: {location['message']}")
                for repo in location.get("repositories", []):
                    if any(job["name"] == MAIN_JOB_NAME for job in repo["jobs"]):
                        self._repository = {"repositoryLocationName": entry["name"], "repositoryName": repo["name"]}
            if self._repository is None:
                raise ClientError(f"no code location at {self.display_url} has the job {MAIN_JOB_NAME}: is it Intelli Assets?")
        return self._repository

    # --- datasets ----------------------------------------------------------------------------

    def datasets(self) -> list[str]:
        """Every dataset partition the instance knows."""
        data = self.query(doc.PARTITIONS, {"repositorySelector": self.repository(), "job": MAIN_JOB_NAME})
        sets = self._ok(data["partitionSetsOrError"], "PartitionSets", "listing datasets")["results"]
        return [p["name"] for s in sets if s["partitionsOrError"]["__typename"] == "Partitions"
                for p in s["partitionsOrError"]["results"]]

    def register_dataset(self, path: str, timeout: float = 300) -> tuple[str, str]:
        """Validate a file the code location can read and add its dataset partition (a run of
        `register_dataset`); returns (partition key, path as the server resolved it). A bad
        file raises ClientError with the problems the server found."""
        run_id = self._launch(REGISTER_JOB_NAME, None, {"ops": {"register_dataset_op": {"config": {"path": path}}}},
                              {ORIGIN_TAG: "graphql", REQUESTED_BY_TAG: self.requested_by})
        run = self._wait_run(run_id, timeout)
        events = self.run_events(run_id)
        if run["status"] != "SUCCESS":
            facts = run_facts(run, events, {})
            reason = "; ".join(facts.failures.values()) or facts.failure_message or run["status"]
            raise ClientError(f"registering {path} failed (run {run_id}): {reason}")
        for event in events:
            if event["__typename"] == "ObservationEvent" and event["assetKey"]["path"] == ["raw_source"]:
                metadata = metadata_dict(event["metadataEntries"])
                return metadata["partition"], metadata["registered_path"]
        raise ClientError(f"run {run_id} registered {path} but recorded no partition")

    def _chart_observations(self, charts: list[str], partition: str) -> dict[str, list[dict]]:
        """The latest observations of each chart for a partition (cancel requests among them),
        newest first, in one request."""
        fields = "\n".join(
            f'c{i}: assetOrError(assetKey: {{path: ["charts", {json.dumps(chart)}]}}) {{ __typename ... on Asset {{ '
            f'assetObservations(partitions: $partitions, limit: 50) {{ runId description }} }} }}'
            for i, chart in enumerate(charts))
        data = self.query(f"query ChartObservations($partitions: [String!]) {{ {fields} }}", {"partitions": [partition]})
        return {chart: data[f"c{i}"].get("assetObservations", []) for i, chart in enumerate(charts)}

    # --- launching ---------------------------------------------------------------------------

    def _launch(self, job_name: str, partition: str | None, run_config: dict, tags: dict[str, str],
                assets: list[list[str]] | None = None) -> str:
        selector = {**self.repository(), "jobName": job_name,
                    **({"assetSelection": [{"path": p} for p in assets]} if assets else {})}
        tags = {**tags, **({PARTITION_TAG: partition} if partition else {})}
        params = {"selector": selector, "runConfigData": run_config,
                  "executionMetadata": {"tags": [{"key": k, "value": v} for k, v in tags.items()]}}
        result = self.query(doc.LAUNCH, {"executionParams": params})["launchRun"]
        return self._ok(result, "LaunchRunSuccess", f"launching {job_name}")["run"]["runId"]

    def launch(self, partition: str, charts: list[str], overrides: dict[str, Any] | None = None,
               idempotency_key: str | None = None, source_path: str | None = None) -> Launched:
        """Launch charts for a dataset. Settings are checked here first (an unknown chart or
        setting raises ChartParamError before anything is sent). A dataset not built yet is
        ingested in the same run (from `source_path`, or its stored copy). With an idempotency
        key already used for the same request, returns that job (`existing`); for another
        request, raises ChartParamError."""
        overrides = dict(overrides or {})
        ops = chart_run_config(charts, overrides)
        engine = str(overrides["engine"]).lower() if "engine" in overrides else None
        state = self._dataset_state(partition)
        if not any(state[:3]):  # nothing ever happened to it: most likely a typo
            known = self.datasets()
            if partition not in known:
                raise ClientError(f"no dataset {partition!r} at {self.display_url}; register its file first (`intelli launch "
                                  f"PATH`). Known datasets: {', '.join(known[-10:]) or 'none'}")
        built, stored, _, source = state
        request = params_hash({"partition": partition, "charts": charts, "config": ops, "engine": engine,
                               "source": source_path})
        if idempotency_key and (earlier := self._idempotent_job(idempotency_key, request)):
            return earlier
        charts_assets = [["charts", key] for key in charts]
        run_config: dict[str, Any] = {"ops": dict(ops)}
        if engine:
            run_config["resources"] = {"renderer": {"config": {"engine": engine}}}
        if built and not source_path:
            job_name, assets = RENDER_JOB_NAME, charts_assets
        elif source_path or stored:
            job_name, assets = MAIN_JOB_NAME, [["raw_source"], ["patent_dataset"], *charts_assets]
            run_config["ops"]["raw_source"] = {"config": {"path": source_path or ""}}
        else:
            raise ClientError(f"dataset {partition!r} has no stored source yet: launch it with the file's path")
        job_id = str(uuid.uuid4())
        tags = {JOB_TAG: job_id, ORIGIN_TAG: "graphql", REQUESTED_BY_TAG: self.requested_by,
                **({SOURCE_TAG: source} if source else {}),
                **({IDEMPOTENCY_TAG: idempotency_key, REQUEST_TAG: request} if idempotency_key else {})}
        run_id = self._launch(job_name, partition, run_config, tags, assets)
        if idempotency_key:  # two clients raced with one key: the earliest run wins, the others withdraw
            winner = self._runs({"tags": [{"key": IDEMPOTENCY_TAG, "value": idempotency_key}]})[0]
            if winner["runId"] != run_id:
                try:  # most often still queued: cancelled before it starts
                    self._terminate(run_id, "QUEUED")
                except ClientError:
                    pass  # it had started already (a slow link): it is cancelled by the daemon's monitor or ends
                return self._idempotent_job(idempotency_key, request)  # type: ignore[return-value]
        return Launched(job_id, run_id, partition, job_name)

    def _idempotent_job(self, key: str, request: str) -> Launched | None:
        runs = self._runs({"tags": [{"key": IDEMPOTENCY_TAG, "value": key}]})
        if not runs:
            return None
        first = runs[0]
        tags = {t["key"]: t["value"] for t in first["tags"]}
        if tags.get(REQUEST_TAG) != request:
            raise ChartParamError(f"idempotency key {key!r} was already used by job {tags.get(JOB_TAG)} for another "
                                  "dataset or other charts/settings; use a new key for a different request")
        return Launched(tags.get(JOB_TAG, first["runId"]), first["runId"], tags.get(PARTITION_TAG, ""),
                        first["jobName"], existing=True)

    def _dataset_state(self, partition: str) -> tuple[bool, bool, bool, str | None]:
        """(dataset built, source stored, file registered, source file name), in one request."""
        data = self.query(doc.DATASET_STATE, {"partitions": [partition]})
        dataset, source = data["dataset"], data["source"]
        built = dataset["__typename"] == "Asset" and bool(dataset["assetMaterializations"])
        stored = source["__typename"] == "Asset" and bool(source["assetMaterializations"])
        registered = source["__typename"] == "Asset" and bool(source["assetObservations"])
        name = metadata_dict(source["assetMaterializations"][0]["metadataEntries"]).get("original_name") \
            if stored else None
        return built, stored, registered, name

    # --- jobs --------------------------------------------------------------------------------

    def _runs(self, runs_filter: dict) -> list[dict]:
        """Runs matching a filter, oldest first."""
        result = self._ok(self.query(doc.RUNS, {"filter": runs_filter})["runsOrError"], "Runs", "listing runs")
        return sorted(result["results"], key=lambda r: (r["creationTime"], r["runId"]))  # one order for every client

    def job_runs(self, job_id: str) -> list[dict]:
        runs = self._runs({"tags": [{"key": JOB_TAG, "value": job_id}]})
        # a run launched without our tags (the UI) is a job of its own, its retries tagged with its
        # id; a job whose first run has our tags (not a retry) has no such run: one query fewer
        launched_by_us = any(RETRY_OF_TAG not in {t["key"] for t in r["tags"]} for r in runs)
        untagged = [r for r in self._runs({"runIds": [job_id]}) if r not in runs] \
            if _is_run_id(job_id) and not launched_by_us else []
        runs = untagged + runs
        if not runs:
            raise JobNotFound(f"no job {job_id!r} at {self.display_url}; `intelli launch` prints the job id")
        return runs

    def run_events(self, run_id: str) -> list[dict]:
        """Every event of a run, oldest first."""
        events, cursor = [], None
        while True:
            data = self.query(doc.RUN_LOGS, {"runId": run_id, "afterCursor": cursor, "limit": 1000})["logsForRun"]
            self._ok(data, "EventConnection", f"reading the events of run {run_id}")
            events += data["events"]
            cursor = data["cursor"]
            if not data["hasMore"]:
                return events

    def job(self, job_id: str, runs: list[dict] | None = None) -> Job:
        """The job's status and each chart's, by the rule `intelli status` applies (from `runs`,
        the job's runs just read, if given)."""
        facts = []
        for run in self.job_runs(job_id) if runs is None else runs:
            partition = next((t["value"] for t in run["tags"] if t["key"] == PARTITION_TAG), None)
            charts = [a["path"][1] for a in run.get("assetSelection") or [] if a["path"][0] == "charts"]
            observations = self._chart_observations(charts, partition) if partition and charts else {}
            events = [] if run["status"] in WAITING else self.run_events(run["runId"])
            facts.append(run_facts(run, events, observations))
        return assemble_job(facts)

    def wait(self, job_id: str, timeout: float | None = None, poll: float = 0.5) -> Job:
        """The job once it has ended (SUCCESS, PARTIAL_SUCCESS, FAILED or CANCELLED)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:  # the runs' statuses are one cheap query; the job is computed once they ended
            runs = self.job_runs(job_id)
            for run in runs:
                self._check_daemon_if_stuck(run)
            if all(run["status"] in ENDED for run in runs):
                job = self.job(job_id, runs)
                if job.status in FINAL_JOB:
                    return job
            if deadline is not None and time.monotonic() > deadline:
                raise ClientError(f"job {job_id} has not ended after {timeout:g} s")
            time.sleep(poll)

    def _wait_run(self, run_id: str, timeout: float) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            (run,) = self._runs({"runIds": [run_id]})
            if run["status"] in ENDED:
                return run
            if time.monotonic() > deadline:
                raise ClientError(f"run {run_id} is still {run['status']} after {timeout:g} s")
            self._check_daemon_if_stuck(run)
            time.sleep(0.3)

    def _check_daemon_if_stuck(self, run: dict) -> None:
        """A run queued for a while with no daemon to start it: say so rather than wait."""
        if run["status"] != "QUEUED" or time.time() - run["creationTime"] < 15:
            return
        statuses = self.query(doc.DAEMON_HEALTH)["instance"]["daemonHealth"]["allDaemonStatuses"]
        coordinator = next((d for d in statuses if d["daemonType"] == "QUEUED_RUN_COORDINATOR"), None)
        if coordinator is not None and not coordinator["healthy"]:
            raise ClientError(f"run {run['runId']} is queued, but the deployment's daemon is not running (no "
                              f"heartbeat from its run queue): start `dagster-daemon run` (or `intelli ui`)")

    def retry(self, job_id: str, chart: str) -> Launched:
        """Re-draw one chart of a job, with the job's settings, as a run of the same job."""
        job = self.job(job_id)
        retryable(job, chart)
        first = job.runs[0]
        run_config = {"ops": {"charts": {"config": retry_settings(first.run_config, chart)}},
                      **({"resources": first.run_config["resources"]} if first.run_config.get("resources") else {})}
        tags = {JOB_TAG: job.job_id, ORIGIN_TAG: "graphql", REQUESTED_BY_TAG: self.requested_by,
                RETRY_OF_TAG: chart, **({SOURCE_TAG: job.source} if job.source else {})}
        run_id = self._launch(RENDER_JOB_NAME, job.partition, run_config, tags, [["charts", chart]])
        return Launched(job.job_id, run_id, job.partition or "", RENDER_JOB_NAME)

    def _terminate(self, run_id: str, status: str = "STARTED") -> str | None:
        """Cancel a run (a queued or starting one at once, a running one stops); None if it had
        already ended. Dagster refuses a safe terminate of a STARTING run: it is marked
        cancelled instead, and its worker gives up when it sees that."""
        policy = "MARK_AS_CANCELED_IMMEDIATELY" if status in WAITING else "SAFE_TERMINATE"
        result = self.query(doc.TERMINATE, {"runId": run_id, "policy": policy})["terminateRun"]
        if result["__typename"] == "TerminateRunFailure" and (result.get("run") or {}).get("status") in ENDED:
            return None
        return self._ok(result, "TerminateRunSuccess", f"cancelling run {run_id}")["run"]["status"]

    def cancel_job(self, job_id: str) -> list[str]:
        """Cancel every unfinished run of a job: a queued one ends CANCELED at once, a running
        one is stopped (charts already drawn keep their files). One line per run."""
        done = []
        for run in self.job_runs(job_id):
            if run["status"] in WAITING or run["status"] == "STARTED":
                was = run["status"]
                if self._terminate(run["runId"], was) is None:
                    continue  # it ended meanwhile
                done.append(f"run {run['runId']}: " + ("cancelled before it started" if was in WAITING
                                                        else "stopping before its next chart"))
        if not done:
            raise IntelliError(f"job {job_id} has nothing left to cancel (status {self.job(job_id).status})")
        return done

    def cancel_chart(self, job_id: str, chart: str) -> str:
        """Cancel one chart of a job (the others finish): its run is cancelled if it draws
        nothing else and has not started, else a cancel request its run honours."""
        action, run = chart_cancel_plan(self.job(job_id), chart)
        if action == "cancel_run":
            self._terminate(run.run_id, run.status)
            return f"chart {chart}: its run {run.run_id} was cancelled before it started"
        params = {"eventType": "ASSET_OBSERVATION", "assetKey": {"path": ["charts", chart]},
                  "partitionKeys": [run.partition],
                  "description": cancel_request_description(run.run_id, self.requested_by)}
        self._ok(self.query(doc.CANCEL_REQUEST, {"eventParams": params})["reportRunlessAssetEvents"],
                 "ReportRunlessAssetEventsSuccess", f"requesting the cancel of chart {chart}")
        return f"chart {chart}: cancel requested in run {run.run_id}"

    # --- events ------------------------------------------------------------------------------

    def events(self, job_id: str, on_transport: Callable[[str], None] | None = None) -> Iterator[JobEvent]:
        """The job's events as they happen, oldest first, until the job has ended: each run's
        stream over the webserver's GraphQL websocket (`pipelineRunLogs`), or by polling
        `logsForRun` where the websocket is refused. `on_transport` hears which is used."""
        followed: set[str] = set()
        while True:
            runs = [r for r in self.job_runs(job_id) if r["runId"] not in followed]
            for run in runs:
                yield from follow_run(self, run["runId"], on_transport)
                followed.add(run["runId"])
            if not runs and self.job(job_id).status in FINAL_JOB:
                return
            if not runs:
                time.sleep(0.5)
