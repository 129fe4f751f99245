"""The inbox sensor: exports dropped into a folder become datasets and chart jobs."""

import hashlib
import json
import time
import uuid
from pathlib import Path
from typing import Optional

import dagster as dg
from pydantic import Field

from intelli_assets.artifacts import ArtifactLayout
from intelli_assets.defs.common.partitions import datasets_partitions
from intelli_assets.defs.common.resources import ArtifactStore
from intelli_assets.defs.inbox.batch import BATCH_JOB_NAME, batch_runtime_tag, inbox_batch_job
from intelli_assets.defs.jobs import dataset_charts_job
from intelli_assets.defs.runs.tags import BATCH_SIZE_TAG
from intelli_assets.inbox import (
    inbox_batch_runs,
    inbox_folder,
    inbox_quiet_seconds,
    scan,
    seconds_until_quiet,
    snapshot,
)
from intelli_assets.launch import (
    Intake,
    file_owner,
    inbox_run_request,
    lost_intakes,
    note_batch_run,
    select_charts,
    take_from_inbox,
)

# A tick takes files in until either bound (checked between files: one slow file can pass
# it), well inside Dagster's 60 s limit for a sensor evaluation; the rest are taken by the
# next tick. One tick taking a whole drop shares it evenly among the batch runs (a cap of 40
# files made a 50-file drop batch runs of 20, 20, then 5 and 5 after them).
INTAKE_SECONDS = 15.0
MAX_FILES_PER_TICK = 100
# The daemon looks at sensors every 5 s (Dagster's MIN_INTERVAL_LOOP_TIME) and runs one whose
# interval has passed. Asking for 5 s made it wait 10 s half the time (4.99 s had passed at one
# look), so a drop waited ~15 s, not ~7.5 s, for its second look; under 5, it runs at every look.
TICK_SECONDS = 4
INBOX_SENSOR = "inbox"


class InboxFolder(dg.ConfigurableResource):
    """Where analysts drop Espacenet exports. Empty: $INTELLI_INBOX, else $DAGSTER_HOME/inbox."""

    path: str = Field(default="", description="the inbox folder; empty: $INTELLI_INBOX or $DAGSTER_HOME/inbox")
    quiet_seconds: Optional[float] = Field(
        default=None, description="a valid file nothing has written to for this long is taken at the first look; "
        "others, every CSV, and all files of a folder that keeps another time than this machine, once unchanged "
        "since the previous look; 0: every file waits for that; empty: $INTELLI_INBOX_QUIET_SECONDS, else 2")
    batch_runs: Optional[int] = Field(
        default=None, description="several new datasets in one tick are drawn by at most this many runs "
        "(`inbox_batch`, one process and browser each, one dataset_charts run per dataset inside); "
        "0: a run per dataset; empty: $INTELLI_INBOX_BATCH_RUNS, else 2")

    @property
    def folder(self) -> Path:
        return inbox_folder(self.path)


def batch_run_requests(taken: list[tuple[Intake, str]], runs: int, layout: ArtifactLayout) -> list[dg.RunRequest]:
    """Several datasets of one tick: split, in order, among at most `runs` batch runs (one per
    core by default: each is one process and one browser). A lone dataset gets its own run.
    The records of the taken files in `layout` are told which batch run draws each."""
    if runs < 1 or len(taken) < 2:
        return [inbox_run_request(intake, owner) for intake, owner in taken]
    size = -(-len(taken) // runs)
    requests = []
    for group in (taken[i:i + size] for i in range(0, len(taken), size)):
        if len(group) == 1:
            requests.append(inbox_run_request(*group[0]))
            continue
        run_keys = [intake.run_key or intake.key for intake, _ in group]
        batch_run_key = "batch:" + hashlib.sha256("\n".join(run_keys).encode()).hexdigest()[:24]
        note_batch_run(layout, run_keys, batch_run_key)
        datasets = [{"partition": intake.key, "path": str(intake.stored), "job_id": str(uuid.uuid4()),
                     "requested_by": owner, "source": intake.name, "charts": select_charts("all", intake.stored)}
                    for intake, owner in group]
        requests.append(dg.RunRequest(
            run_key=batch_run_key,
            job_name=BATCH_JOB_NAME,
            run_config={"ops": {"draw_datasets": {"config": {"datasets": datasets}}}},
            tags={**batch_runtime_tag(len(group)), BATCH_SIZE_TAG: str(len(group))},
        ))
    return requests


@dg.sensor(name=INBOX_SENSOR, jobs=[dataset_charts_job, inbox_batch_job], minimum_interval_seconds=TICK_SECONDS,
           default_status=dg.DefaultSensorStatus.RUNNING)
def inbox(context: dg.SensorEvaluationContext, inbox_folder: InboxFolder, store: ArtifactStore) -> dg.SensorResult:
    """Picks up *.xlsx/*.csv exports and *.lens.json queries once they are stable (the same size
    and mtime on two ticks; or valid and untouched for `quiet_seconds`, where the folder keeps
    this machine's time, and not a CSV, waiting up to a few seconds within the tick for files
    just dropped: see `intelli_assets/inbox.py`), skips
    hidden, lock and partial files, and moves each file it reads to processed/ or to
    rejected/ (with NAME.reason.txt). New content adds a dataset partition and requests one job
    (source -> dataset -> every chart); the same content under any name adds nothing, except a
    Lens query, which is fetched again. Several jobs of one tick are shared among at most
    `batch_runs` inbox_batch runs, each job still its own dataset_charts run."""
    folder = inbox_folder.folder
    batch_runs = inbox_batch_runs(inbox_folder.batch_runs)  # a bad setting fails before any file moves
    folder.mkdir(parents=True, exist_ok=True)
    previous = {name: tuple(snap) for name, snap in json.loads(context.cursor or "{}").items()}
    quiet_seconds = inbox_quiet_seconds(inbox_folder.quiet_seconds)
    stable, pending, early = scan(folder, previous, quiet_seconds)
    # files new since the last look, just dropped: waited for and taken at this look (one that
    # was there already and changed since is still being written: the next looks take it)
    dropped = {name: snap for name, snap in pending.items() if name not in previous}
    if settle := seconds_until_quiet(folder, dropped, quiet_seconds):
        context.log.info(f"{len(dropped)} new files changed within the last {quiet_seconds:g} s; looking "
                         f"again in {settle:.1f} s")
        time.sleep(settle)
        stable, pending, early = scan(folder, previous, quiet_seconds)
    started = time.monotonic()
    known = set(context.instance.get_dynamic_partitions(datasets_partitions.name))
    new_keys: list[str] = []
    # files an earlier look took whose runs were never created (that look was lost): asked again
    lost = lost_intakes(context.instance, store.layout, INBOX_SENSOR)
    for message in lost.errors:
        context.log.error(message)
    for intake, _ in lost.again:
        context.log.warning(f"{intake.name}: taken by an earlier look whose run was never created; asking again "
                            f"for the run of dataset {intake.key}")
        if intake.key not in known:
            known.add(intake.key)
            new_keys.append(intake.key)
    known |= lost.waiting  # taken by a look whose runs may still come: the same bytes again add nothing
    taken: list[tuple[Intake, str]] = []
    for index, path in enumerate(stable):
        if index >= MAX_FILES_PER_TICK or (index and time.monotonic() - started > INTAKE_SECONDS):
            for left in stable[index:]:  # still stable next tick: taken then
                if (snap := snapshot(left)) is not None:
                    pending[left.name] = snap
            context.log.info(f"{len(stable) - index} stable files left for the next tick")
            break
        owner = file_owner(path)
        try:
            intake = take_from_inbox(path, known, store.layout, reject_invalid=path.name not in early, owner=owner)
        except Exception as exc:  # noqa: BLE001 - one file must never cost the others of the tick
            context.log.error(f"{path.name}: could not be taken in ({type(exc).__name__}: {exc}); "
                              "left in the inbox, tried again when unchanged at the next tick")
            intake = None
        else:
            if intake is None:  # taken early for being quiet, not a valid export yet: a copy may have paused
                context.log.info(f"{path.name}: not readable as an export yet; read again if unchanged at the "
                                 "next tick")
        if intake is None:  # left in the inbox, looked at again when unchanged at the next tick
            if (snap := snapshot(path)) is not None:
                pending[path.name] = snap
            continue
        if intake.reason:
            context.log.warning(f"rejected {intake.name} -> {intake.moved_to}: {intake.reason}")
        elif intake.wants_run:
            if intake.new:
                known.add(intake.key)
                new_keys.append(intake.key)
            taken.append((intake, owner))
            context.log.info(f"{intake.name}: " + (f"new dataset {intake.key}" if intake.new
                                                   else f"Lens query of dataset {intake.key}: fetching it again"))
        else:
            context.log.info(f"{intake.name}: same content as dataset {intake.key}; nothing new")
    return dg.SensorResult(
        run_requests=batch_run_requests(lost.again + taken, batch_runs, store.layout),
        dynamic_partitions_requests=[datasets_partitions.build_add_request(new_keys)] if new_keys else None,
        cursor=json.dumps(pending),
    )
