"""A look at the inbox whose runs were never created (the daemon killed after the look, a
look cut off by its time limit) must not lose the files it moved: a later look asks again."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import dagster as dg

from intelli_assets import inbox as inbox_module
from intelli_assets.sample_workbook import write_sample_workbook
from intelli_assets_tests.test_inbox import stable_tick, taken_keys, tick


def age_records(folder: Path) -> None:
    """As if the look that wrote them was longer ago than a lost look's runs can take."""
    for path, record in inbox_module.taken_records(folder):
        record["taken_at"] = time.time() - inbox_module.LOST_AFTER_SECONDS - 1
        path.write_text(json.dumps(record))


def create_run(instance: dg.DagsterInstance, run_key: str) -> None:
    """What the daemon does with a sensor's run request: a run tagged with its run key."""
    instance.add_run(dg.DagsterRun(job_name="dataset_charts", run_id=str(uuid.uuid4()),
                                   tags={"dagster/run_key": run_key}))


def test_files_of_a_committed_look_are_forgotten_once_their_runs_exist(tmp_path):
    box = tmp_path / "inbox"
    names = [f"drop-{n}.xlsx" for n in range(3)]
    for n, name in enumerate(names):
        write_sample_workbook(box / name, seed=80 + n)
    with dg.instance_for_test() as instance:
        taken = stable_tick(instance, box)  # batch runs of 2 and 1: one inbox_batch, one dataset_charts
        assert [r.job_name for r in taken.run_requests] == ["inbox_batch", "dataset_charts"]
        keys = taken.dynamic_partitions_requests[0].partition_keys
        assert taken_keys(box) == sorted(keys)
        batch_keys = {r.get("batch_run_key") for _, r in inbox_module.taken_records(box)}
        assert batch_keys == {taken.run_requests[0].run_key, None}  # the two of the batch know its run key
        instance.add_dynamic_partitions("datasets", keys)
        for request in taken.run_requests:
            create_run(instance, request.run_key)
        age_records(box)  # even old: their runs exist
        after = tick(instance, box, taken.cursor)
    assert after.run_requests == [] and not after.dynamic_partitions_requests
    assert taken_keys(box) == [] and not list((box / inbox_module.TAKEN).iterdir())


def test_files_of_a_lost_look_get_their_runs_asked_again_then_are_given_up_on(tmp_path):
    box = tmp_path / "inbox"
    names = [f"drop-{n}.xlsx" for n in range(3)]
    for n, name in enumerate(names):
        write_sample_workbook(box / name, seed=90 + n)
    with dg.instance_for_test() as instance:
        lost = stable_tick(instance, box)  # its result never reaches the daemon
        keys = sorted(lost.dynamic_partitions_requests[0].partition_keys)
        assert sorted(p.name for p in (box / "processed").iterdir()) == names  # moved all the same
        soon = tick(instance, box, lost.cursor)
        assert soon.run_requests == [] and taken_keys(box) == keys  # too early to tell it was lost

        age_records(box)
        again = tick(instance, box, soon.cursor)
        assert sorted(r.partition_key for r in again.run_requests) == keys
        assert {r.job_name for r in again.run_requests} == {"dataset_charts"}  # a run each
        assert sorted(r.run_key for r in again.run_requests) == keys  # the same keys: never two runs
        assert sorted(again.dynamic_partitions_requests[0].partition_keys) == keys
        by_key = {r.partition_key: r for r in again.run_requests}
        source = {r.tags["intelli/source"]: r for r in again.run_requests}
        assert sorted(source) == names and all(r.tags["intelli/origin"] == "sensor" for r in again.run_requests)
        stored = Path(source["drop-0.xlsx"].run_config["ops"]["raw_source"]["config"]["path"])
        assert stored.read_bytes() == (box / "processed" / "drop-0.xlsx").read_bytes()

        instance.add_dynamic_partitions("datasets", keys)
        create_run(instance, keys[0])  # this time the daemon created one run only
        age_records(box)
        third = tick(instance, box, again.cursor)
        assert sorted(r.partition_key for r in third.run_requests) == keys[1:]
        assert not third.dynamic_partitions_requests  # known now
        assert by_key[keys[1]].tags["intelli/requested_by"] == third.run_requests[0].tags["intelli/requested_by"]

        age_records(box)
        assert len(tick(instance, box, third.cursor).run_requests) == 2  # the third request
        age_records(box)
        given_up = tick(instance, box, third.cursor)
    assert given_up.run_requests == [] and taken_keys(box) == []
    kept = sorted(p.name for p in (box / inbox_module.TAKEN).iterdir())
    assert len(kept) == 2 and all(name.endswith(".given-up") for name in kept)  # kept for a person to see
    assert sorted(p.name for p in (box / "processed").iterdir()) == names  # no file lost or taken twice

    doctor = subprocess.run([sys.executable, "-m", "intelli_assets.cli", "doctor", "--json"], capture_output=True,
                            text=True, env={**os.environ, "DAGSTER_HOME": str(tmp_path / "home"),
                                            "INTELLI_INBOX": str(box)}, timeout=300)
    check = next(c for c in json.loads(doctor.stdout)["checks"] if c["name"] == "inbox")
    assert doctor.returncode == 0 and not check["ok"]  # a warning an operator sees, not a failure
    assert f"inbox {box}: no run came of 2 taken files: drop-1.xlsx (draw it: intelli run " \
        f"{box / 'processed' / 'drop-1.xlsx'}); drop-2.xlsx" in check["detail"]


def test_a_file_that_cannot_be_moved_leaves_no_record(tmp_path, monkeypatch):
    box = tmp_path / "inbox"
    write_sample_workbook(box / "drop.xlsx", seed=99)

    def refuse(path: Path, target: Path | None = None) -> Path:
        raise PermissionError(13, "Permission denied", str(path))

    from intelli_assets.launch import intake

    with dg.instance_for_test() as instance:
        first = tick(instance, box, None)
        monkeypatch.setattr(intake, "move_processed", refuse)  # a mock: a real read-only folder is root-proof
        refused = tick(instance, box, first.cursor)
        assert refused.run_requests == [] and taken_keys(box) == []
        assert (box / "drop.xlsx").exists()  # left in the inbox, taken at a later look
        monkeypatch.undo()
        taken = tick(instance, box, refused.cursor)
    assert [r.tags["intelli/source"] for r in taken.run_requests] == ["drop.xlsx"] and len(taken_keys(box)) == 1
