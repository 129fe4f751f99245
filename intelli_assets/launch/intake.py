"""Taking files from the inbox: validate, keep the exact bytes, request one job per new dataset."""


from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

import dagster as dg

from intelli_assets.artifacts import ArtifactLayout, source_record
from intelli_assets.dataset import file_sha256, partition_key_for
from intelli_assets.defs.jobs import MAIN_JOB_NAME
from intelli_assets.defs.runs.tags import (
    JOB_TAG,
    ORIGIN_TAG,
    REQUESTED_BY_TAG,
    SOURCE_TAG,
)
from intelli_assets.errors import IntelliError, InvalidSourceError
from intelli_assets.inbox import move_processed, move_rejected, unsupported_reason
from intelli_assets.launch.config import select_charts
from intelli_assets.sources import LENS_QUERY, source_display_name, validate_source


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
                    reject_invalid: bool = True) -> Intake | None:
    """Validate a dropped file and move it out of the inbox: to rejected/ with its reason, or
    to processed/ with its partition key (new only when its content is new). The exact bytes
    of new content are kept in the artifact store now, so what the run reads can no longer
    change, whatever happens to the inbox afterwards. Without `reject_invalid` (a file taken
    early, which may still be on its way), a file with a name or content it would reject, or
    that cannot be read, is left where it is: None."""
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
    moved = move_processed(path)
    # a query dropped again is a new fetch: its run key names the drop, not only the content
    run_key = f"{key}:{moved.name}:{moved.stat().st_mtime_ns}" if lens and not new else key
    return Intake(path.name, moved, key=key, new=new, stored=stored, refetch=lens and not new, run_key=run_key)


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
