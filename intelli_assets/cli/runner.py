"""`intelli run`: validate a workbook, add its partition, run the main job, report per chart."""

from __future__ import annotations

import re
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dagster as dg
from pydantic import ValidationError

from intelli_assets.charts import CHARTS, get_chart
from intelli_assets.dataset import file_sha256, partition_key_for
from intelli_assets.defs.charts.assets import ChartConfig, chart_config_class, validated_settings
from intelli_assets.defs.common.partitions import DATASETS_PARTITIONS_NAME
from intelli_assets.defs.jobs import MAIN_JOB_NAME
from intelli_assets.errors import ChartParamError
from intelli_assets.espacenet import read_filters_workbook

LIST_FIELDS = {"formats"}


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
    """Per-chart op config; every key must apply to at least one selected chart. Validates
    everything (style and params) now, so bad input fails before any partition or run."""
    shared = set(ChartConfig.model_fields)
    used: set[str] = set()
    ops = {}
    for key in charts:
        spec = get_chart(key)
        accepted = shared | {p.name for p in spec.params}
        given = {k: v for k, v in overrides.items() if k in accepted}
        used |= set(given)
        try:
            config = chart_config_class(spec)(**given)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise ChartParamError(
                f"chart {key!r}: setting {'.'.join(map(str, first['loc']))}={first.get('input')!r}: {first['msg']}"
            ) from None
        validated_settings(spec, config)
        typed = config.model_dump()
        ops[f"charts__{key}"] = {"config": {k: typed[k] for k in given}}
    unknown = sorted(set(overrides) - used)
    if unknown:
        params = sorted({p.name for k in charts for p in get_chart(k).params})
        raise ChartParamError(
            f"unknown setting(s) {', '.join(unknown)} for the selected charts; "
            f"style settings: {', '.join(sorted(shared))}; chart parameters: {', '.join(params) or 'none'}"
        )
    return ops


@dataclass
class RunReport:
    partition: str
    job: str = MAIN_JOB_NAME
    run_id: str = ""
    status: str = "failed"
    charts: dict[str, dict] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"partition": self.partition, "job": self.job, "run_id": self.run_id, "status": self.status,
                "charts": self.charts, "errors": self.errors}


def watch_steps(instance: dg.DagsterInstance, run_id: str, total: int, emit: Callable[[str], None],
                stop: threading.Event) -> None:
    """Print one line per finished step while the run goes on (polls the event log)."""
    seen: set[str] = set()
    kinds = {dg.DagsterEventType.STEP_SUCCESS, dg.DagsterEventType.STEP_FAILURE, dg.DagsterEventType.STEP_SKIPPED}
    while True:
        done = stop.wait(0.25)
        try:
            records = instance.all_logs(run_id, of_type=kinds)
        except Exception:  # noqa: BLE001 - the run may not exist yet
            records = []
        for record in records:
            step = record.step_key or ""
            if step in seen:
                continue
            seen.add(step)
            outcome = {dg.DagsterEventType.STEP_SUCCESS: "done", dg.DagsterEventType.STEP_FAILURE: "FAILED"}.get(
                record.dagster_event.event_type, "skipped")
            emit(f"[{len(seen):>2}/{total}] {step.replace('__', '/')}: {outcome}")
        if done:
            return


def run_workbook(path: Path, charts: list[str], overrides: dict[str, Any], instance: dg.DagsterInstance,
                 progress: Callable[[str], None] | None = None) -> RunReport:
    """Everything `intelli run` does after argument parsing. Raises InvalidSourceError and
    ChartParamError before touching the instance."""
    read_filters_workbook(path)  # full validation first: a bad file adds nothing
    ops = chart_run_config(charts, overrides)
    key = partition_key_for(path.name, file_sha256(path))
    if not instance.has_dynamic_partition(DATASETS_PARTITIONS_NAME, key):
        instance.add_dynamic_partitions(DATASETS_PARTITIONS_NAME, [key])
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
    try:
        result = job.execute_in_process(
            run_config=run_config, instance=instance, partition_key=key, asset_selection=selection,
            raise_on_error=False, run_id=report.run_id, tags={"intelli/source": path.name},
        )
    finally:
        stop.set()
        if watcher:
            watcher.join()
    report.charts = chart_outcomes(result, charts)
    report.errors = [f"{step.replace('__', '/')}: {msg}" for step, msg in step_failures(result).items()]
    ok = sum(1 for c in report.charts.values() if c["status"] == "success")
    report.status = "success" if ok == len(charts) else "partial_success" if ok else "failed"
    if progress:
        progress(f"run {report.run_id} finished in {time.perf_counter() - started:.1f} s: {report.status}")
    return report


def step_failures(result: dg.ExecuteInProcessResult) -> dict[str, str]:
    """Step key -> the error as a user should read it (no exception class prefix)."""
    out = {}
    for event in result.get_step_failure_events():
        message = event.step_failure_data.error.message.strip()
        out[event.step_key] = re.sub(r"^[\w.]+(Error|Failure|Exception): ", "", message).replace("\n", " ")
    return out


def chart_outcomes(result: dg.ExecuteInProcessResult, charts: list[str]) -> dict[str, dict]:
    materialized = {
        tuple(e.asset_key.path): e.materialization.metadata for e in result.get_asset_materialization_events()
    }
    failed = step_failures(result)
    out = {}
    for key in charts:
        meta = materialized.get(("charts", key))
        if meta is not None:
            files = {fmt: meta[f"{fmt}_path"].value for fmt in ("png", "svg", "html", "chart_data")
                     if f"{fmt}_path" in meta}
            out[key] = {"status": "success", "files": files}
        elif f"charts__{key}" in failed:
            out[key] = {"status": "failed", "error": failed[f"charts__{key}"], "files": {}}
        else:
            upstream = "; ".join(failed.values()) or "an upstream step or blocking check failed"
            upstream = f"not run: {upstream}"
            out[key] = {"status": "skipped", "error": upstream, "files": {}}
    return out


def print_report(report: RunReport, stream=sys.stdout) -> None:
    print(f"partition {report.partition} · run {report.run_id} · {report.status}", file=stream)
    for key, chart in report.charts.items():
        print(f"  {key:<26} {chart['status']}", file=stream)
        for fmt, path in chart["files"].items():
            print(f"      {fmt:<10} {path}", file=stream)
        if chart.get("error"):
            print(f"      error: {chart['error']}", file=stream)
