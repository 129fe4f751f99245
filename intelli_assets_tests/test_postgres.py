"""PostgreSQL storage: deploy/postgres/dagster.yaml is the SQLite instance with another storage
(and cannot drift from it), and `intelli` sets up and reaps on a real PostgreSQL as on SQLite.
The end-to-end runs on both backends are in test_cli.py, test_inbox.py and test_webserver.py."""

from __future__ import annotations

import os
import subprocess
import sys

import dagster as dg
import pytest
import yaml

from intelli_assets.launch.instance import DATABASE_LOCK_KEY, POOL_LIMITS
from intelli_assets_tests.postgres import INSTANCE_CONFIGS, InstanceHome, PostgresServer, make_instance_home
from intelli_assets_tests.test_cli import intelli
from intelli_assets_tests.test_run_hardening import kill_mid_run, restore_dagster_home
from intelli_assets_tests.waiting import wait_for

__all__ = ["restore_dagster_home"]  # the fixture: kill_mid_run changes DAGSTER_HOME
PG_VARIABLES = {"hostname": "DAGSTER_PG_HOST", "port": "DAGSTER_PG_PORT", "username": "DAGSTER_PG_USER",
                "password": "DAGSTER_PG_PASSWORD", "db_name": "DAGSTER_PG_DB"}


def instance_yaml(backend: str) -> dict:
    return yaml.safe_load(INSTANCE_CONFIGS[backend].read_text())


def test_the_postgres_instance_is_the_sqlite_one_with_another_storage():
    sqlite, postgres = instance_yaml("sqlite"), instance_yaml("postgres")
    assert set(sqlite) == set(postgres)
    for section in sorted(set(sqlite) - {"storage"}):
        assert postgres[section] == sqlite[section], f"section {section!r} differs: change both files"
    assert list(sqlite["storage"]) == ["custom"]  # Dagster's SQLite storage, connections kept (test_sqlite_storage.py)
    assert sqlite["storage"]["custom"]["class"] == "PooledSqliteStorage"
    assert list(postgres["storage"]) == ["postgres"]


def test_the_postgres_storage_is_configured_by_the_five_variables_only(monkeypatch):
    from dagster._config import process_config
    from dagster_postgres import DagsterPostgresStorage
    from dagster_postgres.utils import pg_url_from_config

    storage = instance_yaml("postgres")["storage"]["postgres"]
    assert list(storage) == ["postgres_db"]  # no postgres_url beside it: one way in
    db = storage["postgres_db"]
    assert {k: v for k, v in db.items() if k != "scheme"} == {k: {"env": v} for k, v in PG_VARIABLES.items()}
    assert db["scheme"] == "postgresql+psycopg2"  # SQLAlchemy 2.1's default driver is psycopg 3, not installed
    values = {"DAGSTER_PG_HOST": "db.internal", "DAGSTER_PG_PORT": "6543", "DAGSTER_PG_USER": "intelli",
              "DAGSTER_PG_PASSWORD": "p@ss word", "DAGSTER_PG_DB": "dagster"}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    resolved = process_config(DagsterPostgresStorage.config_type(), storage)  # dagster-postgres's own schema
    assert resolved.success, resolved.errors
    assert pg_url_from_config(resolved.value) == "postgresql+psycopg2://intelli:p%40ss%20word@db.internal:6543/dagster"


def open_instance_in(home: InstanceHome) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "from intelli_assets.launch import open_instance; open_instance()"],
                            env={**os.environ, **home.env}, stderr=subprocess.PIPE, text=True)


def test_homes_sharing_one_database_set_it_up_at_once(request, tmp_path, postgres_server: PostgresServer):
    """The daemon's, the webserver's and a CLI's homes on one database, first started together:
    a file lock in each home cannot order them, so the set-up takes a PostgreSQL advisory lock.
    The test holds that lock until all four wait on it, then lets them race: tables and pool
    limits once, no process crashing on another's rows."""
    first = make_instance_home(request, tmp_path / "home-0", "postgres")
    homes = [first, *(make_instance_home(request, tmp_path / f"home-{n}", "postgres", first.database)
                      for n in range(1, 4))]
    held = postgres_server.connect(first.database)
    try:
        held.cursor().execute("SELECT pg_advisory_lock(%s)", (DATABASE_LOCK_KEY,))
        setups = [open_instance_in(home) for home in homes]

        def all_waiting() -> bool:
            for proc in setups:
                assert proc.poll() is None, proc.stderr.read()  # none may finish while the lock is held
            return postgres_server.query(first.database, "SELECT count(*) FROM pg_locks l JOIN pg_database d "
                                         "ON d.oid = l.database WHERE l.locktype = 'advisory' AND NOT l.granted "
                                         "AND d.datname = %s", (first.database,)) == [(len(homes),)]

        wait_for(all_waiting, timeout=180, interval=0.2, message="the set-ups did not wait for the database lock")
    finally:
        held.close()  # releases the lock: all four go at once
    for proc in setups:
        assert proc.wait(timeout=180) == 0, proc.stderr.read()
    limits = postgres_server.query(first.database, 'SELECT concurrency_key, "limit" FROM concurrency_limits')
    assert dict(limits) == POOL_LIMITS and len(limits) == len(POOL_LIMITS)
    slots = postgres_server.query(first.database, "SELECT concurrency_key, count(*) FROM concurrency_slots "
                                                  "WHERE NOT deleted GROUP BY concurrency_key")
    assert dict(slots) == POOL_LIMITS
    for home in homes:  # the operator's PostgreSQL dagster.yaml was kept, and nothing went to SQLite
        assert "postgres:" in (home.path / "dagster.yaml").read_text() and home.stored_runs() == {}


def test_a_set_up_that_loses_the_table_race_tries_again(request, tmp_path, postgres_server: PostgresServer):
    """Two homes creating a new database's tables at once: the loser's CREATE TABLE can fail on
    the table's row type, which another process has just created (42710, seen in CI), and which
    dagster-postgres does not retry. A type of that name stands in for the other process: the
    set-up must say so and try again, and succeed once that process has made its tables."""
    from dagster_postgres import PostgresScheduleStorage
    from dagster_postgres.utils import pg_url_from_config

    home = make_instance_home(request, tmp_path / "home", "postgres")
    other = postgres_server.connect(home.database)
    other.autocommit = True
    try:
        other.cursor().execute("CREATE TYPE instigators AS ENUM ('x')")
        setup = open_instance_in(home)
        lines = []
        while "trying again" not in (line := setup.stderr.readline()):
            assert line, "".join(lines)  # it ended without trying again
            lines.append(line)
        # the other process done: the type was its table's, created with the rest of its tables
        other.cursor().execute("DROP TYPE instigators")
        PostgresScheduleStorage.create_clean_storage(pg_url_from_config({"postgres_db": {
            "username": postgres_server.user, "password": postgres_server.password, "hostname": postgres_server.host,
            "port": postgres_server.port, "db_name": home.database, "scheme": "postgresql+psycopg2"}})).dispose()
    finally:
        other.close()
    assert setup.wait(timeout=180) == 0, "".join(lines) + setup.stderr.read()
    assert postgres_server.query(home.database, "SELECT count(*) FROM instigators") == [(0,)]
    limits = postgres_server.query(home.database, 'SELECT concurrency_key, "limit" FROM concurrency_limits')
    assert dict(limits) == POOL_LIMITS


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["postgres"])  # SQLite: test_run_hardening.py
def test_a_killed_run_on_postgres_is_failed_at_the_next_start(backend_home: InstanceHome, sample_workbook):
    dead = kill_mid_run(backend_home.path, sample_workbook)
    assert backend_home.stored_runs() == {dead.run_id: "STARTED"}
    proc = intelli("run", str(sample_workbook), "--charts", "cpc_treemap", "--json", home=backend_home.path)
    assert proc.returncode == 0, proc.stderr
    runs = backend_home.stored_runs()
    assert runs.pop(dead.run_id) == "FAILURE" and list(runs.values()) == ["SUCCESS"]
    claimed = backend_home.server.query(backend_home.database,
                                        "SELECT count(*) FROM concurrency_slots WHERE run_id IS NOT NULL")
    assert claimed == [(0,)]  # the dead run's slot is free
    with dg.DagsterInstance.from_config(str(backend_home.path)) as instance:  # and Dagster agrees
        assert instance.get_run_by_id(dead.run_id).status == dg.DagsterRunStatus.FAILURE
