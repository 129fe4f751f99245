"""Keeping a SQLite instance's files open while a process writes a run's events
(`defs/runs/sqlite_connections.py`), on a real Dagster SQLite instance."""

import uuid
from pathlib import Path

import dagster as dg

from intelli_assets.defs.runs.sqlite_connections import sqlite_files_kept_open


def new_run(instance: dg.DagsterInstance) -> dg.DagsterRun:
    job = dg.GraphDefinition(name="nothing", node_defs=[]).to_job()
    return instance.create_run_for_job(job, run_id=str(uuid.uuid4()))


def test_while_kept_open_a_runs_event_log_keeps_its_write_ahead_log_and_loses_nothing(tmp_path):
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        run = new_run(instance)
        shard = Path(instance.event_log_storage.path_for_shard(run.run_id))
        wal = shard.with_name(shard.name + "-wal")

        instance.report_engine_event("before", run)
        assert shard.exists() and not wal.exists()  # the last connection's close checkpointed and removed it

        with sqlite_files_kept_open() as kept:
            for i in range(5):
                instance.report_engine_event(f"kept {i}", run)
                instance.report_runless_asset_event(dg.AssetObservation("kept", metadata={"i": i}))
                assert wal.exists()  # no event's close was the last one: the log stays
            assert str(shard) in kept.paths() and len(kept) <= kept.limit

        assert not wal.exists()  # closed with the context: checkpointed as before
        instance.report_engine_event("after", run)
        engine_events = instance.all_logs(run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT)
        messages = [record.dagster_event.message for record in engine_events]
        assert messages == ["before", *(f"kept {i}" for i in range(5)), "after"]
        observed = instance.fetch_observations(dg.AssetKey("kept"), limit=10).records
        assert sorted(r.asset_observation.metadata["i"].value for r in observed) == [0, 1, 2, 3, 4]


def test_only_the_latest_files_are_kept_and_in_memory_databases_are_left_alone(tmp_path):
    import sqlalchemy as sa
    from sqlalchemy.pool import NullPool

    def write(url: str) -> None:
        engine = sa.create_engine(url, poolclass=NullPool)
        with engine.connect() as connection:
            connection.execute(sa.text("CREATE TABLE IF NOT EXISTS t (x)"))
            connection.execute(sa.text("PRAGMA journal_mode=WAL"))
            connection.commit()
        engine.dispose()

    with sqlite_files_kept_open(limit=2) as kept:
        write("sqlite://")  # in memory: nothing to keep
        assert len(kept) == 0
        for name in ("a", "b", "c"):
            write(f"sqlite:///{tmp_path / name}.db")
        assert kept.paths() == [str(tmp_path / "b.db"), str(tmp_path / "c.db")]  # the oldest was closed
    assert len(kept) == 0
    write(f"sqlite:///{tmp_path / 'd'}.db")  # the listener is gone with the context
    assert len(kept) == 0


def test_a_context_inside_another_uses_the_same_connections(tmp_path):
    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        run = new_run(instance)
        with sqlite_files_kept_open() as outer:
            instance.report_engine_event("outer", run)
            held = outer.paths()
            with sqlite_files_kept_open() as inner:  # an inbox batch's dataset run
                assert inner is outer
                instance.report_engine_event("inner", run)
            assert outer.paths() == held and len(outer) > 0  # the inner one closed nothing
        assert len(outer) == 0


def test_a_file_it_cannot_open_stops_the_keeping_and_costs_nothing_else(tmp_path):
    with sqlite_files_kept_open() as kept:
        kept.keep(str(tmp_path))  # a folder: sqlite cannot open it (as with no file descriptor left)
        assert kept.given_up and str(tmp_path) in kept.given_up and len(kept) == 0
        (tmp_path / "home").mkdir()
        with dg.instance_for_test(temp_dir=str(tmp_path / "home")) as instance:  # events still written
            run = new_run(instance)
            instance.report_engine_event("written", run)
            assert len(kept) == 0
            assert [r.dagster_event.message for r in instance.all_logs(
                run.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT)] == ["written"]
