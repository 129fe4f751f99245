"""The project's SQLite storage (`defs/runs/sqlite_storage.py`): Dagster's own SQLite files and
tables through one kept engine per file, on real instances built from the project's dagster.yaml."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import dagster as dg
import pytest

from intelli_assets.defs.runs import sqlite_storage
from intelli_assets.defs.runs.sqlite_storage import (
    MAX_ENGINES,
    KeptSqliteEventLogStorage,
    KeptSqliteRunStorage,
    PooledSqliteStorage,
    kept_engine,
)
from intelli_assets_tests.postgres import INSTANCE_CONFIGS
from intelli_assets_tests.test_cli import intelli
from intelli_assets_tests.waiting import wait_for

PLAIN_SQLITE = "storage:\n  sqlite:\n    base_dir: {home}\n"


@pytest.fixture(autouse=True)
def dagster_home(tmp_path, monkeypatch) -> Path:
    """The project's dagster.yaml reads its base_dir from $DAGSTER_HOME."""
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def project_home(tmp_path: Path, synchronous: str = "NORMAL") -> Path:
    home = tmp_path / "home"
    home.mkdir()
    config = INSTANCE_CONFIGS["sqlite"].read_text().replace("synchronous: NORMAL", f"synchronous: {synchronous}")
    (home / "dagster.yaml").write_text(config)
    return home


def instance_at(home: Path) -> dg.DagsterInstance:
    return dg.DagsterInstance.from_config(str(home))


def new_run(instance: dg.DagsterInstance) -> dg.DagsterRun:
    job = dg.GraphDefinition(name="nothing", node_defs=[]).to_job()
    return instance.create_run_for_job(job, run_id=str(uuid.uuid4()))


def engine_events(instance: dg.DagsterInstance, run_id: str) -> list[str]:
    records = instance.all_logs(run_id, of_type=dg.DagsterEventType.ENGINE_EVENT)
    return [record.dagster_event.message for record in records]


def test_the_project_instance_writes_dagsters_own_sqlite_files_through_kept_connections(tmp_path):
    home = project_home(tmp_path)
    with instance_at(home) as instance:
        assert isinstance(instance.event_log_storage, KeptSqliteEventLogStorage)
        assert isinstance(instance.run_storage, KeptSqliteRunStorage)
        run = new_run(instance)
        for i in range(3):
            instance.report_engine_event(f"event {i}", run)
        instance.report_runless_asset_event(dg.AssetMaterialization("kept", metadata={"n": 1}))
        shard = instance.event_log_storage.path_for_shard(run.run_id)
        engine = kept_engine(f"sqlite:///{shard}", "NORMAL", sqlite_storage.SQLITE_BUSY_TIMEOUT_SECONDS)
        assert engine.pool.checkedin() == 1  # one connection, kept between events
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 1  # NORMAL
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
    # the same files read by Dagster's plain `storage: sqlite:`: a home moves between the two freely
    (home / "dagster.yaml").write_text(PLAIN_SQLITE.format(home=home))
    with instance_at(home) as plain:
        assert type(plain.event_log_storage).__name__ == "SqliteEventLogStorage"
        assert engine_events(plain, run.run_id) == ["event 0", "event 1", "event 2"]
        assert plain.get_run_by_id(run.run_id).job_name == "nothing"
        event = plain.get_latest_materialization_event(dg.AssetKey("kept"))
        assert event.asset_materialization.metadata["n"].value == 1
        plain.report_engine_event("from plain", plain.get_run_by_id(run.run_id))
    (home / "dagster.yaml").write_text(INSTANCE_CONFIGS["sqlite"].read_text())
    with instance_at(home) as pooled_again:
        assert engine_events(pooled_again, run.run_id)[-1] == "from plain"


def test_synchronous_full_is_honoured_and_a_bad_level_is_a_clear_error(tmp_path):
    home = project_home(tmp_path, synchronous="FULL")
    with instance_at(home) as instance:
        instance.get_runs(limit=1)
        runs_db = home / "history" / "runs.db"
        with kept_engine(f"sqlite:///{runs_db}", "FULL").connect() as conn:
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2
    (home / "dagster.yaml").write_text(INSTANCE_CONFIGS["sqlite"].read_text().replace(
        "synchronous: NORMAL", "synchronous: sometimes"))
    result = intelli("status", "no-such-job", home=home)
    assert result.returncode == 2
    assert "synchronous: 'sometimes': expected one of NORMAL, FULL, EXTRA" in result.stderr
    assert str(home / "dagster.yaml") in result.stderr and "Traceback" not in result.stderr


def test_a_forked_process_never_uses_its_parents_connections(tmp_path):
    home = project_home(tmp_path)
    with instance_at(home) as instance:
        run = new_run(instance)
        instance.report_engine_event("parent before", run)
        shard = instance.event_log_storage.path_for_shard(run.run_id)
        parent_engine = kept_engine(f"sqlite:///{shard}", "NORMAL", sqlite_storage.SQLITE_BUSY_TIMEOUT_SECONDS)
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: as a run worker forked from the warm process
            status = 1
            try:
                child_engine = kept_engine(f"sqlite:///{shard}", "NORMAL", sqlite_storage.SQLITE_BUSY_TIMEOUT_SECONDS)
                instance.report_engine_event("child", run)
                os.write(write, b"new" if child_engine is not parent_engine else b"same")
                status = 0
            finally:
                os._exit(status)
        os.close(write)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert os.read(read, 10) == b"new"
        os.close(read)
        instance.report_engine_event("parent after", run)  # the parent's kept connection still works
        assert engine_events(instance, run.run_id) == ["parent before", "child", "parent after"]


def test_a_database_file_replaced_under_a_kept_connection_is_opened_afresh(tmp_path):
    home = project_home(tmp_path)
    with instance_at(home) as instance:
        first = new_run(instance)
        instance.report_engine_event("old home", first)
    saved = tmp_path / "saved-history"
    shutil.copytree(home / "history", saved)
    with instance_at(home) as instance:
        second = new_run(instance)
        runs_db = home / "history" / "runs.db"
        # the runs file is replaced while this process keeps a connection to it (a restored backup)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{runs_db}{suffix}").unlink(missing_ok=True)
        shutil.copy(saved / "runs.db", runs_db)
        assert instance.get_run_by_id(second.run_id) is None  # read from the restored file
        third = new_run(instance)  # written to it, not to the deleted one
    with sqlite3.connect(home / "history" / "runs.db") as raw:
        ids = {row[0] for row in raw.execute("SELECT run_id FROM runs")}
    assert ids == {first.run_id, third.run_id}


def test_only_the_latest_files_stay_open_and_disposing_closes_them(tmp_path):
    home = project_home(tmp_path)
    mine = [key for key in sqlite_storage._engines if key[0] == os.getpid()]
    with instance_at(home) as instance:
        runs = [new_run(instance) for _ in range(MAX_ENGINES + 4)]
        for run in runs:
            instance.report_engine_event("hello", run)
        open_now = [key for key in sqlite_storage._engines if key[0] == os.getpid()]
        assert len(open_now) == MAX_ENGINES
        assert any(runs[-1].run_id in key[1] for key in open_now)
        assert not any(runs[0].run_id in key[1] for key in open_now)  # the least recent, closed
        assert engine_events(instance, runs[0].run_id) == ["hello"]  # and opened again when read
    left = [key for key in sqlite_storage._engines if key[0] == os.getpid() and str(home) in key[1]]
    assert left == [] and len(mine) <= MAX_ENGINES


@pytest.mark.parametrize("level", ["normal", "FULL", "EXTRA"])
def test_the_storage_accepts_sqlites_levels_in_any_case(tmp_path, level):
    storage = PooledSqliteStorage.from_local(str(tmp_path / "home"), synchronous=level)
    assert storage.run_storage.synchronous == level.upper()
    storage.dispose()


def test_a_runs_file_is_folded_back_when_the_run_ends_and_the_live_log_sees_every_event(tmp_path):
    home = project_home(tmp_path)

    @dg.asset
    def one() -> int:
        return 1

    with instance_at(home) as writer, instance_at(home) as watcher:
        run = new_run(writer)
        seen: list[str] = []
        watcher.watch_event_logs(run.run_id, None, lambda record, _cursor: seen.append(record.message))
        for i in range(3):  # the UI's live run log: each event seen as it is written, not at the run's end
            writer.report_engine_event(f"live {i}", run)
            wait_for(lambda i=i: f"live {i}" in seen, timeout=20, message=f"live {i} not seen: {seen}")
        shard = Path(writer.event_log_storage.path_for_shard(run.run_id))
        assert Path(f"{shard}-wal").exists()  # kept open while the run writes
        result = dg.materialize([one], instance=writer)
        done = Path(writer.event_log_storage.path_for_shard(result.run_id))
        assert not Path(f"{done}-wal").exists()  # the run ended: its file closed, the log folded back
        with sqlite3.connect(done) as raw:
            stored = raw.execute("SELECT count(*) FROM event_logs").fetchone()[0]
        assert stored == len(writer.all_logs(result.run_id)) > 5


def test_a_process_that_exits_leaves_each_file_whole_without_its_write_ahead_log(tmp_path):
    home = project_home(tmp_path)
    code = ("import dagster as dg\n"
            "i = dg.DagsterInstance.get()\n"
            "run = i.create_run_for_job(dg.GraphDefinition(name='nothing', node_defs=[]).to_job())\n"
            "i.report_engine_event('from a process that then exits', run)\n"
            "print(run.run_id)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={**os.environ, "DAGSTER_HOME": str(home)}, timeout=120)
    run_id = done.stdout.strip()
    assert sorted(p.name for p in (home / "history").rglob("*-wal")) == []
    with sqlite3.connect(home / "history" / "runs.db") as raw:  # the file alone holds the run
        assert raw.execute("SELECT count(*) FROM runs WHERE run_id = ?", (run_id,)).fetchone()[0] == 1


def test_a_fork_while_a_connection_is_kept_leaves_the_files_whole(tmp_path):
    """SQLite's rule: no connection open across a fork. The parent keeps one, forks, and then
    the two processes write the same files at once."""
    home = project_home(tmp_path)
    with instance_at(home) as instance:
        run = new_run(instance)
        instance.report_engine_event("before the fork", run)
        pid = os.fork()
        if pid == 0:
            status = 1
            try:
                inherited = [key for key in sqlite_storage._engines if key[0] == os.getppid()]
                for i in range(150):
                    instance.report_engine_event(f"child {i}", run)
                status = 0 if inherited == [] else 3  # closed before the fork, none inherited
            finally:
                os._exit(status)
        for i in range(150):
            instance.report_engine_event(f"parent {i}", run)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        messages = engine_events(instance, run.run_id)
    assert len(messages) == 301 and len(set(messages)) == 301
    for database in [*(home / "history" / "runs").glob("*.db"), home / "history" / "runs.db"]:
        with sqlite3.connect(database) as raw:
            assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok", database


def test_intelli_run_exits_leaving_no_write_ahead_log_behind(tmp_path):
    """The CLI ends with os._exit (no interpreter teardown, no atexit): it closes the files itself."""
    from intelli_assets.sample_workbook import write_sample_workbook

    home = project_home(tmp_path)
    workbook = write_sample_workbook(tmp_path / "landscape.xlsx")
    result = intelli("run", str(workbook), "--charts", "top_patent_countries", home=home)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in home.rglob("*.db-wal")) == []
    with sqlite3.connect(home / "history" / "runs.db") as raw:  # the file alone holds the run
        assert raw.execute("SELECT status FROM runs").fetchall() == [("SUCCESS",)]
