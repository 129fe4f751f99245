"""Describing a chart for `intelli describe`: check the request, then materialize
descriptions/<chart> for one partition in this process (the UI's Materialize does the same
through the daemon) and report the stored description.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TextIO

import dagster as dg
from pydantic import ValidationError

from intelli_assets.charts import get_chart
from intelli_assets.defs.common.partitions import DATASETS_PARTITIONS_NAME
from intelli_assets.defs.descriptions.assets import (
    MAX_WORDS_RANGE,
    DescriptionConfig,
    description_key,
    last_render_failure,
    latest_render,
)
from intelli_assets.defs.runs.ownership import owner_tags
from intelli_assets.defs.runs.status import step_failures
from intelli_assets.defs.runs.tags import ORIGIN_TAG, REQUESTED_BY_TAG
from intelli_assets.descriptions import ChartRender, endpoint_from_env
from intelli_assets.errors import ChartParamError
from intelli_assets.launch.runs import mark_canceling, requester
from intelli_assets.stop_signals import run_cancellable

MODEL_EVENTS = ("MODEL_ATTEMPT", "MODEL_FAILED", "FALLBACK", "MODEL_SUCCESS")


@dataclass
class DescribeReport:
    partition: str
    chart: str
    run_id: str = ""
    status: str = "failed"  # success | failed | cancelled
    text: str = ""
    model: str = ""
    provider_host: str = ""
    mode: str = ""
    language: str = ""
    user_context: str = ""
    usage: dict = field(default_factory=dict)
    latency_ms: float | None = None
    render: dict = field(default_factory=dict)
    description_path: str = ""
    history_path: str = ""
    error: str | None = None
    exit_signal: int | None = None

    def to_dict(self) -> dict:
        out = asdict(self)
        out.pop("exit_signal")
        return out


def description_run_config(chart: str, context: str = "", language: str = "es", models: list[str] | None = None,
                           max_words: int | None = None, text_only_fallback: bool = False) -> dict:
    """Run config of descriptions/<chart>, validated now (ChartParamError names the setting)."""
    config: dict = {"user_context": context, "language": language, "text_only_fallback": text_only_fallback}
    if models:
        config["model"], config["fallback_models"] = models[0], list(models[1:])
    if max_words is not None:
        low, high = MAX_WORDS_RANGE
        if not low <= max_words <= high:
            raise ChartParamError(f"--max-words must be between {low} and {high}, got {max_words}")
        config["max_words"] = max_words
    try:
        DescriptionConfig(**config)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ChartParamError(f"setting {'.'.join(map(str, first['loc']))}={first.get('input')!r}: {first['msg']}") from None
    return {"ops": {description_key(chart).to_python_identifier(): {"config": config}}}


def check_describable(instance: dg.DagsterInstance, partition: str, chart: str,
                      text_only_fallback: bool = False) -> ChartRender:
    """The render to describe; ChartParamError/IntelliError (nothing is run) for an unknown
    chart or partition, a chart never rendered, a changed PNG, or no endpoint configured."""
    get_chart(chart)
    if partition not in instance.get_dynamic_partitions(DATASETS_PARTITIONS_NAME):
        raise ChartParamError(f"no dataset partition {partition!r} in this instance (DAGSTER_HOME); `intelli run` "
                              "prints the partition of a file")
    render = latest_render(instance, partition, chart)
    if render is None:
        failed = last_render_failure(instance, partition, chart)
        raise ChartParamError(f"{failed}; fix that and render it again (`intelli run FILE --charts {chart}`)"
                              if failed else f"charts/{chart} has never been rendered for partition {partition}: "
                              f"run `intelli run FILE --charts {chart}` first")
    render.read_png(optional=text_only_fallback)
    endpoint_from_env()
    return render


def event_lines(instance: dg.DagsterInstance, run_id: str, printed: list[int]) -> list[str]:
    """The run's model events not printed yet (MODEL_ATTEMPT ..., as in the run log); the
    event log is append-only, so `printed[0]` counts the observations already seen."""
    records = instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_OBSERVATION)
    lines = []
    for record in records[printed[0]:]:
        observation = record.dagster_event.asset_observation_data.asset_observation
        event = observation.metadata.get("event")
        if event is not None and event.value in MODEL_EVENTS:
            fields = {k: v.value for k, v in observation.metadata.items() if k != "event"}
            lines.append(f"{event.value} {json.dumps(fields, ensure_ascii=False, default=str)}")
    printed[0] = len(records)
    return lines


def describe_chart(instance: dg.DagsterInstance, partition: str, chart: str, *, context: str = "",
                   language: str = "es", models: list[str] | None = None, max_words: int | None = None,
                   text_only_fallback: bool = False, requested_by: str | None = None,
                   progress: Callable[[str], None] | None = None) -> DescribeReport:
    """Materialize descriptions/<chart> for the partition (the latest render of the chart) in
    this process, Ctrl-C/SIGTERM cancelling it. Raises before running for an invalid request;
    a model failure is a report with status `failed` and the error."""
    run_config = description_run_config(chart, context, language, models, max_words, text_only_fallback)
    check_describable(instance, partition, chart, text_only_fallback)
    from intelli_assets.definitions import defs  # the code location's own job, resources and executor

    job = defs.resolve_implicit_global_asset_job_def()
    run_id = str(uuid.uuid4())
    tags = {ORIGIN_TAG: "cli", REQUESTED_BY_TAG: requester(requested_by), **owner_tags()}
    printed = [0]
    polled = [0.0]

    def execute() -> dg.ExecuteInProcessResult:
        return job.execute_in_process(
            run_config={**run_config, "loggers": {"console": {"config": {"log_level": "CRITICAL"}}}},
            instance=instance, partition_key=partition, asset_selection=[description_key(chart)],
            raise_on_error=False, run_id=run_id, tags=tags)

    def on_poll() -> None:  # the model events as they happen, twice a second at most
        if progress and time.monotonic() - polled[0] >= 0.5 and instance.has_run(run_id):
            polled[0] = time.monotonic()
            for line in event_lines(instance, run_id, printed):
                progress(line)

    _, stop = run_cancellable(execute, lambda signum: mark_canceling(instance, run_id, signum), on_poll=on_poll)
    polled[0] = 0.0
    on_poll()
    return report_of_description(instance, run_id, partition, chart, stop.signum)


def report_of_description(instance: dg.DagsterInstance, run_id: str, partition: str, chart: str,
                          signum: int | None = None) -> DescribeReport:
    report = DescribeReport(partition, chart, run_id)
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION):
        if record.asset_materialization.asset_key == description_key(chart):
            values = {k: v.value for k, v in record.asset_materialization.metadata.items()}
            report.status = "success"
            for name in ("text", "model", "provider_host", "mode", "language", "user_context", "usage",
                         "latency_ms", "render", "description_path", "history_path"):
                setattr(report, name, values.get(name, getattr(report, name)))
            return report
    run = instance.get_run_by_id(run_id)
    if run is not None and run.status == dg.DagsterRunStatus.CANCELED:
        report.status, report.error, report.exit_signal = "cancelled", "the run was cancelled", signum
        return report
    failures = step_failures(instance, run_id)
    report.error = failures.get(description_key(chart).to_python_identifier()) or "; ".join(failures.values()) \
        or "the run failed"
    return report


def print_description(report: DescribeReport, stream: TextIO | None = None) -> None:
    stream = stream or sys.stdout  # looked up now: a caller may have redirected it
    if report.status != "success":
        print(f"descriptions/{report.chart} · partition {report.partition} · run {report.run_id} · {report.status}: "
              f"{report.error}", file=stream)
        return
    render = report.render
    tokens = report.usage.get("total_tokens")
    print(report.text, file=stream)
    print(f"\n— model {report.model} at {report.provider_host} · {report.mode}"
          + (f" · {tokens} tokens" if tokens is not None else "")
          + (f" · {report.latency_ms:.0f} ms" if report.latency_ms is not None else ""), file=stream)
    print(f"  describes charts/{report.chart} render {render.get('params_hash')} (run {render.get('chart_run_id')}) "
          f"of {report.partition}", file=stream)
    print(f"  saved to {report.description_path} (kept as {report.history_path})", file=stream)
