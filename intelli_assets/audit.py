"""`intelli audit`: every materialization of a dataset's kept input and charts, checked against
the files on disk.

Each materialization records the sha256 of every file it wrote, and Dagster's event log is
append-only, so a file changed or removed after the fact shows up here, named.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from intelli_assets.charts import CHARTS
from intelli_assets.defs.runs.tags import JOB_TAG, ORIGIN_TAG, REQUESTED_BY_TAG


@dataclass
class AuditedFile:
    name: str
    path: str
    sha256: str | None
    # ok | changed | missing | superseded (rewritten by a later materialization) |
    # unrecorded (a materialization from before hashes were kept)
    state: str

    def to_dict(self) -> dict:
        return {"name": self.name, "path": self.path, "sha256": self.sha256, "state": self.state}


@dataclass
class AuditEntry:
    chart: str
    timestamp: float
    run_id: str
    job: str
    origin: str
    requested_by: str | None
    params: dict
    files: list[AuditedFile] = field(default_factory=list)

    @property
    def intact(self) -> bool:
        return all(f.state in ("ok", "superseded", "unrecorded") for f in self.files)

    def to_dict(self) -> dict:
        return {"chart": self.chart, "time": dt.datetime.fromtimestamp(self.timestamp, dt.UTC).isoformat(),
                "run_id": self.run_id, "job": self.job, "origin": self.origin, "requested_by": self.requested_by,
                "params": self.params, "intact": self.intact, "files": [f.to_dict() for f in self.files]}


def file_state(path: str, recorded: str | None, cache: dict[str, str | None]) -> str:
    if recorded is None:
        return "unrecorded"
    if path not in cache:  # one read per file, however many materializations name it
        file = Path(path)
        cache[path] = hashlib.sha256(file.read_bytes()).hexdigest() if file.is_file() else None
    actual = cache[path]
    return "missing" if actual is None else "ok" if actual == recorded else "changed"


def audit_partition(instance: dg.DagsterInstance, partition: str) -> list[AuditEntry]:
    """Every materialization of every chart for `partition`, oldest first, files verified."""
    if not instance.has_dynamic_partition("datasets", partition):
        from intelli_assets.errors import IntelliError

        raise IntelliError(f"no dataset partition {partition!r} in this instance; "
                           f"known: {', '.join(instance.get_dynamic_partitions('datasets')) or 'none'}")
    entries: list[AuditEntry] = []
    hashes: dict[str, str | None] = {}
    runs: dict[str, dg.DagsterRun | None] = {}
    for key in ["raw_source", *CHARTS]:  # the kept input too: everything else is derived from it
        asset_key = dg.AssetKey("raw_source") if key == "raw_source" else dg.AssetKey(["charts", key])
        records = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=asset_key, asset_partitions=[partition]),
            limit=10_000, ascending=True).records
        for record in records:
            metadata = record.asset_materialization.metadata
            if record.run_id not in runs:
                runs[record.run_id] = instance.get_run_by_id(record.run_id)
            tags = runs[record.run_id].tags if runs[record.run_id] else {}
            if key == "raw_source":
                recorded = {"input": {"path": metadata["stored_path"].value, "sha256": metadata["sha256"].value}}
            elif "files" in metadata:
                recorded = metadata["files"].value
            else:  # a materialization from before hashes were kept
                recorded = {name[:-5]: {"path": value.value} for name, value in metadata.items()
                            if name.endswith("_path")}
            entry = AuditEntry(
                chart=key, timestamp=record.timestamp, run_id=record.run_id,
                job=tags.get(JOB_TAG, record.run_id), origin=tags.get(ORIGIN_TAG, "ui"),
                requested_by=tags.get(REQUESTED_BY_TAG),
                params=metadata["params"].value if "params" in metadata else {},
            )
            for name, info in sorted(recorded.items()):
                entry.files.append(AuditedFile(name, info["path"], info.get("sha256"),
                                               file_state(info["path"], info.get("sha256"), hashes)))
            entries.append(entry)
    entries.sort(key=lambda e: e.timestamp)
    latest = {f.path: f for e in entries for f in e.files}  # the last materialization to write each path
    for entry in entries:
        for file in entry.files:
            if file.state == "changed" and latest[file.path] is not file:
                file.state = "superseded"
    return entries
