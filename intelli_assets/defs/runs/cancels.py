"""Requests to cancel one chart of a run, and cancels of a whole run that its start hid.

A request is a runless observation of the chart's asset for the run's partition, described as
`cancel requested for run <run id> by <who>`: it stays in the audit trail, and a remote client
makes the same request through GraphQL (`reportRunlessAssetEvents`), which cannot tag runs.
The run's charts step honours it before the chart (skipped) or after it (result dropped).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import dagster as dg

RUN_CANCEL_EVENTS = {dg.DagsterEventType.RUN_CANCELING, dg.DagsterEventType.RUN_CANCELED}
CANCEL_REQUEST = re.compile(r"^cancel requested for run (?P<run_id>[0-9a-f-]{36}) by (?P<who>.*)$", re.S)
LEGACY_TAG_PREFIX = "intelli/cancel_chart/"  # how requests were made before they were observations


def cancel_request_description(run_id: str, requested_by: str) -> str:
    return f"cancel requested for run {run_id} by {requested_by}"


def parse_cancel_request(description: str | None) -> tuple[str, str] | None:
    """(run id, who) of a cancel request's description, else None."""
    match = CANCEL_REQUEST.match(description or "")
    return (match["run_id"], match["who"]) if match else None


def cancel_requests(instance: dg.DagsterInstance, run: dg.DagsterRun, charts: Iterable[str]) -> dict[str, str]:
    """Chart -> who asked, for the charts of `run` whose cancel was requested."""
    out = {key[len(LEGACY_TAG_PREFIX):]: who for key, who in run.tags.items() if key.startswith(LEGACY_TAG_PREFIX)}
    partition = run.tags.get("dagster/partition")
    if partition is None:
        return out
    for chart in charts:
        if chart in out:
            continue
        records = instance.fetch_observations(
            # newest first: the request is newer than every event of earlier runs
            dg.AssetRecordsFilter(asset_key=dg.AssetKey(["charts", chart]), asset_partitions=[partition]),
            limit=50).records
        for record in records:
            request = parse_cancel_request(record.event_log_entry.dagster_event.asset_observation_data
                                           .asset_observation.description)
            if request and request[0] == run.run_id:
                out[chart] = request[1]
                break
    return out


def run_cancel_recorded(instance: dg.DagsterInstance, run_id: str) -> bool:
    """Whether a cancel of the run was ever recorded. Its status alone can hide one: the queue's
    daemon checks a run is QUEUED, then reports it STARTING, and the worker reports it STARTED,
    each overwriting a CANCELED status a cancel wrote in between."""
    return bool(instance.get_records_for_run(run_id, of_type=RUN_CANCEL_EVENTS, limit=1).records)


def run_cancel_requested(instance: dg.DagsterInstance, run: dg.DagsterRun | None) -> bool:
    """Whether a run (its fresh record) is to stop as cancelled: CANCELING or CANCELED, or
    STARTED over a cancel recorded while it was starting, too early for its worker to be
    signalled. That one is restored as CANCELING: a step that stops then ends the run CANCELED,
    where a STARTED run would end FAILURE."""
    if run is None:
        return False
    if run.status in (dg.DagsterRunStatus.CANCELING, dg.DagsterRunStatus.CANCELED):
        return True
    if run.status == dg.DagsterRunStatus.STARTED and run_cancel_recorded(instance, run.run_id):
        instance.report_run_canceling(run, "Cancelled while the run was starting; stopping.")
        return True
    return False
