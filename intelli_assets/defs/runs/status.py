"""What happened in a run, per step and per chart, read from its event log (the single source
of truth; nothing is stored twice)."""

from __future__ import annotations

import re

import dagster as dg

GENERIC_STEP_ERROR = re.compile(r"^Error occurred while executing (op|asset)")


def _readable(message: str) -> str:
    return re.sub(r"^[\w.]+(Error|Failure|Exception): ", "", message.strip()).replace("\n", " ")


def step_failures(instance: dg.DagsterInstance, run_id: str) -> dict[str, str]:
    """Step key (or `charts/<key>` for one chart) -> the error as a user should read it."""
    out: dict[str, str] = {}
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_FAILURE):
        failure = record.dagster_event.step_failure_data
        user = failure.user_failure_data
        failed_charts = user.metadata.get("failed_charts") if user else None
        if failed_charts is not None:
            out.update({f"charts/{key}": error for key, error in failed_charts.value.items()})
            continue
        if user and user.description:
            out[record.step_key] = _readable(user.description)
            continue
        error = failure.error
        # Dagster wraps an unexpected exception in a generic "Error occurred while executing op";
        # the cause (e.g. the OS error with its path) is what the user needs
        while error is not None and error.cause is not None and GENERIC_STEP_ERROR.match(error.message):
            error = error.cause
        out[record.step_key] = _readable(error.message) if error else "failed"
    return out


def chart_outcomes(instance: dg.DagsterInstance, run_id: str, charts: list[str]) -> dict[str, dict]:
    """Per chart: success (with its files), failed (with the error), cancelled or skipped."""
    materialized = {
        tuple(r.asset_materialization.asset_key.path): r.asset_materialization.metadata
        for r in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)
    }
    failed = step_failures(instance, run_id)
    run = instance.get_run_by_id(run_id)
    cancelled = run is not None and run.status in (dg.DagsterRunStatus.CANCELED, dg.DagsterRunStatus.CANCELING)
    out = {}
    for key in charts:
        meta = materialized.get(("charts", key))
        if meta is not None:
            files = {fmt: meta[f"{fmt}_path"].value for fmt in ("png", "svg", "html", "chart_data")
                     if f"{fmt}_path" in meta}
            out[key] = {"status": "success", "files": files}
        elif cancelled:
            out[key] = {"status": "cancelled", "error": "the run was cancelled before this chart was done",
                        "files": {}}
        elif f"charts/{key}" in failed or "charts" in failed:
            out[key] = {"status": "failed", "error": failed.get(f"charts/{key}") or failed["charts"], "files": {}}
        else:
            upstream = "; ".join(failed.values()) or "an upstream step or blocking check failed"
            out[key] = {"status": "skipped", "error": f"not run: {upstream}", "files": {}}
    return out
