"""Opening the instance: $DAGSTER_HOME set up once (under a lock), pool limits, dead runs failed."""


from __future__ import annotations

import fcntl
import logging
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import dagster as dg

from intelli_assets.artifacts import instance_home
from intelli_assets.defs.runs.ownership import fail_orphaned_runs
from intelli_assets.errors import IntelliError

INSTANCE_TEMPLATE = Path(__file__).resolve().parent.parent / "dagster.yaml"
POOL_LIMITS = {"ingestion_io": 4, "charts_cpu": 2, "ai": 2}  # the old backend's Celery queue sizes
DATABASE_LOCK_KEY = 0x1A7E11_5E7  # any fixed bigint: PostgreSQL's advisory lock for our set-up
# duplicate_table, duplicate_object: another home creating the same PostgreSQL tables right now
TABLE_RACE_CODES = {"42P07", "42710"}
TABLE_RACE_ATTEMPTS = 8
log = logging.getLogger(__name__)



def prepare_home() -> Path:
    """Make $DAGSTER_HOME exist (default ./.dagster_home) with our dagster.yaml in it."""
    home = instance_home()
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(home)
    config = home / "dagster.yaml"
    if not config.exists():  # written whole, then renamed: a racing process never reads half of it
        tmp = home / f".dagster.yaml.tmp-{os.getpid()}"
        shutil.copyfile(INSTANCE_TEMPLATE, tmp)
        tmp.replace(config)
    return home


@contextmanager
def setup_lock(home: Path) -> Iterator[None]:
    """One process at a time sets up an instance: two first runs on a new home would both
    create the SQLite tables and pool rows, and one of them crash."""
    with open(home / ".intelli-setup.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@contextmanager
def database_lock(instance: dg.DagsterInstance) -> Iterator[None]:
    """On PostgreSQL, one database is shared by homes the file lock cannot see (the daemon's,
    the webserver's, `intelli` on other hosts): their first set-ups would insert the same pool
    limits at once and all but one crash on the unique key. A session advisory lock, which
    PostgreSQL also releases if the process dies. SQLite: nothing to do."""
    storage = instance.run_storage
    if not getattr(storage, "postgres_url", None):  # not dagster-postgres (imported only when in use)
        yield
        return
    import sqlalchemy

    with storage.connect() as conn:  # type: ignore[attr-defined] - PostgresRunStorage, autocommit
        conn.execute(sqlalchemy.text("SELECT pg_advisory_lock(:key)"), {"key": DATABASE_LOCK_KEY})
        try:
            yield
        finally:
            conn.execute(sqlalchemy.text("SELECT pg_advisory_unlock(:key)"), {"key": DATABASE_LOCK_KEY})


def ensure_pool_limits(instance: dg.DagsterInstance) -> list[str]:
    """Per-pool limits live in the instance's storage, not dagster.yaml: set missing ones
    (limits an operator changed are kept). Returns the pools it set."""
    storage = instance.event_log_storage
    missing = [pool for pool in POOL_LIMITS if pool not in storage.get_concurrency_keys()]
    for pool in missing:
        storage.set_concurrency_slots(pool, POOL_LIMITS[pool])
    return missing


def instance_with_tables() -> dg.DagsterInstance:
    """The instance, its tables created. Homes sharing a new PostgreSQL database create the same
    tables at once, and the loser of that race fails; dagster-postgres retries a duplicate table
    but not the duplicate row type (42710) the same race raises, so the whole set-up is tried
    again: the tables are there by then."""
    attempt = 1
    while True:
        instance = None
        try:
            instance = dg.DagsterInstance.get()
            instance.get_runs(limit=1)  # run storage, event index and schedule tables, created now
            instance.all_instigator_state()
            return instance
        except Exception as exc:
            if instance is not None:
                instance.dispose()
            if getattr(getattr(exc, "orig", None), "pgcode", None) not in TABLE_RACE_CODES or \
                    attempt == TABLE_RACE_ATTEMPTS:
                raise
            log.warning("another process is creating the instance's PostgreSQL tables at the same time; trying "
                        "again (attempt %d of %d)", attempt + 1, TABLE_RACE_ATTEMPTS)
        time.sleep(0.1 * attempt)
        attempt += 1


def open_instance() -> dg.DagsterInstance:
    """The instance in $DAGSTER_HOME (SQLite, or PostgreSQL if its dagster.yaml says so), set
    up (tables, pool limits) under a lock, with the runs of dead `intelli` processes marked
    failed so they hold no pool slot."""
    home = prepare_home()
    with setup_lock(home):
        try:
            instance = instance_with_tables()
        except dg.DagsterInvalidConfigError as exc:  # a typo in dagster.yaml: say so, not a traceback
            problems = "; ".join(error.message for error in exc.errors) or str(exc)
            raise IntelliError(f"{home / 'dagster.yaml'}: {problems}") from None
        with database_lock(instance):
            ensure_pool_limits(instance)
            fail_orphaned_runs(instance)
    return instance


def close_instance_files() -> None:
    """Close the SQLite files this process keeps open (see `defs/runs/sqlite_storage.py`), as
    its exit would: for a process that ends with `os._exit`."""
    from intelli_assets.defs.runs.sqlite_storage import close_engines

    close_engines()
