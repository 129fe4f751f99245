"""Records of the files the inbox took for a run, so that none is lost. No Dagster imports.

A look at the inbox moves files while it runs; the daemon creates their runs after the look
returns. A look cut off (Dagster's 60 s limit, a code server killed) or a daemon down for
longer than Dagster resumes an interrupted tick (a day) would leave files moved and never
drawn. So a file that wants a run is written down here first, in the artifact store (the
daemon's, where analysts dropping files cannot forge a record), and a later look asks again
for the run of each one that has none after `LOST_AFTER_SECONDS`.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from pathlib import Path

from intelli_assets.artifacts import write_atomic

TAKEN_DIR = ".inbox-taken"  # in the artifact store's root; no partition key starts with a dot
# A look's runs are created within seconds of it; a look cut off by Dagster's 60 s limit may
# still be moving files meanwhile. Past this, a taken file with no run was lost.
LOST_AFTER_SECONDS = 120.0
GIVEN_UP, UNREADABLE = ".given-up", ".unreadable"  # set aside: `intelli doctor` lists them
FIELDS: dict[str, type | tuple[type, ...]] = {
    "name": str, "source_path": str, "moved_to": str, "owner": str, "key": str, "run_key": str, "stored": str,
    "new": bool, "taken_at": (int, float), "attempts": int}
PATHS = ("source_path", "moved_to", "stored")


def taken_dir(artifacts_root: Path) -> Path:
    return Path(artifacts_root) / TAKEN_DIR


def record_taken(records: Path, taken: dict) -> Path:
    """Write down a file about to leave the inbox for a run (`taken["run_key"]` names it), before
    it is moved: what a later look needs to ask for that run again if this look's is lost."""
    record = records / (hashlib.sha256(taken["run_key"].encode()).hexdigest()[:24] + ".json")
    records.mkdir(parents=True, exist_ok=True)
    write_atomic(record, json.dumps({"taken_at": time.time(), "attempts": 0, **taken}, ensure_ascii=False))
    return record


def read_record(path: Path) -> dict | None:
    """A record as `record_taken` wrote it, or None (unreadable, or not of that shape)."""
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or not all(_of_kind(record.get(name), kind) for name, kind in FIELDS.items()):
        return None
    if not (record.get("batch_run_key") is None or isinstance(record["batch_run_key"], str)) \
            or not math.isfinite(record["taken_at"]) or any("\0" in record[name] for name in PATHS):
        return None
    return record


def _of_kind(value: object, kind: type | tuple[type, ...]) -> bool:
    return isinstance(value, kind) and (kind is bool or not isinstance(value, bool))  # True is an int to Python


def taken_records(records: Path) -> list[tuple[Path, dict | None]]:
    """Every record whose run has not been seen yet, in the order the files were taken (None: a
    record that cannot be read, last)."""
    found = [(path, read_record(path)) for path in sorted(records.glob("*.json"))]
    return sorted(found, key=lambda pr: (pr[1] is None, pr[1]["taken_at"] if pr[1] else 0))


def set_aside(records: Path) -> tuple[list[str], list[Path]]:
    """The records set aside: each file no run came of (by name, where it is kept), and each
    record that could not be read."""
    given_up = [read_record(path) for path in records.glob(f"*{GIVEN_UP}")]
    return (sorted(f"{r['name']} (kept as {r['moved_to']})" for r in given_up if r),
            sorted(records.glob(f"*{UNREADABLE}")))
