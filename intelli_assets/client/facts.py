"""GraphQL answers -> the job rule's inputs (`RunFacts`) and operators' events (`JobEvent`),
so a remote job reads exactly as `intelli status` reads it from the instance."""

from __future__ import annotations

import json
from typing import Any

import dagster as dg
import yaml

from intelli_assets.defs.runs.cancels import parse_cancel_request
from intelli_assets.defs.runs.status import readable_failure
from intelli_assets.jobs import QUIET_EVENTS, JobEvent, RunFacts, chart_keys, job_event


def metadata_value(entry: dict) -> Any:
    """A GraphQL metadata entry's value, as the Python API would give it."""
    if "jsonString" in entry:
        return json.loads(entry["jsonString"])
    for field in ("text", "path", "floatValue", "boolValue", "url", "mdStr"):
        if field in entry:
            return entry[field]
    if "intRepr" in entry:
        return int(entry["intRepr"])
    return None


def metadata_dict(entries: list[dict] | None) -> dict[str, Any]:
    return {e["label"]: metadata_value(e) for e in entries or []}


def event_type_value(name: str | None) -> str | None:
    """GraphQL gives DagsterEventType names (RUN_SUCCESS); the rule's sets use their values
    (PIPELINE_SUCCESS), as instance records do."""
    if not name:
        return None
    try:
        return dg.DagsterEventType[name].value
    except KeyError:
        return name


def event_of(message: dict) -> JobEvent | None:
    """One GraphQL run event as an operator's event; None for bookkeeping ones."""
    kind = event_type_value(message.get("eventType"))
    if kind in QUIET_EVENTS:
        return None
    path = (message.get("assetKey") or {}).get("path")
    return job_event(int(message["timestamp"]) / 1000, message["runId"], kind, message.get("stepKey"),
                     message.get("message") or "", path, metadata_dict(message.get("metadataEntries")))


def run_facts(run: dict, events: list[dict], cancel_observations: dict[str, list[dict]]) -> RunFacts:
    """RunFacts of one run from its GraphQL record, its events and the observations of its
    charts (newest first)."""
    tags = {t["key"]: t["value"] for t in run["tags"]}
    charts = chart_keys([a["path"] for a in run.get("assetSelection") or []])
    facts = RunFacts(run["runId"], run["status"], tags, charts, yaml.safe_load(run.get("runConfigYaml") or "") or {})
    for chart, observations in cancel_observations.items():
        for observation in observations:
            request = parse_cancel_request(observation.get("description"))
            if request and request[0] == facts.run_id:
                facts.cancelled[chart] = request[1]
                break
    checks = [(e["evaluation"]["checkName"], e["evaluation"].get("description") or "failed")
              for e in events if e["__typename"] == "AssetCheckEvaluationEvent" and not e["evaluation"]["success"]]
    for event in events:
        kind = event["__typename"]
        if kind == "MaterializationEvent" and event["assetKey"]["path"][0] == "charts":
            metadata = metadata_dict(event["metadataEntries"])
            files = metadata.get("files") or {name[:-5]: {"path": value} for name, value in metadata.items()
                                              if name.endswith("_path")}
            facts.materialized[event["assetKey"]["path"][1]] = files
        elif kind == "ExecutionStepFailureEvent":
            failure = event.get("failureMetadata") or {}
            failed_charts = metadata_dict(failure.get("metadataEntries")).get("failed_charts")
            error = event.get("error") or {}
            chain = [error["message"], *(c["message"] for c in error.get("causes") or [])] if error else []
            facts.failures.update(readable_failure(event["stepKey"], failure.get("description"), failed_charts,
                                                   chain, checks))
        elif kind == "ObservationEvent" and event["assetKey"]["path"][0] == "charts":
            metadata = metadata_dict(event["metadataEntries"])
            if metadata.get("event") == "skipped":
                facts.not_applicable[event["assetKey"]["path"][1]] = str(metadata.get("message"))
        elif kind == "RunFailureEvent":
            facts.failure_message = event.get("message") or "the run failed"
    return facts
