"""What went wrong in a run, per step and per chart, read from its event log (the single source
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
