"""Runs that end badly: killed, interrupted, racing, or unable to write. Each through the real
`intelli` console script on a temporary DAGSTER_HOME, as a user would hit it."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest

from intelli_assets_tests.test_cli import INTELLI, intelli
from intelli_assets_tests.waiting import wait_for

PROJECT_ROOT = Path(__file__).resolve().parent.parent
IN_PROGRESS = [dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]


def start_intelli(*args: str, home: Path, **env: str) -> subprocess.Popen:
    return subprocess.Popen([*INTELLI, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "DAGSTER_HOME": str(home), **env}, start_new_session=True)


def open_home(home: Path) -> dg.DagsterInstance:
    """The instance as another process sees it (no reaping, no set-up of our own)."""
    from intelli_assets.launch import setup_lock

    os.environ["DAGSTER_HOME"] = str(home)  # the project's dagster.yaml reads it
    with setup_lock(home):  # never while an intelli process creates the tables
        return dg.DagsterInstance.from_config(str(home))


def charts_materialized(instance: dg.DagsterInstance) -> int:
    from intelli_assets.charts import CHARTS

    return sum(len(instance.fetch_materializations(dg.AssetKey(["charts", key]), limit=1).records) for key in CHARTS)


def charts_on_disk(home: Path, partition: str) -> set[str]:
    """Charts that left any file in the artifact store (raw/ and dataset/ aside)."""
    folder = home / "artifacts" / partition
    return {p.relative_to(folder).parts[0] for p in folder.rglob("*") if p.is_file()} - {"raw", "dataset"}


def started_run(home: Path) -> dg.DagsterRun | None:
    if not (home / "dagster.yaml").exists():
        return None
    with open_home(home) as instance:
        runs = instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED]))
        return runs[0] if runs else None


def kill_mid_run(home: Path, workbook: Path) -> dg.DagsterRun:
    """`intelli run` killed with SIGKILL while its run is STARTED, as an OOM kill would."""
    proc = start_intelli("run", str(workbook), home=home)
    try:
        run = wait_for(lambda: started_run(home), timeout=120, message="the run never started")
    finally:
        proc.kill()
        proc.wait()
        try:  # then what it left behind (a step's log `tail`, Chromium), which would hold our pipes open
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.communicate()
    with open_home(home) as instance:  # nothing has reaped it yet
        assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.STARTED
    return run


@pytest.fixture(autouse=True)
def restore_dagster_home(monkeypatch):
    monkeypatch.setenv("DAGSTER_HOME", os.environ.get("DAGSTER_HOME", ""))  # open_home changes it


def test_killed_run_is_failed_at_the_next_start_and_holds_no_pool_slot(tmp_path, sample_workbook):
    home = tmp_path / "home"
    dead = kill_mid_run(home, sample_workbook)
    proc = intelli("run", str(sample_workbook), "--charts", "cpc_treemap", "--json", home=home)
    assert proc.returncode == 0, proc.stderr
    with open_home(home) as instance:
        run = instance.get_run_by_id(dead.run_id)
        assert run.status == dg.DagsterRunStatus.FAILURE
        failure = instance.all_logs(dead.run_id, of_type=dg.DagsterEventType.RUN_FAILURE)[-1]
        assert f"(pid {dead.tags['intelli/process'].split('/')[1]})" in failure.dagster_event.message
        assert instance.get_runs(dg.RunsFilter(statuses=IN_PROGRESS)) == []  # what the queue counts
        assert instance.event_log_storage.get_concurrency_info("charts_cpu").claimed_slots == []


def test_the_daemon_sensor_fails_runs_of_dead_processes(tmp_path, sample_workbook):
    from intelli_assets.defs.runs.sensors import orphaned_runs

    home = tmp_path / "home"
    dead = kill_mid_run(home, sample_workbook)
    with open_home(home) as instance:
        first = orphaned_runs(dg.build_sensor_context(instance=instance))
        assert first.skip_message == "1 orphaned run(s) marked failed"
        assert instance.get_run_by_id(dead.run_id).status == dg.DagsterRunStatus.FAILURE
        again = orphaned_runs(dg.build_sensor_context(instance=instance))
        assert again.skip_message == "no orphaned runs"


def test_a_live_run_is_never_reaped(tmp_path, sample_workbook):
    from intelli_assets.defs.runs.ownership import fail_orphaned_runs, owner_is_gone, process_identity

    assert not owner_is_gone(process_identity())  # this very process
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    identity = process_identity(child.pid)
    child.wait()
    assert owner_is_gone(identity)  # its pid is free now
    assert owner_is_gone(f"another-boot/{os.getpid()}/1")  # a reboot since
    home = tmp_path / "home"
    proc = start_intelli("run", str(sample_workbook), home=home)
    try:
        run = wait_for(lambda: started_run(home), timeout=120, message="the run never started")
        with open_home(home) as instance:
            assert fail_orphaned_runs(instance) == []
    finally:
        out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    with open_home(home) as instance:
        assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.SUCCESS


def test_first_runs_racing_on_a_new_home_both_succeed(tmp_path, sample_workbook):
    home = tmp_path / "home"
    # set-up alone, four at once: the cheapest way to hit the race
    setup = [subprocess.Popen([sys.executable, "-c", "from intelli_assets.launch import open_instance; open_instance()"],
                              stderr=subprocess.PIPE, text=True, env={**os.environ, "DAGSTER_HOME": str(home / "a")})
             for _ in range(4)]
    for proc in setup:
        assert proc.wait(timeout=120) == 0, proc.stderr.read()
    runs = [start_intelli("run", str(sample_workbook), "--charts", "cpc_treemap", "--json", home=home / "b")
            for _ in range(2)]
    reports = []
    for proc in runs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0 and "Traceback" not in err, err
        reports.append(json.loads(out))
    assert [r["status"] for r in reports] == ["success", "success"]
    with open_home(home / "b") as instance:
        assert instance.event_log_storage.get_concurrency_info("charts_cpu").slot_count == 2
        assert len(instance.get_dynamic_partitions("datasets")) == 1


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_or_sigterm_cancel_the_run_and_keep_what_finished(signum, code, tmp_path, sample_workbook):
    home = tmp_path / "home"
    # large, dense images: a few seconds of rendering, so the signal lands mid-run
    proc = start_intelli("run", str(sample_workbook), "--json", "--set", "width=3000", "--set", "scale=4",
                         home=home)
    try:
        wait_for(lambda: started_run(home), timeout=120, message="the run never started")
        with open_home(home) as instance:  # one instance, polled often: the signal lands mid-run
            wait_for(lambda: charts_materialized(instance) >= 1, timeout=120, message="no chart was drawn")
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == code, err
    assert "Traceback" not in err
    report = json.loads(out)
    assert report["status"] == "cancelled"
    with open_home(home) as instance:
        assert instance.get_run_by_id(report["run_id"]).status == dg.DagsterRunStatus.CANCELED
    statuses = [c["status"] for c in report["charts"].values()]
    assert set(statuses) == {"success", "cancelled"}, statuses
    for chart in report["charts"].values():  # what finished is kept, whole
        for path in chart["files"].values():
            assert Path(path).stat().st_size > 0
    done = {key for key, chart in report["charts"].items() if chart["status"] == "success"}
    assert charts_on_disk(home, report["partition"]) == done  # the rest left no file


def can_mount_tmpfs() -> bool:
    if not shutil.which("unshare"):
        return False
    probe = subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs tmpfs /mnt"], capture_output=True)
    return probe.returncode == 0


@pytest.mark.skipif(not can_mount_tmpfs(), reason="needs unshare and a private tmpfs mount")
@pytest.mark.parametrize("mount_options, os_error", [("size=300k", "No space left on device (ENOSPC)"),
                                                      ("ro", "Read-only file system (EROFS)")])
def test_a_full_or_read_only_artifact_store_names_the_path_and_leaves_no_partial_files(
        mount_options, os_error, tmp_path, sample_workbook):
    """The artifact store on its own small (or read-only) tmpfs, in a private mount namespace:
    a real full disk, without root and without touching the machine's mounts."""
    home, store = tmp_path / "home", tmp_path / "store"
    store.mkdir()
    script = (f"mount -t tmpfs -o {mount_options} tmpfs {store} && "
              f"{INTELLI[0]} run {sample_workbook} --json > {tmp_path}/out.json 2> {tmp_path}/err.txt; "
              f"echo $? > {tmp_path}/code; find {store} -path '*/raw' -prune -o -path '*/dataset' -prune "
              f"-o -type f -print > {tmp_path}/leftovers")
    subprocess.run(["unshare", "-rm", "sh", "-c", script], check=True, timeout=300,
                   env={**os.environ, "DAGSTER_HOME": str(home), "INTELLI_ARTIFACTS_DIR": str(store)})
    err = (tmp_path / "err.txt").read_text()
    assert (tmp_path / "code").read_text().strip() == "1", err
    assert "Traceback" not in err and "Error occurred while executing" not in err
    report = json.loads((tmp_path / "out.json").read_text())
    errors = " ".join(report["errors"])
    assert f"cannot write {store}/{report['partition']}/" in errors and os_error in errors
    assert (tmp_path / "leftovers").read_text() == ""  # no chart could be written whole: no chart file


def test_dagster_tools_load_the_project_with_no_arguments(tmp_path):
    dagster = str(Path(sys.executable).parent / "dagster")
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    shutil.copyfile(PROJECT_ROOT / "intelli_assets" / "dagster.yaml", tmp_path / "dagster.yaml")
    validate = subprocess.run([dagster, "definitions", "validate"], cwd=PROJECT_ROOT, env=env,
                              capture_output=True, text=True, timeout=300)
    assert validate.returncode == 0, validate.stderr
    listed = subprocess.run([dagster, "asset", "list", "-m", "intelli_assets.definitions"], cwd=PROJECT_ROOT,
                            env=env, capture_output=True, text=True, timeout=300)
    assert listed.returncode == 0, listed.stderr
    assert "charts/cpc_treemap" in listed.stdout and "patent_dataset" in listed.stdout


def test_invalid_style_values_are_rejected_by_the_config_schema():
    """What the Launchpad and GraphQL check before a run is created."""
    from intelli_assets.definitions import defs

    job = defs.resolve_job_def("dataset_charts")
    for setting, value in (("palette", "neon"), ("font_size", "huge"), ("language", "fr"), ("formats", ["pdf"])):
        with pytest.raises(dg.DagsterInvalidConfigError, match=f"not in enum type .* got {value if setting != 'formats' else 'pdf'}"):
            dg.validate_run_config(job, {"ops": {"charts": {"config": {setting: value}}}})
    ok = dg.validate_run_config(job, {"ops": {"charts": {"config": {"palette": "ocean", "formats": ["svg"]}}}})
    assert ok["ops"]["charts"]["config"]["palette"] == "ocean"
