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
        if "blocking asset check" in (error.message if error else ""):  # say which check and why
            out[record.step_key] += "".join(f"; {name}: {why}" for name, why in failed_checks(instance, run_id))
    return out


def failed_checks(instance: dg.DagsterInstance, run_id: str) -> list[tuple[str, str]]:
    """(check name, its description) for every check that failed in the run."""
    out = []
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION):
        evaluation = record.dagster_event.event_specific_data
        if not evaluation.passed:
            out.append((evaluation.check_name, evaluation.description or "failed"))
    return out
