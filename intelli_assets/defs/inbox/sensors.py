"""The inbox sensor: exports dropped into a folder become datasets and chart jobs."""

import json
from pathlib import Path

import dagster as dg
from pydantic import Field

from intelli_assets.defs.common.partitions import datasets_partitions
from intelli_assets.defs.common.resources import ArtifactStore
from intelli_assets.defs.jobs import dataset_charts_job
from intelli_assets.inbox import inbox_folder, scan
from intelli_assets.launch import file_owner, inbox_run_request, take_from_inbox

MAX_FILES_PER_TICK = 40  # the rest wait for the next tick, well inside the sensor's time limit


class InboxFolder(dg.ConfigurableResource):
    """Where analysts drop Espacenet exports. Empty: $INTELLI_INBOX, else $DAGSTER_HOME/inbox."""

    path: str = Field(default="", description="the inbox folder; empty: $INTELLI_INBOX or $DAGSTER_HOME/inbox")

    @property
    def folder(self) -> Path:
        return inbox_folder(self.path)


@dg.sensor(job=dataset_charts_job, minimum_interval_seconds=5, default_status=dg.DefaultSensorStatus.RUNNING)
def inbox(context: dg.SensorEvaluationContext, inbox_folder: InboxFolder, store: ArtifactStore) -> dg.SensorResult:
    """Picks up *.xlsx/*.csv exports and *.lens.json queries once they are stable (same size and mtime on two ticks),
    skips hidden, lock and partial files, and moves each file it reads to processed/ or to
    rejected/ (with NAME.reason.txt). New content adds a dataset partition and requests one job
    (source -> dataset -> every chart); the same content under any name adds nothing, except a
    Lens query, which is fetched again."""
    folder = inbox_folder.folder
    folder.mkdir(parents=True, exist_ok=True)
    previous = {name: tuple(snap) for name, snap in json.loads(context.cursor or "{}").items()}
    stable, pending = scan(folder, previous)
    for path in stable[MAX_FILES_PER_TICK:]:  # still stable next tick: taken then
        pending[path.name] = previous[path.name]
    known = set(context.instance.get_dynamic_partitions(datasets_partitions.name))
    new_keys: list[str] = []
    requests: list[dg.RunRequest] = []
    for path in stable[:MAX_FILES_PER_TICK]:
        owner = file_owner(path)
        try:
            intake = take_from_inbox(path, known, store.layout)
        except Exception as exc:  # noqa: BLE001 - one file must never cost the others of the tick
            context.log.error(f"{path.name}: could not be taken in ({type(exc).__name__}: {exc}); "
                              "left in the inbox for the next tick")
            continue
        if intake.reason:
            context.log.warning(f"rejected {intake.name} -> {intake.moved_to}: {intake.reason}")
        elif intake.wants_run:
            if intake.new:
                known.add(intake.key)
                new_keys.append(intake.key)
            requests.append(inbox_run_request(intake, owner))
            context.log.info(f"{intake.name}: " + (f"new dataset {intake.key}" if intake.new
                                                   else f"Lens query of dataset {intake.key}: fetching it again"))
        else:
            context.log.info(f"{intake.name}: same content as dataset {intake.key}; nothing new")
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=[datasets_partitions.build_add_request(new_keys)] if new_keys else None,
        cursor=json.dumps(pending),
    )
