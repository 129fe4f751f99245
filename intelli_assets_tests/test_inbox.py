"""The inbox: files dropped into a folder become datasets and chart jobs. First the sensor's
rules one tick at a time, then a real `dagster dev` (webserver + daemon) picking up drops."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import NamedTuple

import dagster as dg
import pytest

from intelli_assets import inbox as inbox_module
from intelli_assets.charts import CHARTS
from intelli_assets.client.documents import TERMINATE
from intelli_assets.dataset import file_sha256
from intelli_assets.defs.charts.resources import ChartRenderer
from intelli_assets.defs.common.resources import ArtifactStore
from intelli_assets.defs.inbox import sensors as inbox_sensors
from intelli_assets.defs.inbox.batch import draw_datasets
from intelli_assets.defs.inbox.sensors import InboxFolder, inbox
from intelli_assets.errors import IntelliError
from intelli_assets.launch import select_charts
from intelli_assets.sample_records import lens_records_of, sample_families, write_results_list_csv
from intelli_assets.sample_workbook import write_sample_workbook
from intelli_assets.taken_records import LOST_AFTER_SECONDS, taken_dir, taken_records
from intelli_assets_tests.fake_lens import FakeLens, write_query
from intelli_assets_tests.postgres import InstanceHome, make_instance_home
from intelli_assets_tests.servers import dagster_dev, graphql, prepare_home
from intelli_assets_tests.test_run_hardening import open_home, restore_dagster_home
from intelli_assets_tests.waiting import wait_for

INTELLI = str(Path(sys.executable).parent / "intelli")
__all__ = ["restore_dagster_home"]  # the fixture, used here too


def tick(instance: dg.DagsterInstance, folder: Path, cursor: str | None,
         batch_runs: int | None = 2, quiet_seconds: float | None = 3600) -> dg.SensorResult:
    """One look at `folder`. A file is taken when unchanged since the look of `cursor`; the
    quiet rule is out of the way unless `quiet_seconds` is given (the machine may be slow)."""
    folder_resource = InboxFolder(path=str(folder), batch_runs=batch_runs, quiet_seconds=quiet_seconds)
    context = dg.build_sensor_context(instance=instance, cursor=cursor,
                                      resources={"inbox_folder": folder_resource,
                                                 "store": ArtifactStore(root=str(folder.parent / "artifacts"))})
    return inbox(context)


def files_in(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def taken_keys(folder: Path) -> list[str]:
    """The datasets of the files `tick` took from `folder` whose runs have not been seen yet."""
    return sorted(record["key"] for _, record in taken_records(taken_dir(folder.parent / "artifacts")))


def test_the_sensor_reads_only_stable_files_and_sorts_every_file_it_reads(tmp_path):
    box = tmp_path / "inbox"
    box.mkdir()
    write_sample_workbook(box / "landscape.xlsx")
    shutil.copyfile(box / "landscape.xlsx", box / "Landscape (copy).xlsx")  # same bytes
    write_sample_workbook(box / "other.xlsx", seed=11)
    (box / "broken.xlsx").write_text("not a workbook")
    long_name = "Z" * 240 + ".xlsx"  # near the file system's limit: its reason file must still fit
    (box / long_name).write_text("not a workbook either")
    (box / "notes.pdf").write_text("%PDF-1.4")
    for ignored in ("~$landscape.xlsx", ".hidden.xlsx", "download.xlsx.part", "half.xlsx.crdownload"):
        (box / ignored).write_text("in progress")
    with dg.instance_for_test() as instance:
        first = tick(instance, box, None)
        assert first.run_requests == [] and not first.dynamic_partitions_requests  # nothing is stable yet
        growing = box / "growing.xlsx"
        growing.write_bytes((box / "other.xlsx").read_bytes()[:3000])  # still being copied
        second = tick(instance, box, first.cursor)
        keys = sorted(r.partition_key for r in second.run_requests)
        assert len(keys) == 2 and keys[0].startswith("landscape-") and keys[1].startswith("other-")
        assert sorted(second.dynamic_partitions_requests[0].partition_keys) == keys
        request = second.run_requests[0]
        assert [r.job_name for r in second.run_requests] == ["dataset_charts"] * 2  # two: a run each
        assert request.tags["intelli/origin"] == "sensor" and request.tags["intelli/job"]
        assert {k.to_user_string() for k in request.asset_selection} >= {"raw_source", "charts/cpc_treemap"}
        assert json.loads(second.cursor) == {"growing.xlsx": [3000, growing.stat().st_mtime_ns]}  # only pending
        assert taken_keys(box) == keys  # written down until their runs are seen
        assert files_in(box) == sorted([
            ".hidden.xlsx", "download.xlsx.part", "growing.xlsx", "half.xlsx.crdownload", "processed/Landscape (copy).xlsx",
            "processed/landscape.xlsx", "processed/other.xlsx", "rejected/broken.xlsx", "rejected/broken.xlsx.reason.txt",
            "rejected/notes.pdf", "rejected/notes.pdf.reason.txt", "~$landscape.xlsx",
            *[f"rejected/{p.name}" for p in (box / "rejected").glob("ZZZ*")]])
        assert "not an Excel workbook" in (box / "rejected" / "broken.xlsx.reason.txt").read_text()
        (long_reason,) = (box / "rejected").glob("ZZZ*.reason.txt")
        assert long_reason.read_text().startswith(long_name + " cannot be used:")
        stored = Path(request.run_config["ops"]["raw_source"]["config"]["path"])
        assert stored.parent == box.parent / "artifacts" / request.partition_key / "raw"  # kept at intake
        assert stored.read_bytes() == (box / "processed" / f"{stored.name}").read_bytes()
        assert "unsupported file type '.pdf'" in (box / "rejected" / "notes.pdf.reason.txt").read_text()
        instance.add_dynamic_partitions("datasets", keys)  # what the daemon does with the result

        shutil.copyfile(box / "processed" / "other.xlsx", box / "renamed.xlsx")  # other.xlsx's bytes again
        third = tick(instance, box, second.cursor)
        fourth = tick(instance, box, third.cursor)
        assert fourth.run_requests == [] and not fourth.dynamic_partitions_requests
        assert (box / "processed" / "renamed.xlsx").exists() and not (box / "renamed.xlsx").exists()


def stable_tick(instance: dg.DagsterInstance, folder: Path, batch_runs: int | None = 2) -> dg.SensorResult:
    """The tick that takes the files: the second look at them (the first only sees them)."""
    first = tick(instance, folder, None, batch_runs)
    assert first.run_requests == []
    return tick(instance, folder, first.cursor, batch_runs)


def test_several_new_datasets_in_one_tick_are_split_among_batch_runs(tmp_path, monkeypatch):
    box = tmp_path / "inbox"
    names = [f"drop-{n}.xlsx" for n in range(5)]
    for n, name in enumerate(names):
        write_sample_workbook(box / name, seed=60 + n)
    with dg.instance_for_test() as instance:
        result = stable_tick(instance, box)
    added = result.dynamic_partitions_requests[0].partition_keys
    assert len(added) == 5 and [r.job_name for r in result.run_requests] == ["inbox_batch", "inbox_batch"]
    batches = [r.run_config["ops"]["draw_datasets"]["config"]["datasets"] for r in result.run_requests]
    assert [len(b) for b in batches] == [3, 2] and [r.tags["intelli/batch_size"] for r in result.run_requests] == ["3", "2"]
    datasets = batches[0] + batches[1]
    assert [d["partition"] for d in datasets] == added and [d["source"] for d in datasets] == names
    assert len({d["job_id"] for d in datasets}) == 5 and all(d["requested_by"] for d in datasets)
    assert all(Path(d["path"]).read_bytes() == (box / "processed" / d["source"]).read_bytes() for d in datasets)
    assert datasets[0]["charts"] == select_charts("all", box / "processed" / names[0])  # every chart it can feed
    assert result.run_requests[0].tags["dagster/max_runtime"] == str(3 * (60 + 120))  # each dataset's own limit
    assert len({r.run_key for r in result.run_requests}) == 2

    other = tmp_path / "one-by-one"
    for n, name in enumerate(names):
        write_sample_workbook(other / name, seed=60 + n)
    for bad in ("two", "-1", "\u00b2"):  # "²" is a digit to str.isdigit
        monkeypatch.setenv("INTELLI_INBOX_BATCH_RUNS", bad)
        with dg.instance_for_test() as instance, pytest.raises(IntelliError, match="INTELLI_INBOX_BATCH_RUNS"):
            tick(instance, other, None, batch_runs=None)
    assert sorted(p.name for p in other.iterdir()) == names  # a bad setting moves no file
    monkeypatch.setenv("INTELLI_INBOX_BATCH_RUNS", "0")
    with dg.instance_for_test() as instance:
        unbatched = stable_tick(instance, other, batch_runs=None)
    assert [r.job_name for r in unbatched.run_requests] == ["dataset_charts"] * 5  # one run each
    assert sorted(r.tags["intelli/source"] for r in unbatched.run_requests) == names



def settle(path: Path, seconds: float) -> None:
    """Until nothing has changed `path` for `seconds` (a wait for time itself: the quiet rule
    under test is about time)."""
    wait_for(lambda: time.time_ns() - path.stat().st_ctime_ns > seconds * 1e9, timeout=60,
             message="the clock did not move")


def test_a_file_untouched_for_the_quiet_time_is_taken_at_the_first_look_a_csv_or_a_recent_change_waits(
        tmp_path, monkeypatch):
    monkeypatch.setattr(inbox_module, "SETTLE_SECONDS", 0)  # the look's wait for new files: the next test
    box = tmp_path / "inbox"
    write_sample_workbook(box / "settled.xlsx", seed=70)
    write_sample_workbook(box / "old-date.xlsx", seed=71)
    write_results_list_csv(box / "results.csv", sample_families(40, seed=72))
    (box / "notes.pdf").write_text("%PDF-1.4")  # an unsupported name: rejected only when unchanged on two looks
    settle(box / "notes.pdf", 3.2)
    with dg.instance_for_test() as instance:
        day_ago = time.time() - 86400
        os.utime(box / "old-date.xlsx", (day_ago, day_ago))  # a copy keeping its date: changed just now
        first = tick(instance, box, None, quiet_seconds=3)
        assert [r.tags["intelli/source"] for r in first.run_requests] == ["settled.xlsx"]
        assert sorted(json.loads(first.cursor)) == ["notes.pdf", "old-date.xlsx", "results.csv"]  # for the next look
        assert sorted(p.name for p in box.iterdir() if p.is_file()) == ["notes.pdf", "old-date.xlsx",
                                                                        "results.csv"]  # and no probe left
        instance.add_dynamic_partitions("datasets", first.dynamic_partitions_requests[0].partition_keys)
        second = tick(instance, box, first.cursor, quiet_seconds=3600)  # unchanged since: all taken
    assert sorted(r.tags["intelli/source"] for r in second.run_requests) == ["old-date.xlsx", "results.csv"]
    assert sorted(p.name for p in (box / "processed").iterdir()) == ["old-date.xlsx", "results.csv", "settled.xlsx"]
    assert sorted(p.name for p in (box / "rejected").iterdir()) == ["notes.pdf", "notes.pdf.reason.txt"]


def test_a_file_dropped_just_before_a_look_is_taken_at_that_look_and_one_still_being_written_is_not(
        tmp_path, monkeypatch):
    slept: list[float] = []  # the looks' waits
    monkeypatch.setattr(inbox_sensors, "time", SimpleNamespace(monotonic=time.monotonic,
                                                               sleep=lambda s: (slept.append(s), time.sleep(s))))
    box = tmp_path / "inbox"
    write_sample_workbook(box / "growing.xlsx", seed=73)
    writing = threading.Event()

    def keep_writing() -> None:  # a copy still going on: the file changes every 0.05 s
        while not writing.wait(0.05):
            (box / "growing.xlsx").touch()

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        write_sample_workbook(box / "dropped.xlsx", seed=74)  # just now, as a look begins
        write_results_list_csv(box / "results.csv", sample_families(40, seed=75))
        with dg.instance_for_test() as instance:
            result = tick(instance, box, None, quiet_seconds=1)
            assert [r.tags["intelli/source"] for r in result.run_requests] == ["dropped.xlsx"]  # at this look
            assert len(slept) == 1 and 0.5 < slept[0] <= inbox_module.SETTLE_SECONDS + 0.5  # after a bounded wait
            assert sorted(json.loads(result.cursor)) == ["growing.xlsx", "results.csv"]  # for the next looks
            # the next look: the CSV, unchanged since, is taken; the file seen before is still
            # being written, so that look does not wait for it
            seen = json.loads(result.cursor)["growing.xlsx"]
            wait_for(lambda: list(inbox_module.snapshot(box / "growing.xlsx")) != seen, message="no write")
            later = tick(instance, box, result.cursor, quiet_seconds=1)
            assert [r.tags["intelli/source"] for r in later.run_requests] == ["results.csv"] and len(slept) == 1
    finally:
        writing.set()
        writer.join()
    assert sorted(p.name for p in box.iterdir() if p.is_file()) == ["growing.xlsx"]


def test_a_quiet_file_that_is_not_valid_yet_waits_for_the_second_look_instead_of_being_rejected(tmp_path):
    """A copy that pauses longer than the quiet time looks finished: read early, the half file
    is not a workbook, so it is left for the rule of two looks, not rejected."""
    box = tmp_path / "inbox"
    whole = write_sample_workbook(tmp_path / "slow.xlsx", seed=73).read_bytes()
    box.mkdir()
    (box / "slow.xlsx").write_bytes(whole[:len(whole) // 2])
    (box / "broken.xlsx").write_bytes(b"PK\x03\x04 never a workbook")
    settle(box / "broken.xlsx", 1.2)
    with dg.instance_for_test() as instance:
        paused = tick(instance, box, None, quiet_seconds=1)
        assert paused.run_requests == [] and sorted(json.loads(paused.cursor)) == ["broken.xlsx", "slow.xlsx"]
        assert not (box / "rejected").exists()
        with open(box / "slow.xlsx", "ab") as copy:  # the copy goes on
            copy.write(whole[len(whole) // 2:])
        second = tick(instance, box, paused.cursor, quiet_seconds=3600)  # broken: unchanged, read for good
        assert second.run_requests == [] and sorted(p.name for p in (box / "rejected").iterdir()) == [
            "broken.xlsx", "broken.xlsx.reason.txt"]
        settle(box / "slow.xlsx", 1.2)
        done = tick(instance, box, second.cursor, quiet_seconds=1)
    assert [r.tags["intelli/source"] for r in done.run_requests] == ["slow.xlsx"]
    assert (box / "processed" / "slow.xlsx").read_bytes() == whole


def test_quiet_seconds_come_from_the_environment_and_a_bad_value_moves_no_file(tmp_path, monkeypatch):
    box = tmp_path / "inbox"
    write_sample_workbook(box / "env.xlsx", seed=74)
    settle(box / "env.xlsx", 1.2)
    with dg.instance_for_test() as instance:
        for bad in ("soon", "-1", "nan", "inf"):
            monkeypatch.setenv("INTELLI_INBOX_QUIET_SECONDS", bad)
            with pytest.raises(IntelliError, match="INTELLI_INBOX_QUIET_SECONDS"):
                tick(instance, box, None, quiet_seconds=None)
        monkeypatch.setenv("INTELLI_INBOX_QUIET_SECONDS", "0")  # every file waits for a second look
        assert tick(instance, box, None, quiet_seconds=None).run_requests == []
        monkeypatch.setenv("INTELLI_INBOX_QUIET_SECONDS", "1")
        assert [r.tags["intelli/source"] for r in tick(instance, box, None, quiet_seconds=None).run_requests] == [
            "env.xlsx"]


def test_a_folder_whose_clock_is_behind_ours_gets_no_quiet_rule(tmp_path, monkeypatch):
    """A network share whose clock lags would make a file being written look quiet: the
    probe written at the look shows the lag, and the file waits for a second look."""

    box = tmp_path / "inbox"
    box.mkdir()
    (box / "copying.xlsx").write_bytes(b"PK\x03\x04 half a workbook")
    settle(box / "copying.xlsx", 1.2)
    assert inbox_module.scan(box, {}, quiet_seconds=1)[0] == [box / "copying.xlsx"]  # same clock: quiet
    real_time_ns = time.time_ns
    monkeypatch.setattr(inbox_module.time, "time_ns", lambda: real_time_ns() + 30 * 10**9)  # the folder 30 s behind
    stable, remembered, early = inbox_module.scan(box, {}, quiet_seconds=1)
    assert stable == [] and list(remembered) == ["copying.xlsx"] and early == set()
    assert [p.name for p in box.iterdir()] == ["copying.xlsx"]  # no probe left behind
    assert inbox_module.scan(box, remembered, quiet_seconds=1)[:3:2] == ([box / "copying.xlsx"], set())  # two looks



def test_the_quiet_rule_asks_the_file_system_again_and_allows_for_coarse_or_lagging_clocks(tmp_path, monkeypatch):
    from types import SimpleNamespace


    box = tmp_path / "inbox"
    box.mkdir()
    (box / "shared.xlsx").write_bytes(b"PK\x03\x04 on a network share")
    settle(box / "shared.xlsx", 1.2)
    real_fresh_stat, real_fstat, real_close = inbox_module.fresh_stat, os.fstat, os.close

    def still_written(path: str) -> SimpleNamespace:  # NFS, asked again: another machine still writes
        stat = real_fresh_stat(path)
        return SimpleNamespace(st_size=stat.st_size, st_mtime_ns=stat.st_mtime_ns, st_ctime_ns=time.time_ns())

    with monkeypatch.context() as patch:
        patch.setattr(inbox_module, "fresh_stat", still_written)
        assert inbox_module.scan(box, {}, quiet_seconds=1)[::2] == ([], set())
    assert 0 <= inbox_module.folder_time_margin_ns(box) < 10**9  # this file system: ns times, our clock

    def whole_seconds(fd: int) -> SimpleNamespace:  # FAT-like times
        stat = real_fstat(fd)
        return SimpleNamespace(st_ctime_ns=stat.st_ctime_ns // 10**9 * 10**9, st_mtime_ns=stat.st_mtime_ns // 10**9 * 10**9)

    with monkeypatch.context() as patch:
        patch.setattr(inbox_module.os, "fstat", whole_seconds)
        assert inbox_module.folder_time_margin_ns(box) == 3 * 10**9  # a second of tolerance, 2 s steps

    def quota_exceeded(fd: int) -> None:  # a network file system reporting a failed write at close
        real_close(fd)
        raise OSError(122, "Disk quota exceeded")

    with monkeypatch.context() as patch:
        patch.setattr(inbox_module.os, "close", quota_exceeded)
        assert inbox_module.folder_time_margin_ns(box) is None
    assert [p.name for p in box.iterdir()] == ["shared.xlsx"]  # no probe left


@pytest.mark.parametrize("bound", [("INTAKE_SECONDS", 0.0), ("MAX_FILES_PER_TICK", 1)])
def test_a_look_takes_files_for_a_bounded_time_and_leaves_the_rest_to_the_next(tmp_path, monkeypatch, bound):
    from intelli_assets.defs.inbox import sensors

    box = tmp_path / "inbox"
    for n in range(3):
        write_sample_workbook(box / f"bound-{n}.xlsx", seed=80 + n)
    monkeypatch.setattr(sensors, *bound)  # time up after the first file, or one file a look
    with dg.instance_for_test() as instance:
        cursor, taken = None, []
        for look in range(4):
            result = tick(instance, box, cursor, quiet_seconds=0.001)  # all quiet at once
            assert len(result.run_requests) == (1 if look < 3 else 0)  # one file a look, never none
            taken += [r.tags["intelli/source"] for r in result.run_requests]
            if result.dynamic_partitions_requests:
                instance.add_dynamic_partitions("datasets", result.dynamic_partitions_requests[0].partition_keys)
            cursor = result.cursor
            assert sorted(json.loads(cursor)) == [f"bound-{n}.xlsx" for n in range(look + 1, 3)]
    assert taken == ["bound-0.xlsx", "bound-1.xlsx", "bound-2.xlsx"]


def one_batch_request(instance: dg.DagsterInstance, box: Path, prefix: str, seed: int) -> tuple[dg.RunRequest, list]:
    """Three new workbooks taken in one look as one batch run request (their partitions added),
    and the datasets it lists."""
    for n in range(3):
        write_sample_workbook(box / f"{prefix}-{n}.xlsx", seed=seed + n)
    ticked = stable_tick(instance, box, batch_runs=1)
    instance.add_dynamic_partitions("datasets", ticked.dynamic_partitions_requests[0].partition_keys)
    (request,) = ticked.run_requests
    return request, request.run_config["ops"]["draw_datasets"]["config"]["datasets"]


def test_a_waiting_batch_run_names_its_datasets_and_cancelling_it_says_which_were_not_drawn(tmp_path, dagster_home):
    from intelli_assets.definitions import defs

    with dg.DagsterInstance.get() as instance:
        request, datasets = one_batch_request(instance, tmp_path / "inbox", "wait", seed=90)
        batch = instance.create_run_for_job(defs.resolve_job_def("inbox_batch"), run_config=request.run_config,
                                            tags=request.tags, status=dg.DagsterRunStatus.NOT_STARTED)  # not begun
    job = datasets[1]["job_id"]
    waiting = intelli(dagster_home, "status", job)  # a dataset's job before its turn
    assert waiting.returncode == 0, waiting.stderr
    assert waiting.stdout.startswith(f"job {job} · WAITING · dataset 2 of 3 of inbox batch run {batch.run_id} "
                                     "(NOT_STARTED); its run starts when its turn comes")
    alone = intelli(dagster_home, "cancel", job)
    assert alone.returncode == 2 and f"`intelli cancel {batch.run_id}` stops the batch's datasets" in alone.stderr

    listed = intelli(dagster_home, "status", batch.run_id, "--json")
    assert listed.returncode == 0, listed.stderr
    summary = json.loads(listed.stdout)
    assert summary["status"] == "NOT_STARTED"
    assert [(d["source"], d["job"], d["status"]) for d in summary["datasets"]] == [
        (d["source"], d["job_id"], "WAITING") for d in datasets]

    cancelled = intelli(dagster_home, "cancel", batch.run_id)
    assert cancelled.returncode == 0, cancelled.stderr
    lines = cancelled.stdout.splitlines()
    assert lines[0] == f"batch run {batch.run_id}: cancelled before it started"
    assert lines[1:4] == [f"not drawn: {d['source']} (job {d['job_id']}, {d['path']})" for d in datasets]
    assert "re-execute the batch run" in lines[4]
    after = json.loads(intelli(dagster_home, "status", batch.run_id, "--json").stdout)
    assert after["status"] == "CANCELED" and {d["status"] for d in after["datasets"]} == {"NOT_DRAWN"}
    text = intelli(dagster_home, "status", batch.run_id).stdout.splitlines()
    assert text[0] == f"inbox batch run {batch.run_id} · CANCELED · 3 datasets"
    assert text[2].split()[:3] == ["2.", "NOT_DRAWN", "wait-1.xlsx"] and "re-execute the batch run" in text[-1]
    again = intelli(dagster_home, "cancel", batch.run_id)
    assert again.returncode != 0 and "nothing left to cancel (status CANCELED)" in again.stderr
    left = json.loads(intelli(dagster_home, "status", job, "--json").stdout)
    assert (left["status"], left["batch_run"], left["path"]) == ("NOT_DRAWN", batch.run_id, datasets[1]["path"])

    with dg.DagsterInstance.get() as instance:  # the batch re-executed, and cancelled while it works
        running = instance.create_run_for_job(defs.resolve_job_def("inbox_batch"), run_config=request.run_config,
                                              tags=request.tags, status=dg.DagsterRunStatus.STARTED)
    assert json.loads(intelli(dagster_home, "status", job, "--json").stdout)["batch_run"] == running.run_id
    stopping = intelli(dagster_home, "cancel", running.run_id)
    assert stopping.stdout.splitlines()[0] == f"batch run {running.run_id}: stopping after the dataset it is drawing"
    after = json.loads(intelli(dagster_home, "status", running.run_id, "--json").stdout)
    assert after["status"] == "CANCELING" and {d["status"] for d in after["datasets"]} == {"NOT_DRAWN"}
    # the kept bytes draw as they are: the path the cancel named
    drawn = intelli(dagster_home, "run", datasets[0]["path"], "--charts", "cpc_treemap", "--json")
    assert drawn.returncode == 0, drawn.stderr
    assert json.loads(drawn.stdout)["partition"] == datasets[0]["partition"]


class RendererUnderAHiddenCancel(ChartRenderer):
    """The batch's renderer, set up as a cancel lands while the batch run starts: the webserver
    writes CANCELED, then the worker's own PIPELINE_START says STARTED again."""

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        run = context.run
        context.instance.report_run_canceled(run, "Cancelled by test-suite before it started.")
        context.instance.report_dagster_event(dg.DagsterEvent(event_type_value="PIPELINE_START", job_name=run.job_name),
                                              run.run_id)
        super().setup_for_execution(context)


@dg.job(executor_def=dg.in_process_executor, resource_defs={"renderer": RendererUnderAHiddenCancel()})
def batch_cancelled_as_it_starts() -> None:
    draw_datasets()


def test_a_batch_run_cancelled_as_it_starts_draws_no_dataset(tmp_path, dagster_home):
    with dg.DagsterInstance.get() as instance:
        request, datasets = one_batch_request(instance, tmp_path / "inbox", "hid", seed=95)
        result = batch_cancelled_as_it_starts.execute_in_process(run_config=request.run_config, instance=instance,
                                                                 tags=request.tags, raise_on_error=False)
        assert instance.get_run_by_id(result.run_id).status == dg.DagsterRunStatus.CANCELED
        assert instance.get_runs(dg.RunsFilter(tags={"intelli/batch": result.run_id})) == []  # no dataset's run
        warnings = [e.message for e in instance.all_logs(result.run_id) if "not drawn" in e.message]
        assert len(warnings) == 1 and "3 of 3 datasets not drawn" in warnings[0]
        assert all(d["partition"] in warnings[0] for d in datasets)


def test_a_batch_run_draws_each_dataset_in_its_own_run_and_a_bad_one_fails_alone(tmp_path, dagster_home, monkeypatch):
    from intelli_assets.definitions import defs
    from intelli_assets.jobs import load_job

    box = tmp_path / "inbox"
    with dg.DagsterInstance.get() as instance:
        request, datasets = one_batch_request(instance, box, "set", seed=70)
        Path(datasets[1]["path"]).write_bytes(b"PK\x03\x04 spoiled after intake")  # its run must fail, alone
        batch_job = defs.resolve_job_def("inbox_batch")
        first = batch_job.execute_in_process(run_config=request.run_config, instance=instance, tags=request.tags,
                                             raise_on_error=False)
        assert not first.success
        failure = instance.all_logs(first.run_id, of_type=dg.DagsterEventType.STEP_FAILURE)[0]
        message = failure.dagster_event.step_failure_data.user_failure_data.description
        assert message.startswith("1 of 3 datasets not drawn in full") and datasets[1]["partition"] in message
        assert "not an Excel workbook" in message  # the dataset's own error, readable

        children = instance.get_runs(dg.RunsFilter(tags={"intelli/batch": first.run_id}), ascending=True)
        assert [r.tags["dagster/partition"] for r in children] == [d["partition"] for d in datasets]
        assert [r.status for r in children] == [dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE,
                                                dg.DagsterRunStatus.SUCCESS]
        jobs = [load_job(instance, d["job_id"]) for d in datasets]
        assert [j.status for j in jobs] == ["SUCCESS", "FAILED", "SUCCESS"]
        assert [j.source for j in jobs] == [d["source"] for d in datasets] and jobs[0].origin == "sensor"
        assert len(jobs[0].charts) == 9 and all(c.status == "success" for c in jobs[0].charts.values())
        drawn = Path(jobs[2].charts["cpc_treemap"].files["png"]).read_bytes()
        # a batch's runs leave out each chart's "start" observation (an asset event each)
        assert chart_progress(instance, children[0].run_id) == {"done": 9}

        # the batch run re-executed: the datasets drawn already are not drawn again
        again = batch_job.execute_in_process(run_config=request.run_config, instance=instance, tags=request.tags,
                                             raise_on_error=False)
        assert not again.success
        rerun = instance.get_runs(dg.RunsFilter(tags={"intelli/batch": again.run_id}))
        assert [r.tags["dagster/partition"] for r in rerun] == [datasets[1]["partition"]]
        assert len(instance.get_runs(dg.RunsFilter(job_name="dataset_charts"))) == 4

    # nothing in the charts changed: the same workbook drawn by `intelli run` gives the same PNG
    alone = subprocess.run([INTELLI, "run", str(box / "processed" / "set-2.xlsx"), "--charts", "cpc_treemap",
                            "--json"], capture_output=True, text=True, timeout=300,
                           env={**os.environ, "DAGSTER_HOME": str(tmp_path / "other-home")})
    assert alone.returncode == 0, alone.stderr
    png = json.loads(alone.stdout)["charts"]["cpc_treemap"]["files"]["png"]
    assert Path(png).read_bytes() == drawn
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "other-home"))
    with dg.DagsterInstance.get() as other:  # a run of its own reports each chart's start
        assert chart_progress(other, json.loads(alone.stdout)["run_id"]) == {"start": 1, "done": 1}


def chart_progress(instance: dg.DagsterInstance, run_id: str) -> dict[str, int]:
    """How many of each chart progress event a run wrote: observations by their `event`, and
    materializations as `done`."""
    counts: dict[str, int] = {}
    for record in instance.all_logs(run_id):
        event = record.dagster_event
        if event is None or event.asset_key is None or event.asset_key.path[0] != "charts":
            continue
        if event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION:
            name = "done"
        elif event.event_type == dg.DagsterEventType.ASSET_OBSERVATION:
            name = event.asset_observation_data.asset_observation.metadata["event"].value
        else:
            continue
        counts[name] = counts.get(name, 0) + 1
    return counts


SENSOR_TICKS = """
query Ticks($selector: SensorSelector!) {
  sensorOrError(sensorSelector: $selector) {
    ... on Sensor { sensorState { status ticks(limit: 1) { timestamp } } }
  }
}
"""


LENS_TOKEN = "inbox-lens-token-7f3a9c"
LENS_FAMILIES = sample_families(60, seed=41)


class Daemon(NamedTuple):
    url: str
    home: Path
    box: Path
    instance_home: InstanceHome


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def daemon(request: pytest.FixtureRequest, tmp_path_factory) -> Iterator[Daemon]:
    """A real `dagster dev` whose daemon runs the inbox sensor on a temporary DAGSTER_HOME on
    each backend, with a Lens stand-in on loopback for dropped query files. The backend's
    variables are in this process's environment too: `intelli` and `open_home` read them."""
    home = make_instance_home(request, tmp_path_factory.mktemp("inbox") / "home", request.param)
    prepare_home(home.path, **home.env)
    with pytest.MonkeyPatch.context() as env, \
            FakeLens(records=list(lens_records_of(LENS_FAMILIES)), token=LENS_TOKEN, max_size=50) as lens, \
            dagster_dev(home.path, **home.env, LENS_API_URL=lens.url, LENS_API_TOKEN=LENS_TOKEN) as url:
        for name, value in home.env.items():
            if name != "DAGSTER_HOME":  # set per call by the helpers (and restored per test)
                env.setenv(name, value)
        yield Daemon(url, home.path, home.path / "inbox", home)


def stored_as_in_dagster(daemon: Daemon, jobs: dict[str, dict], names: list[str]) -> None:
    """Each run of these jobs is in the backend's own runs table with the status Dagster gave."""
    stored = daemon.instance_home.stored_runs()
    runs = [run for name in names for run in jobs[name]["runs"]]
    assert runs and {r["run_id"]: stored.get(r["run_id"]) for r in runs} == {r["run_id"]: r["status"] for r in runs}


def ticks(url: str) -> float:
    selector = {"repositoryLocationName": "intelli_assets", "repositoryName": "__repository__", "sensorName": "inbox"}
    state = graphql(url, SENSOR_TICKS, {"selector": selector})["sensorOrError"]["sensorState"]
    assert state["status"] == "RUNNING"  # on by default
    return state["ticks"][0]["timestamp"] if state["ticks"] else 0.0


def intelli(home: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([INTELLI, *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "DAGSTER_HOME": str(home)})


def jobs_of(home: Path) -> dict[str, dict]:
    """The inbox's jobs by source file name, computed as `intelli status` computes them."""
    from intelli_assets.jobs import load_job

    with open_home(home) as instance:
        runs = instance.get_runs(dg.RunsFilter(tags={"intelli/origin": "sensor"}))
        return {job.source: job.to_dict() for job in (load_job(instance, r.tags["intelli/job"]) for r in runs)}


def finished(home: Path, names: list[str]) -> dict[str, dict] | None:
    jobs = jobs_of(home)
    done = all(name in jobs and jobs[name]["status"] not in ("PENDING", "RUNNING") for name in names)
    return jobs if done else None


def test_a_dropped_export_becomes_charts_with_no_other_action(daemon):
    url, home, box, _ = daemon
    write_sample_workbook(box / ".landscape.xlsx.part")
    (box / ".landscape.xlsx.part").rename(box / "landscape.xlsx")  # how a careful copy lands
    jobs = wait_for(lambda: finished(home, ["landscape.xlsx"]), timeout=300, interval=1, message="no job finished")
    job = jobs["landscape.xlsx"]
    assert job["status"] == "SUCCESS" and job["origin"] == "sensor" and len(job["charts"]) == 9  # 8 + map
    shown = intelli(home, "status", job["job"])  # what an operator sees
    assert shown.returncode == 0 and f"job {job['job']} · SUCCESS" in shown.stdout and "from sensor" in shown.stdout
    for chart in job["charts"].values():
        assert Path(chart["files"]["png"]).read_bytes()[:4] == b"\x89PNG"
    stored_as_in_dagster(daemon, jobs, ["landscape.xlsx"])
    assert (box / "processed" / "landscape.xlsx").exists()

    shutil.copyfile(box / "processed" / "landscape.xlsx", box / "Landscape final.xlsx")  # same bytes, new name
    wait_for(lambda: (box / "processed" / "Landscape final.xlsx").exists(), timeout=120, message="not taken")
    assert list(jobs_of(home)) == ["landscape.xlsx"]  # nothing new


def test_a_results_list_and_a_lens_query_dropped_become_charts(daemon, tmp_path):
    url, home, box, _ = daemon
    write_results_list_csv(tmp_path / "soil list.csv", sample_families(80, seed=42)).rename(box / "soil list.csv")
    write_query(tmp_path, "soil-lens", page_size=50).rename(box / "soil-lens.lens.json")
    names = ["soil list.csv", "soil-lens.lens.json"]
    jobs = wait_for(lambda: finished(home, names), timeout=400, interval=1, message="no job finished")
    for name in names:
        assert jobs[name]["status"] == "SUCCESS", jobs[name]
        assert set(jobs[name]["charts"]) == set(CHARTS)  # record-level sources feed every chart
        assert all(c["status"] == "success" for c in jobs[name]["charts"].values())
    assert jobs["soil-lens.lens.json"]["partition"].startswith("soil-lens-")
    fetches = list((home / "artifacts" / jobs["soil-lens.lens.json"]["partition"] / "raw" / "fetches").iterdir())
    publications = sum(len(f.publications) for f in LENS_FAMILIES)
    assert len(fetches) == 1 and len(list(fetches[0].glob("page-*.json"))) == -(-publications // 50)  # 50 a page

    shutil.copyfile(box / "processed" / "soil-lens.lens.json", box / "again.lens.json")  # the same query again
    wait_for(lambda: len([j for j in jobs_of(home).values() if j["partition"] == jobs[names[1]]["partition"]]) == 2,
             timeout=120, interval=1, message="dropping a Lens query again did not fetch it again")
    jobs = wait_for(lambda: finished(home, ["again.lens.json"]), timeout=300, interval=1, message="no refetch")
    assert jobs["again.lens.json"]["status"] == "SUCCESS"
    stored_as_in_dagster(daemon, jobs, [*names, "again.lens.json"])
    assert len(list(fetches[0].parent.iterdir())) == 2  # both fetches kept


def test_a_broken_file_is_rejected_with_its_reason_and_good_ones_go_through(daemon):
    url, home, box, _ = daemon
    write_sample_workbook(box / "good-a.xlsx", seed=21)
    (box / "broken.xlsx").write_bytes(b"PK\x03\x04 truncated zip")
    write_sample_workbook(box / "good-b.xlsx", seed=22)
    jobs = wait_for(lambda: finished(home, ["good-a.xlsx", "good-b.xlsx"]), timeout=300, interval=1,
                    message="the good files' jobs did not finish")
    assert jobs["good-a.xlsx"]["status"] == jobs["good-b.xlsx"]["status"] == "SUCCESS"
    stored_as_in_dagster(daemon, jobs, ["good-a.xlsx", "good-b.xlsx"])
    reason = (box / "rejected" / "broken.xlsx.reason.txt").read_text()
    assert "broken.xlsx" in reason and "not an Excel workbook" in reason
    assert (box / "rejected" / "broken.xlsx").read_bytes() == b"PK\x03\x04 truncated zip"  # kept, not deleted


def test_a_file_taken_by_a_look_whose_run_was_never_created_is_drawn_by_a_later_look(daemon, tmp_path):
    """What a look leaves when the daemon dies before creating its run: the file moved to
    processed/, its bytes kept, its record written. The running daemon's next looks draw it."""
    from intelli_assets.artifacts import ArtifactLayout
    from intelli_assets.launch import take_from_inbox

    url, home, box, _ = daemon
    staging = tmp_path / "staging"  # the look runs here: the daemon's own looks must not see the file first
    write_sample_workbook(staging / "lost.xlsx", seed=41)
    with open_home(home) as instance:
        known = set(instance.get_dynamic_partitions("datasets"))
    records = taken_dir(home / "artifacts")
    intake = take_from_inbox(staging / "lost.xlsx", known, ArtifactLayout(home / "artifacts"), owner="analyst")
    assert intake.new and not (staging / "lost.xlsx").exists()
    (box / "processed").mkdir(exist_ok=True)
    (staging / "processed" / "lost.xlsx").replace(box / "processed" / "lost.xlsx")
    ((record_path, record),) = [(p, r) for p, r in taken_records(records) if r["key"] == intake.key]
    record.update(source_path=str(box / "lost.xlsx"), moved_to=str(box / "processed" / "lost.xlsx"),
                  taken_at=time.time() - LOST_AFTER_SECONDS - 1)
    record_path.write_text(json.dumps(record))

    jobs = wait_for(lambda: finished(home, ["lost.xlsx"]), timeout=300, interval=1, message="the lost file was not drawn")
    job = jobs["lost.xlsx"]
    assert job["status"] == "SUCCESS" and job["partition"] == intake.key and len(job["charts"]) == 9
    assert job["requested_by"] == "analyst"
    stored_as_in_dagster(daemon, jobs, ["lost.xlsx"])
    wait_for(lambda: not record_path.exists(), timeout=60, message="the record outlived its run")
    with open_home(home) as instance:  # one run, whatever the looks asked meanwhile
        assert len(instance.get_runs(dg.RunsFilter(tags={"dagster/run_key": intake.key}))) == 1


def test_a_file_copied_slowly_is_read_once_complete(daemon, tmp_path):
    url, home, box, _ = daemon
    whole = write_sample_workbook(tmp_path / "slow.xlsx", seed=31).read_bytes()
    target = box / "slow.xlsx"
    chunk = len(whole) // 30 + 1
    before = ticks(url)
    with open(target, "wb") as out:
        for start in range(0, len(whole), chunk):  # a slow network copy: a chunk every 0.5 s
            out.write(whole[start:start + chunk])
            out.flush()
            time.sleep(0.5)  # the pace of the copy under test, not a wait for a state
            assert target.exists()  # never taken half-written
    assert ticks(url) > before  # the sensor looked while the copy went on
    jobs = wait_for(lambda: finished(home, ["slow.xlsx"]), timeout=300, interval=1, message="no job finished")
    assert jobs["slow.xlsx"]["status"] == "SUCCESS"
    stored_as_in_dagster(daemon, jobs, ["slow.xlsx"])
    stored = home / "artifacts" / jobs["slow.xlsx"]["partition"] / "raw" / "slow.xlsx"
    assert file_sha256(stored) == file_sha256(box / "processed" / "slow.xlsx") and stored.read_bytes() == whole


def runs_of_job(home: Path, job_name: str, tags: dict[str, str] | None = None) -> list[dg.DagsterRun]:
    with open_home(home) as instance:
        return list(instance.get_runs(dg.RunsFilter(job_name=job_name, tags=tags or {}), ascending=True))


# SQLite only: the slowest test of the suite; the other daemon tests cover PostgreSQL, and 20
# more runs there would add minutes (dagster-postgres opens a connection per query)
@pytest.mark.parametrize("daemon", ["sqlite"], indirect=True)
def test_twenty_drops_at_once_are_two_batch_runs_one_can_be_terminated_and_a_third_waits_its_turn(daemon, tmp_path):
    url, home, box, _ = daemon
    staging = tmp_path / "staging"
    names = [f"batch-{n:02d}.xlsx" for n in range(20)]
    for n, name in enumerate(names):
        write_sample_workbook(staging / name, seed=100 + n)
    for name in names:  # all at once
        (staging / name).rename(box / name)
    batches = wait_for(lambda: len(b := runs_of_job(home, "inbox_batch")) == 2 and b, timeout=300, interval=1,
                       message="the sensor did not request two batch runs")
    assert [b.tags["intelli/batch_size"] for b in batches] == ["10", "10"]
    kept, stopped = batches
    later = [f"later-{n}.xlsx" for n in range(4)]  # a second drop while both batches work: it waits its turn
    for n, name in enumerate(later):
        write_sample_workbook(staging / name, seed=200 + n)
        (staging / name).rename(box / name)
    wait_for(lambda: len(runs_of_job(home, "inbox_batch")) == 4, timeout=300, interval=1,
             message="the sensor did not request batch runs for the second drop")
    # a dataset's own run stopped from the UI (Terminate): only that dataset is cancelled
    child = wait_for(lambda: next((r for r in runs_of_job(home, "dataset_charts", {"intelli/batch": kept.run_id})
                                   if r.status == dg.DagsterRunStatus.STARTED), None),
                     timeout=600, interval=0.2, message="the batch run did not start a dataset")
    asked = graphql(url, TERMINATE, {"runId": child.run_id})["terminateRun"]
    if asked["__typename"] != "TerminateRunSuccess":  # refused only for a run no longer started: it had just ended
        with open_home(home) as instance:
            assert instance.get_run_by_id(child.run_id).status == dg.DagsterRunStatus.SUCCESS, asked
    # terminate one batch run while it draws its second dataset (as the UI's Terminate button does)
    wait_for(lambda: len(runs_of_job(home, "dataset_charts", {"intelli/batch": stopped.run_id})) >= 2,
             timeout=600, interval=0.5, message="the batch run did not start its second dataset")
    terminated = graphql(url, TERMINATE, {"runId": stopped.run_id})["terminateRun"]
    assert terminated["__typename"] == "TerminateRunSuccess", terminated
    ended = ("SUCCESS", "FAILURE", "CANCELED")
    wait_for(lambda: all(r.status.value in ended for r in runs_of_job(home, "inbox_batch")), timeout=1800,
             interval=5, message="the batch runs did not finish")
    statuses = {b.run_id: b.status for b in runs_of_job(home, "inbox_batch")}
    assert statuses == {kept.run_id: dg.DagsterRunStatus.SUCCESS, stopped.run_id: dg.DagsterRunStatus.CANCELED,
                        **{b.run_id: dg.DagsterRunStatus.SUCCESS for b in runs_of_job(home, "inbox_batch")[2:]}}
    with open_home(home) as instance:  # never more batch runs at work than cores (the tag limit in dagster.yaml)
        spans = [(r.start_time, r.end_time) for r in instance.get_run_records(dg.RunsFilter(job_name="inbox_batch"))]
    assert max(sum(start <= t < end for start, end in spans) for t, _ in spans) == 2

    jobs = jobs_of(home)
    drawn = [n for n in names if n in jobs]
    kept_runs = runs_of_job(home, "dataset_charts", {"intelli/batch": kept.run_id})
    stopped_runs = runs_of_job(home, "dataset_charts", {"intelli/batch": stopped.run_id})
    assert len(kept_runs) == 10  # the one terminated alone did not stop its batch
    assert [r.status for r in kept_runs if r.run_id != child.run_id] == [dg.DagsterRunStatus.SUCCESS] * 9
    assert next(r for r in kept_runs if r.run_id == child.run_id).status in (dg.DagsterRunStatus.CANCELED,
                                                                            dg.DagsterRunStatus.SUCCESS)
    # the dataset being drawn is cancelled (or had just finished), the ones after it never start
    assert 2 <= len(stopped_runs) < 10 and len(drawn) == 10 + len(stopped_runs)
    assert {r.status for r in stopped_runs[:-1]} == {dg.DagsterRunStatus.SUCCESS}
    assert stopped_runs[-1].status in (dg.DagsterRunStatus.CANCELED, dg.DagsterRunStatus.SUCCESS)
    assert len({jobs[n]["partition"] for n in drawn}) == len(drawn) == len({jobs[n]["job"] for n in drawn})
    stored_as_in_dagster(daemon, jobs, drawn)
    assert [jobs[name]["status"] for name in later] == ["SUCCESS"] * 4
    with open_home(home) as instance:  # the datasets not drawn are named in the batch run's log
        warning = [e.message for e in instance.all_logs(stopped.run_id) if "not drawn" in (e.message or "")]
        assert warning and f"{10 - len(stopped_runs)} of 10 datasets not drawn" in warning[0]
        assert instance.get_dynamic_partitions("datasets").__len__() >= 20  # every dataset was added
