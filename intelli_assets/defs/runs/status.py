"""What went wrong in a run, per step and per chart, read from its event log (the single source
of truth; nothing is stored twice)."""

from __future__ import annotations

import re

import dagster as dg

GENERIC_STEP_ERROR = re.compile(r"^Error occurred while executing (op|asset)")


def _readable(message: str) -> str:
    return re.sub(r"^[\w.]+(Error|Failure|Exception): ", "", message.strip()).replace("\n", " ")


def readable_failure(step_key: str, description: str | None, failed_charts: dict | None, error_chain: list[str],
                     checks: list[tuple[str, str]]) -> dict[str, str]:
    """One step failure as a user should read it: {step or charts/<key>: error}. `error_chain`
    is the error's message then its causes'; `checks` the run's failed checks. The same for
    failures read from an instance or over GraphQL."""
    if failed_charts is not None:
        return {f"charts/{key}": error for key, error in failed_charts.items()}
    if description:
        return {step_key: _readable(description)}
    # Dagster wraps an unexpected exception in a generic "Error occurred while executing op";
    # the cause (e.g. the OS error with its path) is what the user needs
    chain = list(error_chain)
    while len(chain) > 1 and GENERIC_STEP_ERROR.match(chain[0]):
        chain.pop(0)
    text = _readable(chain[0]) if chain else "failed"
    if chain and "blocking asset check" in chain[0]:  # say which check and why
        text += "".join(f"; {name}: {why}" for name, why in checks)
    return {step_key: text}


def step_failures(instance: dg.DagsterInstance, run_id: str) -> dict[str, str]:
    """Step key (or `charts/<key>` for one chart) -> the error as a user should read it."""
    out: dict[str, str] = {}
    checks: list[tuple[str, str]] | None = None
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.STEP_FAILURE):
        failure = record.dagster_event.step_failure_data
        user = failure.user_failure_data
        failed_charts = user.metadata.get("failed_charts") if user else None
        chain, error = [], failure.error
        while error is not None:
            chain.append(error.message)
            error = error.cause
        if checks is None and any("blocking asset check" in message for message in chain):
            checks = failed_checks(instance, run_id)
        out.update(readable_failure(record.step_key, user.description if user else None,
                                    failed_charts.value if failed_charts is not None else None, chain, checks or []))
    return out


def failed_checks(instance: dg.DagsterInstance, run_id: str) -> list[tuple[str, str]]:
    """(check name, its description) for every check that failed in the run."""
    out = []
    for record in instance.all_logs(run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION):
        evaluation = record.dagster_event.event_specific_data
        if not evaluation.passed:
            out.append((evaluation.check_name, evaluation.description or "failed"))
    return out
