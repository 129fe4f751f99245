"""Taking files from the inbox: validate, keep the exact bytes, request one job per new dataset."""


from __future__ import annotations

import json
import shlex
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from intelli_assets.artifacts import ArtifactLayout, source_record, write_atomic
from intelli_assets.dataset import file_sha256, key_matches_content, partition_key_for
from intelli_assets.defs.jobs import MAIN_JOB_NAME
from intelli_assets.defs.runs.tags import (
    JOB_TAG,
    ORIGIN_TAG,
    REQUESTED_BY_TAG,
    SENSOR_NAME_TAG,
    SENSOR_RUN_KEY_TAG,
    SOURCE_TAG,
)
from intelli_assets.errors import IntelliError, InvalidSourceError
from intelli_assets.inbox import move_processed, move_rejected, processed_target, unsupported_reason
from intelli_assets.launch.config import select_charts
from intelli_assets.sources import LENS_QUERY, source_display_name, validate_source
from intelli_assets.taken_records import (
    GIVEN_UP,
    LOST_AFTER_SECONDS,
    UNREADABLE,
    record_taken,
    taken_dir,
    taken_records,
)


@dataclass
class Intake:
    """What became of one stable inbox file."""

    name: str
    moved_to: Path
    key: str | None = None  # its dataset partition (None: rejected)
    new: bool = False  # a partition not seen before: it gets a run
    stored: Path | None = None  # the exact bytes, kept in the artifact store at intake
    reason: str | None = None  # why it was rejected
    refetch: bool = False  # a Lens query seen before: dropping it again fetches it again
    run_key: str | None = None  # the sensor's run key: one run per content (per drop for a Lens query)

    @property
    def wants_run(self) -> bool:
        return self.new or self.refetch


def take_from_inbox(path: Path, known_keys: set[str], layout: ArtifactLayout,
                    reject_invalid: bool = True, owner: str = "inbox") -> Intake | None:
    """Validate a dropped file and move it out of the inbox: to rejected/ with its reason, or
    to processed/ with its partition key (new only when its content is new). The exact bytes
    of new content are kept in the artifact store now, so what the run reads can no longer
    change, whatever happens to the inbox afterwards. Without `reject_invalid` (a file taken
    early, which may still be on its way), a file with a name or content it would reject, or
    that cannot be read, is left where it is: None. A file that wants a run is written down
    first (`record_taken`, with `owner`, who asked): see `lost_intakes`."""
    reason = unsupported_reason(path)
    kind = None
    if reason is None:
        try:
            kind = validate_source(path)
        except InvalidSourceError as exc:
            reason = f"{path.name} cannot be used:\n" + "\n".join(f"  - {p}" for p in exc.problems)
        except OSError as exc:
            reason = f"{path.name} cannot be read: {exc.strerror or exc}"
    if reason is not None:
        if not reject_invalid:
            return None
        return Intake(path.name, move_rejected(path, reason), reason=reason)
    sha = file_sha256(path)
    key = partition_key_for(source_display_name(path, kind), sha, known_keys)
    lens = kind == LENS_QUERY
    stored = None
    if key not in known_keys or lens:
        try:
            stored = layout.store_raw(key, path, source_record(path, sha, kind))
        except IntelliError as exc:  # e.g. a full artifact store: say so, keep the file
            reason = f"{path.name}: its bytes could not be kept for the run: {exc}"
            return Intake(path.name, move_rejected(path, reason), reason=reason)
    new = key not in known_keys
    target = processed_target(path)
    # a query dropped again is a new fetch: its run key names the drop, not only the content
    run_key = f"{key}:{target.name}:{path.stat().st_mtime_ns}" if lens and not new else key
    intake = Intake(path.name, target, key=key, new=new, stored=stored, refetch=lens and not new, run_key=run_key)
    if intake.wants_run:  # written down first: the run is created after the look, and could be lost
        record = record_taken(taken_dir(layout.root), {
            "name": intake.name, "source_path": str(path), "moved_to": str(target), "owner": owner, "key": key,
            "run_key": run_key, "stored": str(stored), "new": new})
    try:
        move_processed(path, target)
    except BaseException:
        if intake.wants_run:
            record.unlink(missing_ok=True)  # left in the inbox: the next look takes it
        raise
    return intake


# A lost file's run is asked for again this many times (a request Dagster keeps refusing is
# given up on, with an error in the tick's log, rather than asked for forever)
ASKED_AGAIN_TIMES = 3


@dataclass
class LostIntakes:
    """What `lost_intakes` found."""

    again: list[tuple[Intake, str]] = field(default_factory=list)  # (intake, owner): ask for their runs again
    waiting: set[str] = field(default_factory=set)  # datasets of records too recent to tell: known already
    errors: list[str] = field(default_factory=list)  # records set aside, for the tick's log


def lost_intakes(instance: dg.DagsterInstance, layout: ArtifactLayout, sensor_name: str,
                 now: float | None = None) -> LostIntakes:
    """The files earlier looks of `sensor_name` took for a run (`record_taken`) that no run came
    of within `LOST_AFTER_SECONDS`: that look was lost. Records whose run exists (the file's own,
    or the inbox batch run drawing it) are removed, and so are those of a file never moved (it
    is still in the inbox: a look takes it). A record that cannot be read, names a kept copy
    outside the artifact store or one gone since, or was asked for again `ASKED_AGAIN_TIMES`, is
    set aside (`set_aside` lists them). A record dated ahead of this machine's clock (a clock
    set back since) counts as overdue."""
    now = time.time() if now is None else now
    records = taken_records(taken_dir(layout.root))
    run_keys = sorted({k for _, r in records if r for k in (r["run_key"], r.get("batch_run_key")) if k})
    created = {run.tags.get(SENSOR_RUN_KEY_TAG) for run in instance.get_runs(dg.RunsFilter(
        tags={SENSOR_RUN_KEY_TAG: run_keys, SENSOR_NAME_TAG: sensor_name}))} if run_keys else set()
    found = LostIntakes()
    root = layout.root.resolve()
    for path, record in records:
        try:
            look_at_record(path, record, created, root, now, found)
        except OSError as exc:  # one record must never cost the look: tried again at the next
            found.errors.append(f"{path}: could not be handled ({exc}); tried again at the next look")
    return found


def look_at_record(path: Path, record: dict | None, created: set[str], root: Path, now: float,
                   found: LostIntakes) -> None:
    """`lost_intakes`' rule for one record; what it finds goes into `found`."""
    if record is None or not Path(record["stored"]).resolve().is_relative_to(root):
        found.errors.append(f"{path}: not a record of a taken file this artifact store wrote; set aside as "
                            f"{path.name}{UNREADABLE}")
        path.replace(path.with_name(path.name + UNREADABLE))
    elif record["run_key"] in created or record.get("batch_run_key") in created:
        path.unlink(missing_ok=True)
    elif never_moved(record):
        path.unlink(missing_ok=True)  # the look stopped before moving it: the file is still in the inbox
    elif 0 <= now - record["taken_at"] < LOST_AFTER_SECONDS:
        found.waiting.add(record["key"])
    elif record["attempts"] >= ASKED_AGAIN_TIMES or not Path(record["stored"]).is_file():
        why = (f"no run came of it, asked for again {ASKED_AGAIN_TIMES} times" if Path(record["stored"]).is_file()
               else f"its kept copy {record['stored']} is gone")
        found.errors.append(f"{record['name']} (dataset {record['key']}, kept as {record['moved_to']}): {why}; "
                            f"given up, draw it with `intelli run {shlex.quote(record['moved_to'])}`")
        path.replace(path.with_name(path.name + GIVEN_UP))
    else:
        write_atomic(path, json.dumps({**record, "attempts": record["attempts"] + 1, "taken_at": now,
                                       "batch_run_key": None}, ensure_ascii=False))
        found.again.append((Intake(record["name"], Path(record["moved_to"]), key=record["key"], new=record["new"],
                                   stored=Path(record["stored"]), refetch=not record["new"],
                                   run_key=record["run_key"]), record["owner"]))


def never_moved(record: dict) -> bool:
    """The look that wrote the record stopped before moving the file: it is still in the inbox,
    with the content the record names (not another export dropped under that name since)."""
    source = Path(record["source_path"])
    if Path(record["moved_to"]).exists() or not source.is_file():
        return False
    try:
        return key_matches_content(record["key"], file_sha256(source))
    except OSError:
        return False


def note_batch_run(layout: ArtifactLayout, run_keys: list[str], batch_run_key: str) -> None:
    """The taken files `run_keys` are drawn by the batch run `batch_run_key`: its creation is
    what tells their look was not lost."""
    wanted = set(run_keys)
    for path, record in taken_records(taken_dir(layout.root)):
        if record and record["run_key"] in wanted:
            write_atomic(path, json.dumps({**record, "batch_run_key": batch_run_key}, ensure_ascii=False))


def file_owner(path: Path) -> str:
    try:
        import pwd

        return pwd.getpwuid(path.stat().st_uid).pw_name
    except (ImportError, KeyError, OSError):
        return "inbox"


def inbox_run_request(intake: Intake, requested_by: str) -> dg.RunRequest:
    """One job for a new dataset (or a Lens query dropped again) from the inbox: source ->
    dataset -> every chart the source can feed (`select_charts("all", ...)`), default settings."""
    return dg.RunRequest(
        job_name=MAIN_JOB_NAME,  # the sensor also requests inbox_batch runs
        run_key=intake.run_key or intake.key,  # one run per content, ever (a Lens query: per drop)
        partition_key=intake.key,
        run_config={"ops": {"raw_source": {"config": {"path": str(intake.stored)}}}},
        tags={JOB_TAG: str(uuid.uuid4()), ORIGIN_TAG: "sensor", REQUESTED_BY_TAG: requested_by,
              SOURCE_TAG: intake.name},
        asset_selection=[dg.AssetKey("raw_source"), dg.AssetKey("patent_dataset"),
                         *(dg.AssetKey(["charts", key]) for key in select_charts("all", intake.stored))],
    )
