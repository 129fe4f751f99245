"""Starting work: open the instance, register a source, build the run config, execute or
request the run.

The CLI (`intelli run`, `retry`) and the inbox sensor go through this module; the CLI imports
nothing from `defs/`.
"""

from __future__ import annotations

import dataclasses
import fcntl
import getpass
import os
import shutil
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
from pydantic import ValidationError

from intelli_assets.artifacts import ArtifactLayout, instance_home, params_hash, source_record
from intelli_assets.charts import CHARTS, get_chart
from intelli_assets.dataset import file_sha256, partition_key_for
from intelli_assets.defs.charts.assets import ChartsConfig, ChartStyleConfig, validated_settings
from intelli_assets.defs.common.partitions import DATASETS_PARTITIONS_NAME
from intelli_assets.defs.jobs import MAIN_JOB_NAME
from intelli_assets.defs.runs.ownership import fail_orphaned_runs, owner_tags
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
from intelli_assets.errors import ChartParamError, IntelliError, InvalidSourceError
from intelli_assets.espacenet import read_filters_workbook
from intelli_assets.inbox import move_processed, move_rejected, unsupported_reason
from intelli_assets.jobs import find_by_idempotency_key, load_job
from intelli_assets.rendering import FigureRenderer
from intelli_assets.stop_signals import run_cancellable
from intelli_assets.style import Style

INSTANCE_TEMPLATE = Path(__file__).resolve().parent / "dagster.yaml"
POOL_LIMITS = {"ingestion_io": 4, "charts_cpu": 2, "ai": 2}  # the old backend's Celery queue sizes
LIST_FIELDS = {"formats"}


# --- the instance -------------------------------------------------------------------------------

def prepare_home() -> Path:
    """Make $DAGSTER_HOME exist (default ./.dagster_home) with our dagster.yaml in it."""
    home = instance_home()
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(home)
    config = home / "dagster.yaml"
    if not config.exists():  # written whole, then renamed: a racing process never reads half of it
        tmp = home / f".dagster.yaml.tmp-{os.getpid()}"
        shutil.copyfile(INSTANCE_TEMPLATE, tmp)
        tmp.replace(config)
    return home


@contextmanager
def setup_lock(home: Path) -> Iterator[None]:
    """One process at a time sets up an instance: two first runs on a new home would both
    create the SQLite tables and pool rows, and one of them crash."""
    with open(home / ".intelli-setup.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def ensure_pool_limits(instance: dg.DagsterInstance) -> list[str]:
    """Per-pool limits live in the instance's storage, not dagster.yaml: set missing ones
    (limits an operator changed are kept). Returns the pools it set."""
    storage = instance.event_log_storage
    missing = [pool for pool in POOL_LIMITS if pool not in storage.get_concurrency_keys()]
    for pool in missing:
        storage.set_concurrency_slots(pool, POOL_LIMITS[pool])
    return missing


def open_instance() -> dg.DagsterInstance:
    """The instance in $DAGSTER_HOME, set up (tables, pool limits) under a lock, with the runs
    of dead `intelli` processes marked failed so they hold no pool slot."""
    home = prepare_home()
    with setup_lock(home):
        instance = dg.DagsterInstance.get()
        instance.get_runs(limit=1)  # run storage, event index and schedule tables, created now
        instance.all_instigator_state()
        ensure_pool_limits(instance)
        fail_orphaned_runs(instance)
    return instance


# --- settings -> run config ---------------------------------------------------------------------

def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """`key=value` pairs as text (the config classes convert them: '15' -> 15, 'false' -> False);
    'null' or 'none' unsets an optional setting, and list settings take commas."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise ChartParamError(f"--set expects key=value, got {pair!r}")
        key, raw = key.strip(), raw.strip()
        if key in LIST_FIELDS:
            out[key] = [v.strip() for v in raw.split(",") if v.strip()]
        else:
            out[key] = None if raw.lower() in ("null", "none") else raw
    return out


def select_charts(spec: str) -> list[str]:
    if spec.strip() == "all":
        return list(CHARTS)
    keys = [k.strip() for k in spec.split(",") if k.strip()]
    for key in keys:
        get_chart(key)
    if not keys:
        raise ChartParamError("--charts needs 'all' or a comma-separated list of chart keys")
    return list(dict.fromkeys(keys))


def chart_run_config(charts: list[str], overrides: dict[str, Any]) -> dict:
    """Config of the `charts` step: style settings shared, chart parameters into the section of
    every selected chart that has them; each key must apply somewhere. Validates everything
    (style and params) now, so bad input fails before any partition or run."""
    shared = set(ChartStyleConfig.model_fields)
    config: dict[str, Any] = {k: v for k, v in overrides.items() if k in shared}
    used = set(config)
    for key in charts:
        section = {p.name: overrides[p.name] for p in get_chart(key).params if p.name in overrides}
        used |= set(section)
        if section:
            config[key] = section
    unknown = sorted(set(overrides) - used)
    if unknown:
        params = sorted({p.name for k in charts for p in get_chart(k).params})
        raise ChartParamError(
            f"unknown setting(s) {', '.join(unknown)} for the selected charts; "
            f"style settings: {', '.join(sorted(shared))}; chart parameters: {', '.join(params) or 'none'}"
        )
    try:
        typed = ChartsConfig(**config)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(map(str, first["loc"]))
        raise ChartParamError(f"setting {where}={first.get('input')!r}: {first['msg']}") from None
    dumped = typed.model_dump(mode="json")
    try:  # the shared style first: its errors belong to no chart in particular
        Style(**{f.name: dumped[f.name] for f in dataclasses.fields(Style)})
    except IntelliError as exc:
        raise ChartParamError(str(exc)) from None
    for key in charts:
        try:
            validated_settings(get_chart(key), typed)
        except IntelliError as exc:
            raise ChartParamError(f"chart {key!r}: {exc}") from None
    config = {k: dumped[k] for k in config if k in shared} | {
        key: {p: dumped[key][p] for p in section} for key, section in config.items() if key not in shared}
    return {"charts": {"config": config}}


# --- running ------------------------------------------------------------------------------------

@dataclass
class RunReport:
    partition: str
    job: str = ""  # the job id (the first run's id; retries share it)
    run_id: str = ""
    status: str = "failed"
    charts: dict[str, dict] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    exit_signal: int | None = None  # set when Ctrl-C or SIGTERM cancelled the run
    existing: bool = False  # an idempotency key returned an earlier job instead of a new run

    def to_dict(self) -> dict:
        return {"job": self.job, "partition": self.partition, "run_id": self.run_id, "status": self.status,
                "dagster_job": MAIN_JOB_NAME, "existing": self.existing, "charts": self.charts,
                "errors": self.errors}


PROGRESS_EVENTS = {dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE,
                   dg.DagsterEventType.STEP_SKIPPED, dg.DagsterEventType.ASSET_MATERIALIZATION}


def progress_line(record: dg.EventLogEntry) -> tuple[str, str] | None:
    """(item, outcome) for a finished ingestion step or a materialized chart, else None."""
    event = record.dagster_event
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
    while True:
        done = stop.wait(0.25)
        try:
            records = instance.all_logs(run_id, of_type=PROGRESS_EVENTS)
        except Exception:  # noqa: BLE001 - the run may not exist yet
            records = []
        for record in records:
            line = progress_line(record)
            if line is None or line[0] in seen:
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


def register_source(path: Path, instance: dg.DagsterInstance) -> str:
    """The partition of a (validated) source: its content decides, so the same bytes under any
    name are one dataset. Adds the partition when it is new."""
    existing = instance.get_dynamic_partitions(DATASETS_PARTITIONS_NAME)
    key = partition_key_for(path.name, file_sha256(path), existing)
    if key not in existing:
        instance.add_dynamic_partitions(DATASETS_PARTITIONS_NAME, [key])
    return key


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


def execute_run(instance: dg.DagsterInstance, key: str, charts: list[str], run_config: dict, tags: dict[str, str],
                run_id: str, progress: Callable[[str], None] | None = None, ingest: bool = True,
                on_poll: Callable[[], None] | None = None, renderer: FigureRenderer | None = None) -> RunReport:
    """Execute the main job for one partition in this process (ingestion steps too when
    `ingest`), Ctrl-C/SIGTERM cancelling it, and report per chart. A `renderer` given (e.g.
    started early by the caller, which closes it) draws the charts instead of the run's own."""
    from intelli_assets.definitions import build_defs, defs

    job = (build_defs(renderer) if renderer is not None else defs).resolve_job_def(MAIN_JOB_NAME)
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
    if progress:
        progress(f"run {run_id} finished in {time.perf_counter() - started:.1f} s: {report.status}")
    return report


def run_workbook(path: Path, charts: list[str], overrides: dict[str, Any], instance: dg.DagsterInstance,
                 progress: Callable[[str], None] | None = None, idempotency_key: str | None = None,
                 requested_by: str | None = None, renderer: FigureRenderer | None = None) -> RunReport:
    """Validate a workbook, add its partition, execute the main job in this process and
    report per chart. Raises InvalidSourceError and ChartParamError before touching the
    instance. With an idempotency key already used, returns that job instead of a new one.
    Ctrl-C or SIGTERM cancel the run (status `cancelled`, `exit_signal` set)."""
    read_filters_workbook(path)  # full validation first: a bad file adds nothing
    ops = chart_run_config(charts, overrides)
    sha = file_sha256(path)
    request = params_hash({"content": sha, "charts": charts, "config": ops})  # what was asked, exactly
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
        key = register_source(path, instance)
        run_id = str(uuid.uuid4())
        tags = {JOB_TAG: run_id, ORIGIN_TAG: "cli", REQUESTED_BY_TAG: requester(requested_by), SOURCE_TAG: path.name,
                **({IDEMPOTENCY_TAG: idempotency_key, REQUEST_TAG: request} if idempotency_key else {})}

        def release_once_created() -> None:
            if instance.has_run(run_id):
                release()

        run_config = {"ops": {"raw_source": {"config": {"path": str(path.resolve())}}, **ops}}
        return execute_run(instance, key, charts, run_config, tags, run_id, progress, on_poll=release_once_created,
                           renderer=renderer)


def retry_chart(instance: dg.DagsterInstance, job_id: str, chart: str, progress: Callable[[str], None] | None = None,
                requested_by: str | None = None) -> RunReport:
    """Re-draw one chart of a job: a run of only that chart, for the same partition and with
    the same settings, tagged as part of the job."""
    job = load_job(instance, job_id)
    state = job.charts.get(chart)
    if state is None:
        raise ChartParamError(f"job {job.job_id} has no chart {chart!r}; its charts: {', '.join(job.charts)}")
    if state.status in ("pending", "running"):
        raise IntelliError(f"chart {chart} of job {job.job_id} is still {state.status}; cancel it first or wait")
    if job.partition is None:
        raise IntelliError(f"job {job.job_id} has no dataset partition")
    first = job.runs[0]
    charts_config = dict(first.run_config.get("ops", {}).get("charts", {}).get("config", {}))
    settings = {k: v for k, v in charts_config.items() if k not in CHARTS or k == chart}  # style + this chart
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


# --- the inbox -----------------------------------------------------------------------------------

@dataclass
class Intake:
    """What became of one stable inbox file."""

    name: str
    moved_to: Path
    key: str | None = None  # its dataset partition (None: rejected)
    new: bool = False  # a partition not seen before: it gets a run
    stored: Path | None = None  # the exact bytes, kept in the artifact store at intake
    reason: str | None = None  # why it was rejected


def take_from_inbox(path: Path, known_keys: set[str], layout: ArtifactLayout) -> Intake:
    """Validate a dropped file and move it out of the inbox: to rejected/ with its reason, or
    to processed/ with its partition key (new only when its content is new). The exact bytes
    of new content are kept in the artifact store now, so what the run reads can no longer
    change, whatever happens to the inbox afterwards."""
    reason = unsupported_reason(path)
    if reason is None:
        try:
            read_filters_workbook(path)
        except InvalidSourceError as exc:
            reason = f"{path.name} cannot be used:\n" + "\n".join(f"  - {p}" for p in exc.problems)
        except OSError as exc:
            reason = f"{path.name} cannot be read: {exc.strerror or exc}"
    if reason is not None:
        return Intake(path.name, move_rejected(path, reason), reason=reason)
    sha = file_sha256(path)
    key = partition_key_for(path.name, sha, known_keys)
    stored = None
    if key not in known_keys:
        try:
            stored = layout.store_raw(key, path, source_record(path, sha))
        except IntelliError as exc:  # e.g. a full artifact store: say so, keep the file
            reason = f"{path.name}: its bytes could not be kept for the run: {exc}"
            return Intake(path.name, move_rejected(path, reason), reason=reason)
    return Intake(path.name, move_processed(path), key=key, new=stored is not None, stored=stored)


def file_owner(path: Path) -> str:
    try:
        import pwd

        return pwd.getpwuid(path.stat().st_uid).pw_name
    except (ImportError, KeyError, OSError):
        return "inbox"


def inbox_run_request(intake: Intake, requested_by: str) -> dg.RunRequest:
    """One job for a new dataset from the inbox: source -> dataset -> every chart, default settings."""
    return dg.RunRequest(
        run_key=intake.key,  # one run per content, ever
        partition_key=intake.key,
        run_config={"ops": {"raw_source": {"config": {"path": str(intake.stored)}}}},
        tags={JOB_TAG: str(uuid.uuid4()), ORIGIN_TAG: "sensor", REQUESTED_BY_TAG: requested_by,
              SOURCE_TAG: intake.name},
        asset_selection=[dg.AssetKey("raw_source"), dg.AssetKey("patent_dataset"),
                         *(dg.AssetKey(["charts", key]) for key in CHARTS)],
    )
