"""The landscape report for `intelli report`: check the request, then materialize
reports/landscape for one partition in this process (the UI's Materialize does the same
through the daemon) and report the files it wrote.
"""

from __future__ import annotations

import sys
import uuid
from dataclasses import dataclass, field
from typing import TextIO

import dagster as dg
from pydantic import ValidationError

from intelli_assets.defs.common.partitions import DATASETS_PARTITIONS_NAME
from intelli_assets.defs.reports.assets import REPORT_KEY, ReportConfig
from intelli_assets.defs.reports.inputs import report_keys, unfed_reason
from intelli_assets.defs.runs.ownership import owner_tags
from intelli_assets.defs.runs.status import step_failures
from intelli_assets.defs.runs.tags import ORIGIN_TAG, REQUESTED_BY_TAG
from intelli_assets.errors import ChartParamError, IntelliError
from intelli_assets.launch.runs import mark_canceling, requester
from intelli_assets.stop_signals import run_cancellable

FILE_NAMES = ("html", "pdf", "xlsx", "zip")


@dataclass
class ReportResult:
    partition: str
    run_id: str = ""
    status: str = "failed"  # success | failed | cancelled
    folder: str = ""
    files: dict[str, str] = field(default_factory=dict)  # html, pdf, xlsx, zip -> path
    pages: int | None = None
    charts_included: list[str] = field(default_factory=list)
    charts_missing: dict[str, str] = field(default_factory=dict)  # chart -> why
    charts_stale: dict[str, str] = field(default_factory=dict)  # chart -> its newer failed attempt
    error: str | None = None
    exit_signal: int | None = None

    def to_dict(self) -> dict:
        out = {k: v for k, v in self.__dict__.items() if k != "exit_signal"}
        return out


def report_run_config(language: str = "es", title: str = "", charts: list[str] | None = None,
                      include_descriptions: bool = True) -> dict:
    """Run config of reports/landscape, validated now (ChartParamError names the setting)."""
    config = {"language": language, "title": title, "charts": list(charts or []),
              "include_descriptions": include_descriptions}
    report_keys(config["charts"])  # an unknown chart key is named here
    try:
        ReportConfig(**config)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ChartParamError(f"setting {'.'.join(map(str, first['loc']))}={first.get('input')!r}: {first['msg']}") \
            from None
    return {"ops": {REPORT_KEY.to_python_identifier(): {"config": config}}}


def check_reportable(instance: dg.DagsterInstance, partition: str, charts: list[str]) -> None:
    """IntelliError (nothing is run) for an unknown partition, or when none of the charts asked
    for has ever been rendered for it."""
    if partition not in instance.get_dynamic_partitions(DATASETS_PARTITIONS_NAME):
        raise ChartParamError(f"no dataset partition {partition!r} in this instance (DAGSTER_HOME); `intelli run` "
                              "prints the partition of a file")
    keys = report_keys(charts)
    for key in keys:
        if instance.fetch_materializations(dg.AssetRecordsFilter(
                asset_key=dg.AssetKey(["charts", key]), asset_partitions=[partition]), limit=1).records:
            return
    unfed = unfed_reasons(partition, keys)
    if len(unfed) == len(keys):  # drawing them first would not help
        raise ChartParamError("; ".join(unfed))
    raise IntelliError(f"nothing is rendered for partition {partition} yet: run `intelli run FILE` (or "
                       f"`--charts {','.join(keys[:3])}{',...' if len(keys) > 3 else ''}`) first")


def unfed_reasons(partition: str, keys: list[str]) -> list[str]:
    """Why each of these charts cannot be drawn from the partition's dataset at all (only those)."""
    from intelli_assets.artifacts import ArtifactLayout, artifacts_root
    from intelli_assets.dataset import load_dataset

    try:
        dataset = load_dataset(ArtifactLayout(artifacts_root()).dataset_dir(partition))
    except IntelliError:  # not built yet: nothing to tell
        return []
    return [reason for key in keys if (reason := unfed_reason(key, dataset))]


def build_report(instance: dg.DagsterInstance, partition: str, *, language: str = "es", title: str = "",
                 charts: list[str] | None = None, include_descriptions: bool = True, requested_by: str | None = None,
                 renderer: object | None = None) -> ReportResult:
    """Materialize reports/landscape for the partition in this process, Ctrl-C/SIGTERM
    cancelling it. Raises before running for an invalid request. A `renderer` given (started
    early by the caller, which closes it) prints the PDF instead of the run's own."""
    run_config = report_run_config(language, title, charts, include_descriptions)
    check_reportable(instance, partition, charts or [])
    from intelli_assets.definitions import build_defs, defs

    job = (build_defs(renderer) if renderer is not None else defs).resolve_implicit_global_asset_job_def()
    run_id = str(uuid.uuid4())
    tags = {ORIGIN_TAG: "cli", REQUESTED_BY_TAG: requester(requested_by), **owner_tags()}

    def execute() -> dg.ExecuteInProcessResult:
        return job.execute_in_process(
            run_config={**run_config, "loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
            instance=instance, partition_key=partition, asset_selection=[REPORT_KEY], raise_on_error=False,
            run_id=run_id, tags=tags)

    _, stop = run_cancellable(execute, lambda signum: mark_canceling(instance, run_id, signum))
    return report_of_run(instance, run_id, partition, stop.signum)


def report_of_run(instance: dg.DagsterInstance, run_id: str, partition: str, signum: int | None = None) -> ReportResult:
    result = ReportResult(partition, run_id)
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION):
        if record.asset_materialization.asset_key != REPORT_KEY:
            continue
        values = {k: getattr(v, "value", v) for k, v in record.asset_materialization.metadata.items()}
        result.status, result.folder, result.pages = "success", str(values.get("folder", "")), values.get("page_count")
        result.files = {name: str(values[f"{name}_path"]) for name in FILE_NAMES if f"{name}_path" in values}
        result.charts_included = list(values.get("charts_included") or [])
        result.charts_missing = dict(values.get("charts_missing") or {})
        result.charts_stale = dict(values.get("charts_stale") or {})
        return result
    run = instance.get_run_by_id(run_id)
    if run is not None and run.status == dg.DagsterRunStatus.CANCELED:
        result.status, result.error, result.exit_signal = "cancelled", "the run was cancelled", signum
        return result
    failures = step_failures(instance, run_id)
    result.error = failures.get(REPORT_KEY.to_python_identifier()) or "; ".join(failures.values()) or "the run failed"
    return result


def print_report_result(result: ReportResult, stream: TextIO | None = None) -> None:
    stream = stream or sys.stdout  # looked up now: a caller may have redirected it
    if result.status != "success":
        print(f"reports/landscape · partition {result.partition} · run {result.run_id} · {result.status}: "
              f"{result.error}", file=stream)
        return
    print(f"landscape report of {result.partition} ({len(result.charts_included)} charts, {result.pages} pages)",
          file=stream)
    for name in FILE_NAMES:
        if name in result.files:
            print(f"  {name:<5} {result.files[name]}", file=stream)
    for key, why in result.charts_stale.items():
        print(f"  note: charts/{key} shows its earlier render; {why}", file=stream)
    for key, why in result.charts_missing.items():
        print(f"  missing: charts/{key}: {why}", file=stream)
