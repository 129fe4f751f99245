"""A look at the inbox whose runs were never created (a look cut off, a daemon down for more
than a day) must not lose the files it moved: a later look asks again for their runs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import dagster as dg
import pytest

from intelli_assets.dataset import file_sha256
from intelli_assets.sample_workbook import write_sample_workbook
from intelli_assets.taken_records import LOST_AFTER_SECONDS, record_taken, taken_dir, taken_records
from intelli_assets_tests.test_inbox import stable_tick, taken_keys, tick


def records_of(box: Path) -> Path:
    """Where `tick` keeps the records of the files it takes from `box` (its artifact store)."""
    return taken_dir(box.parent / "artifacts")


def age_records(box: Path) -> None:
    """As if the look that wrote them was longer ago than a lost look's runs can take."""
    for path, record in taken_records(records_of(box)):
        if record:  # an odd record a test wrote stays as it is
            path.write_text(json.dumps({**record, "taken_at": time.time() - LOST_AFTER_SECONDS - 1}))


def create_run(instance: dg.DagsterInstance, run_key: str, sensor: str = "inbox") -> None:
    """What the daemon does with a sensor's run request: a run tagged with its run key."""
    instance.add_run(dg.DagsterRun(job_name="dataset_charts", run_id=str(uuid.uuid4()),
                                   tags={"dagster/run_key": run_key, "dagster/sensor_name": sensor}))


def requested(result: dg.SensorResult) -> dict[str, tuple[str, str, Path]]:
    """Each dataset the look asks to draw: partition -> (job, source file name, kept copy)."""
    out = {}
    for request in result.run_requests:
        if request.job_name == "inbox_batch":
            for d in request.run_config["ops"]["draw_datasets"]["config"]["datasets"]:
                out[d["partition"]] = ("inbox_batch", d["source"], Path(d["path"]))
        else:
            out[request.partition_key] = (request.job_name, request.tags["intelli/source"],
                                          Path(request.run_config["ops"]["raw_source"]["config"]["path"]))
    return out


def drop(box: Path, count: int, seed: int) -> list[str]:
    names = [f"drop-{n}.xlsx" for n in range(count)]
    for n, name in enumerate(names):
        write_sample_workbook(box / name, seed=seed + n)
    return names


def test_files_of_a_committed_look_are_forgotten_once_their_runs_exist(tmp_path):
    box = tmp_path / "inbox"
    drop(box, 3, seed=80)
    with dg.instance_for_test() as instance:
        taken = stable_tick(instance, box)  # batch runs of 2 and 1: one inbox_batch, one dataset_charts
        assert [r.job_name for r in taken.run_requests] == ["inbox_batch", "dataset_charts"]
        keys = taken.dynamic_partitions_requests[0].partition_keys
        assert taken_keys(box) == sorted(keys) and not (box / ".inbox-taken").exists()  # not in the drop folder
        batch_keys = {r.get("batch_run_key") for _, r in taken_records(records_of(box))}
        assert batch_keys == {taken.run_requests[0].run_key, None}  # the two of the batch know its run key
        instance.add_dynamic_partitions("datasets", keys)
        create_run(instance, taken.run_requests[0].run_key)  # the batch run
        create_run(instance, taken.run_requests[1].run_key, sensor="another_sensor")  # not the inbox's run
        age_records(box)  # even old: a run exists for the batch's two
        before = tick(instance, box, taken.cursor)
        assert [r.run_key for r in before.run_requests] == [taken.run_requests[1].run_key]  # asked again
        assert taken_keys(box) == [taken.run_requests[1].partition_key]
        create_run(instance, taken.run_requests[1].run_key)
        after = tick(instance, box, before.cursor)
    assert after.run_requests == [] and not after.dynamic_partitions_requests
    assert taken_keys(box) == [] and not list(records_of(box).iterdir())


def test_files_of_a_lost_look_get_their_runs_asked_again_then_are_given_up_on(tmp_path):
    box = tmp_path / "inbox"
    names = drop(box, 3, seed=90)
    with dg.instance_for_test() as instance:
        lost = stable_tick(instance, box)  # its result never reaches the daemon
        keys = sorted(lost.dynamic_partitions_requests[0].partition_keys)
        assert sorted(p.name for p in (box / "processed").iterdir()) == names  # moved all the same
        shutil.copyfile(box / "processed" / "drop-0.xlsx", box / "again.xlsx")  # the same bytes, another name
        soon = tick(instance, box, tick(instance, box, lost.cursor).cursor)
        assert soon.run_requests == [] and taken_keys(box) == keys  # too early to tell it was lost
        assert (box / "processed" / "again.xlsx").exists()  # taken, as the same dataset as drop-0: nothing new

        age_records(box)
        again = tick(instance, box, soon.cursor)
        drawn = requested(again)
        assert sorted(drawn) == keys and sorted(source for _, source, _ in drawn.values()) == names
        assert [r.job_name for r in again.run_requests] == ["inbox_batch", "dataset_charts"]  # batched as new drops are
        assert again.run_requests[1].run_key in keys  # a lone one keeps its run key: the daemon never runs it twice
        assert sorted(again.dynamic_partitions_requests[0].partition_keys) == keys
        assert all(kept.read_bytes() == (box / "processed" / source).read_bytes() for _, source, kept in drawn.values())

        instance.add_dynamic_partitions("datasets", keys)
        create_run(instance, again.run_requests[1].run_key)  # this time the daemon created the lone run only
        age_records(box)
        third = tick(instance, box, again.cursor)
        assert sorted(requested(third)) == sorted(k for k in keys if k != again.run_requests[1].run_key)
        assert not third.dynamic_partitions_requests  # known now

        age_records(box)
        assert len(requested(tick(instance, box, third.cursor))) == 2  # asked for again a third time
        age_records(box)
        given_up = tick(instance, box, third.cursor)
    assert given_up.run_requests == [] and taken_keys(box) == []
    kept = sorted(p.name for p in records_of(box).iterdir())
    assert len(kept) == 2 and all(name.endswith(".json.given-up") for name in kept)  # kept for a person to see
    assert sorted(p.name for p in (box / "processed").iterdir()) == sorted([*names, "again.xlsx"])

    doctor = subprocess.run([sys.executable, "-m", "intelli_assets.cli", "doctor", "--json"], capture_output=True,
                            text=True, env={**os.environ, "DAGSTER_HOME": str(tmp_path / "home"),
                                            "INTELLI_INBOX": str(box), "INTELLI_ARTIFACTS_DIR": str(box.parent / "artifacts")},
                            timeout=300)
    check = next(c for c in json.loads(doctor.stdout)["checks"] if c["name"] == "inbox")
    assert doctor.returncode == 0 and not check["ok"]  # a warning an operator sees, not a failure
    assert check["detail"].startswith(f"RuntimeError: inbox {box}: a valid file untouched for 2 s is taken")
    lost = sorted(source for key, (_, source, _) in drawn.items() if key != again.run_requests[1].run_key)
    assert "; 2 files taken that no run came of" in check["detail"]
    assert f"{lost[0]} (kept as {box / 'processed' / lost[0]}); {lost[1]}" in check["detail"]


def test_odd_records_are_set_aside_and_never_cost_a_look(tmp_path):
    box = tmp_path / "inbox"
    drop(box, 2, seed=100)
    with dg.instance_for_test() as instance:
        lost = stable_tick(instance, box)
        (record_a, a), (record_b, b) = taken_records(records_of(box))
        outside = tmp_path / "elsewhere.xlsx"
        shutil.copyfile(a["stored"], outside)
        record_a.write_text(json.dumps({**a, "stored": str(outside)}))  # not a copy this store kept
        Path(b["stored"]).unlink()  # its kept copy deleted since
        for n, text in enumerate(["", "[]", "null", "5", '{"run_key": "x"}', json.dumps({**b, "taken_at": "yesterday"}),
                                  json.dumps({**b, "attempts": True}), json.dumps({**b, "batch_run_key": ["x"]}),
                                  json.dumps({**b, "stored": "a\u0000b"}), '{"taken_at": Infinity}']):
            (records_of(box) / f"odd-{n}.json").write_text(text)
        age_records(box)
        drop(box, 1, seed=110)  # a new file: the look must still take it
        first = tick(instance, box, lost.cursor)
        looked = tick(instance, box, first.cursor)
    assert [r.tags["intelli/source"] for r in looked.run_requests] == ["drop-0.xlsx"]  # the new one only
    aside = sorted(p.name for p in records_of(box).iterdir() if not p.name.endswith(".json"))
    assert len(aside) == 12 and sum(name.endswith(".unreadable") for name in aside) == 11
    assert [name for name in aside if name.endswith(".given-up")] == [record_b.name + ".given-up"]


def test_a_record_of_a_file_the_look_never_moved_is_dropped_and_the_file_taken_once(tmp_path, monkeypatch):
    box = tmp_path / "inbox"
    drop(box, 1, seed=120)

    def killed(path: Path, target: Path | None = None) -> Path:
        raise KeyboardInterrupt  # the look stopped between the record and the move

    from intelli_assets.launch import intake

    with dg.instance_for_test() as instance:
        first = tick(instance, box, None)
        monkeypatch.setattr(intake, "move_processed", killed)  # a mock: the kill must land at one exact line
        with pytest.raises(KeyboardInterrupt):
            tick(instance, box, first.cursor)
        monkeypatch.undo()
        assert taken_keys(box) == [] and (box / "drop-0.xlsx").exists()  # the record went with the interrupted move
        # the record a process killed outright between the two leaves behind
        sha = file_sha256(box / "drop-0.xlsx")
        kept = box.parent / "artifacts" / f"drop-0-{sha[:10]}" / "raw" / "drop-0.xlsx"
        assert kept.read_bytes() == (box / "drop-0.xlsx").read_bytes()  # kept by the interrupted look already
        record = {"name": "drop-0.xlsx", "source_path": str(box / "drop-0.xlsx"), "owner": "analyst",
                  "moved_to": str(box / "processed" / "drop-0.xlsx"), "key": f"drop-0-{sha[:10]}",
                  "run_key": f"drop-0-{sha[:10]}", "stored": str(kept), "new": True}
        record_taken(records_of(box), record)
        age_records(box)
        taken = tick(instance, box, first.cursor)
        assert list(requested(taken)) == [f"drop-0-{sha[:10]}"]  # once: by the look itself
        assert [r.tags["intelli/source"] for r in taken.run_requests] == ["drop-0.xlsx"]

        # processed/ archived by an operator, and another export dropped under that name: the record is not its
        (box / "processed" / "drop-0.xlsx").replace(tmp_path / "archived.xlsx")
        write_sample_workbook(box / "drop-0.xlsx", seed=121)
        path = record_taken(records_of(box), {**record, "run_key": "earlier-look"})
        path.write_text(json.dumps({**json.loads(path.read_text()), "taken_at": time.time() + 86400}))  # clock set back
        lost = tick(instance, box, taken.cursor)
    assert set(requested(lost)) == {f"drop-0-{sha[:10]}"}  # overdue, whatever its date: asked for again
    assert (box / "drop-0.xlsx").exists()  # the new export waits for its second look
