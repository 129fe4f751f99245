"""Starting work: open the instance, register a source, build the run config, execute the run.

The CLI goes through this module only (it imports nothing from `defs/`).
"""

from __future__ import annotations

import fcntl
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

from intelli_assets.artifacts import instance_home
from intelli_assets.charts import CHARTS, get_chart
from intelli_assets.dataset import file_sha256, partition_key_for
from intelli_assets.defs.charts.assets import ChartsConfig, ChartStyleConfig, validated_settings
from intelli_assets.defs.common.partitions import DATASETS_PARTITIONS_NAME
from intelli_assets.defs.jobs import MAIN_JOB_NAME
from intelli_assets.defs.runs.ownership import fail_orphaned_runs, owner_tags
from intelli_assets.defs.runs.status import chart_outcomes, step_failures
from intelli_assets.errors import ChartParamError, IntelliError
from intelli_assets.espacenet import read_filters_workbook
from intelli_assets.stop_signals import run_cancellable

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
    for key in charts:
        try:
            validated_settings(get_chart(key), typed)
        except IntelliError as exc:
            raise ChartParamError(f"chart {key!r}: {exc}") from None
    dumped = typed.model_dump(mode="json")
    config = {k: dumped[k] for k in config if k in shared} | {
        key: {p: dumped[key][p] for p in section} for key, section in config.items() if key not in shared}
    return {"charts": {"config": config}}


# --- running ------------------------------------------------------------------------------------

@dataclass
class RunReport:
    partition: str
    job: str = MAIN_JOB_NAME
    run_id: str = ""
    status: str = "failed"
    charts: dict[str, dict] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    exit_signal: int | None = None  # set when Ctrl-C or SIGTERM cancelled the run

    def to_dict(self) -> dict:
        return {"partition": self.partition, "job": self.job, "run_id": self.run_id, "status": self.status,
                "charts": self.charts, "errors": self.errors}


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


def run_workbook(path: Path, charts: list[str], overrides: dict[str, Any], instance: dg.DagsterInstance,
                 progress: Callable[[str], None] | None = None) -> RunReport:
    """Validate a workbook, add its partition, execute the main job in this process and
    report per chart. Raises InvalidSourceError and ChartParamError before touching the
    instance. Ctrl-C or SIGTERM cancel the run (status `cancelled`, `exit_signal` set)."""
    read_filters_workbook(path)  # full validation first: a bad file adds nothing
    ops = chart_run_config(charts, overrides)
    key = register_source(path, instance)
    from intelli_assets.definitions import defs

    job = defs.resolve_job_def(MAIN_JOB_NAME)
    selection = [dg.AssetKey("raw_source"), dg.AssetKey("patent_dataset")] + [dg.AssetKey(["charts", k]) for k in charts]
    run_config = {
        "ops": {"raw_source": {"config": {"path": str(path.resolve())}}, **ops},
        "loggers": {"console": {"config": {"log_level": "CRITICAL"}}},  # the CLI reports errors itself
    }
    report = RunReport(partition=key, run_id=str(uuid.uuid4()))
    stop = threading.Event()
    watcher = None
    if progress:
        watcher = threading.Thread(target=watch_steps, args=(instance, report.run_id, len(selection), progress, stop),
                                   daemon=True)
        watcher.start()
    started = time.perf_counter()

    def execute() -> dg.ExecuteInProcessResult:
        return job.execute_in_process(
            run_config=run_config, instance=instance, partition_key=key, asset_selection=selection,
            raise_on_error=False, run_id=report.run_id, tags={"intelli/source": path.name, **owner_tags()},
        )

    try:
        _, stop_request = run_cancellable(execute, lambda signum: mark_canceling(instance, report.run_id, signum))
    finally:
        stop.set()
        if watcher:
            watcher.join()
    run = instance.get_run_by_id(report.run_id)
    cancelled = run is not None and run.status == dg.DagsterRunStatus.CANCELED
    report.exit_signal = stop_request.signum if cancelled else None
    report.charts = chart_outcomes(instance, report.run_id, charts)
    report.errors = [f"{step}: {msg}" for step, msg in step_failures(instance, report.run_id).items()]
    ok = sum(1 for c in report.charts.values() if c["status"] == "success")
    if cancelled:
        report.status = "cancelled"
    else:
        report.status = "success" if ok == len(charts) else "partial_success" if ok else "failed"
    if progress:
        progress(f"run {report.run_id} finished in {time.perf_counter() - started:.1f} s: {report.status}")
    return report


def print_report(report: RunReport, stream=sys.stdout) -> None:
    print(f"partition {report.partition} · run {report.run_id} · {report.status}", file=stream)
    for key, chart in report.charts.items():
        print(f"  {key:<26} {chart['status']}", file=stream)
        for fmt, path in chart["files"].items():
            print(f"      {fmt:<10} {path}", file=stream)
        if chart.get("error"):
            print(f"      error: {chart['error']}", file=stream)
