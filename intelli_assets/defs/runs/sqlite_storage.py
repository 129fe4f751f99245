"""Dagster's SQLite storage with its database connections kept, one engine per file.

Dagster's SQLite storages build a SQLAlchemy engine, open a connection and compile every
statement anew for each query and each event they write (`poolclass=NullPool`): about a
sixth of a chart run's time in this project (`bench/batch_bench.py`). `PooledSqliteStorage`
is `storage: sqlite:` with one engine per database file per process instead, so connections
and compiled statements are reused. Files, tables, migrations and locking are Dagster's own,
so a home moves between the two freely.

- `synchronous` (dagster.yaml) is SQLite's setting for the kept connections. NORMAL, the
  default, is SQLite's own advice for WAL databases: the files stay consistent whatever
  happens, and nothing written is lost when a process crashes or is killed; a power cut or a
  crash of the machine may lose the last transactions (as it may the chart files written
  just before it, which are not synced either). FULL syncs the log at every commit, as
  Dagster's own SQLite storage does: power-cut durable, ~5% slower for a batch of charts.
- No connection is open across a fork (SQLite's rule: a child's own connections to a file its
  parent had open would skip their locks): a process closes its idle connections before any
  `os.fork()` (the warm process, single-threaded, forks run workers; a connection another
  thread is using at that moment could not be closed), and engines are looked up by process
  id, so a child never uses one it inherited. A run's own file is closed when the run ends, and
  every file at a normal exit (a forked worker, which ends with `os._exit`, closes them
  first): closing folds a file's write-ahead log back into it and removes the log.
- Dagster's live run log (the UI's) watches a run's file for changes; with a connection kept,
  commits land in its write-ahead log, so the watcher is woken by either.
- A kept connection is checked against its file at each use: a database file replaced or
  removed since (a home wiped and created again) is opened afresh, never written through a
  connection to a deleted file.
- At most `MAX_ENGINES` files are kept open per process (the runs, index and schedules files,
  and the latest runs' event files); the least recently used are closed first.
"""

from __future__ import annotations

import atexit
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import dagster as dg
import sqlalchemy as db

# No public import exists for Dagster's SQLite storage classes; these are the ones that
# `storage: sqlite:` in dagster.yaml builds (dagster is pinned to one version in pyproject.toml).
from dagster._core.storage.event_log.sqlite.sqlite_event_log import (
    INDEX_SHARD_NAME,
    SQLITE_BUSY_TIMEOUT_SECONDS,
    SqliteEventLogStorage,
    SqliteEventLogStorageWatchdog,
)
from dagster._core.storage.runs.sqlite.sqlite_run_storage import SqliteRunStorage
from dagster._core.storage.schedules.sqlite.sqlite_schedule_storage import SqliteScheduleStorage
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage
from sqlalchemy import event, exc
from watchdog.events import FileSystemEvent, PatternMatchingEventHandler
from watchdog.observers import Observer

MAX_ENGINES = 16
SYNCHRONOUS_LEVELS = ("NORMAL", "FULL", "EXTRA")
RUN_ENDED = {dg.DagsterEventType.RUN_SUCCESS, dg.DagsterEventType.RUN_FAILURE, dg.DagsterEventType.RUN_CANCELED}

_engines: OrderedDict[tuple[int, str, str], db.Engine] = OrderedDict()
_engines_lock = threading.Lock()


def file_identity(path: str) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


def kept_engine(conn_string: str, synchronous: str, busy_timeout: float | None = None) -> db.Engine:
    """This process's engine for one SQLite file, made at its first use."""
    key = (os.getpid(), conn_string, synchronous)
    with _engines_lock:
        engine = _engines.get(key)
        if engine is not None:
            _engines.move_to_end(key)
            return engine
        connect_args = {} if busy_timeout is None else {"timeout": busy_timeout}
        # one connection kept; threads using the file at the same time get more, closed when returned
        engine = db.create_engine(conn_string, pool_size=1, max_overflow=-1, connect_args=connect_args)
        path = engine.url.database or ""

        def on_connect(dbapi_connection: Any, record: Any) -> None:
            dbapi_connection.execute(f"PRAGMA synchronous={synchronous}")
            record.info["file"] = file_identity(path)

        event.listen(engine, "connect", on_connect)
        event.listen(engine, "checkout", lambda _dbapi, record, _proxy: same_file(record, path))
        _engines[key] = engine
        mine = [k for k in _engines if k[0] == key[0]]  # a parent's engines stay as they are, unused
        for old in mine[:-MAX_ENGINES]:
            _engines.pop(old).dispose()
        return engine


def same_file(record: Any, path: str) -> None:
    """A kept connection whose file was replaced or removed since it opened it is let go."""
    if record.info.get("file") != file_identity(path):
        raise exc.DisconnectionError(f"{path} was replaced since this connection opened it")


def close_engines(where: Callable[[str], bool] = lambda _path: True) -> None:
    """Close this process's engines for the files `where` says (default: all). Closing the last
    connection to a file checkpoints its write-ahead log into it and removes the log."""
    with _engines_lock:
        for key in [k for k in _engines if k[0] == os.getpid()]:
            if where(os.path.abspath(_engines[key].url.database or "")):
                _engines.pop(key).dispose()


# SQLite's rule: no connection may be open across a fork (a child's own connections to the
# same file would then skip its locks). Idle connections are closed before any os.fork() (the
# warm process forks run workers), and all of them at a normal exit, which also folds each
# write-ahead log back into its file.
os.register_at_fork(before=close_engines)
atexit.register(close_engines)


@contextmanager
def transaction(engine: db.Engine) -> Iterator[db.Connection]:
    with engine.connect() as conn, conn.begin():
        yield conn


class KeptSqliteEventLogStorage(SqliteEventLogStorage):
    """Dagster's per-run event files and index file, through kept engines."""

    synchronous = SYNCHRONOUS_LEVELS[0]

    @contextmanager
    def _connect(self, shard: str) -> Iterator[db.Connection]:
        with self._db_lock:  # as Dagster's: one thread at a time (the event log watcher, a run)
            engine = kept_engine(self.conn_string_for_shard(shard), self.synchronous, SQLITE_BUSY_TIMEOUT_SECONDS)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with transaction(engine) as conn:
                yield conn

    def has_table(self, table_name: str) -> bool:  # asked before every dynamic partition lookup
        engine = kept_engine(self.conn_string_for_shard(INDEX_SHARD_NAME), self.synchronous,
                             SQLITE_BUSY_TIMEOUT_SECONDS)
        with engine.connect() as conn:
            return bool(engine.dialect.has_table(conn, table_name))

    def store_event(self, event: dg.EventLogEntry) -> None:
        super().store_event(event)
        if event.dagster_event is not None and event.dagster_event.event_type in RUN_ENDED:
            # its file is done with: closed now, so its write-ahead log goes back into it
            shard = os.path.abspath(self.path_for_shard(event.run_id))
            close_engines(lambda path: path == shard)

    def watch(self, run_id: str, cursor: str | None, callback: Callable) -> None:
        """As Dagster's (the UI's live run log), also woken by the run's write-ahead log: with
        a connection kept, commits land there, not in the database file it watches."""
        if not self._obs:
            self._obs = Observer()
            self._obs.start()
        watchdog = RunLogWatchdog(self, run_id, callback, cursor)
        self._watchers[run_id][callback] = (watchdog, self._obs.schedule(watchdog, self._base_dir, recursive=True))

    def dispose(self) -> None:
        super().dispose()
        directory = os.path.abspath(self._base_dir)
        close_engines(lambda path: os.path.dirname(path) == directory)


class RunLogWatchdog(SqliteEventLogStorageWatchdog):
    """Dagster's watcher of one run's events, woken by its database file or its write-ahead log."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        PatternMatchingEventHandler.__init__(self, patterns=[self._log_path, self._log_path + "-wal"])

    def on_modified(self, event: FileSystemEvent) -> None:
        self._process_log()


class KeptConnect:
    """`connect()` of Dagster's one-file SQLite storages (runs, schedules), through a kept engine."""

    synchronous = SYNCHRONOUS_LEVELS[0]
    _conn_string: str

    @contextmanager
    def connect(self) -> Iterator[db.Connection]:
        with transaction(kept_engine(self._conn_string, self.synchronous)) as conn:
            yield conn

    def dispose(self) -> None:
        super().dispose()  # type: ignore[misc]  # the storage class it is mixed into
        database = os.path.abspath(db.make_url(self._conn_string).database or "")
        close_engines(lambda path: path == database)


class KeptSqliteRunStorage(KeptConnect, SqliteRunStorage):
    """Dagster's runs file, through a kept engine."""


class KeptSqliteScheduleStorage(KeptConnect, SqliteScheduleStorage):
    """Dagster's schedules and sensor ticks file, through a kept engine."""


class PooledSqliteStorage(DagsterSqliteStorage):
    """`storage: sqlite:` (the same files under `base_dir`) with its connections kept. In
    dagster.yaml: `storage: {custom: {module: intelli_assets.defs.runs.sqlite_storage, class:
    PooledSqliteStorage, config: {base_dir: ..., synchronous: NORMAL}}}`."""

    def __init__(self, base_dir: str, inst_data: Any = None, synchronous: str = SYNCHRONOUS_LEVELS[0]) -> None:
        level = str(synchronous).upper()
        if level not in SYNCHRONOUS_LEVELS:
            raise dg.DagsterInvalidConfigError(
                f"storage: custom: config: synchronous: {synchronous!r}: expected one of "
                f"{', '.join(SYNCHRONOUS_LEVELS)} (SQLite's `synchronous` for the instance's files)", [], synchronous)
        self.base_dir = base_dir
        self._run_storage = KeptSqliteRunStorage.from_local(os.path.join(base_dir, "history", ""))
        self._event_log_storage = KeptSqliteEventLogStorage(os.path.join(base_dir, "history", "runs", ""))
        self._schedule_storage = KeptSqliteScheduleStorage.from_local(os.path.join(base_dir, "schedules"))
        for storage in (self._run_storage, self._event_log_storage, self._schedule_storage):
            storage.synchronous = level
        self._inst_data = inst_data
        super(DagsterSqliteStorage, self).__init__()  # DagsterStorage's own set-up, not the plain storages

    @classmethod
    def config_type(cls) -> dict:
        return {"base_dir": dg.StringSource,
                "synchronous": dg.Field(dg.StringSource, is_required=False, default_value=SYNCHRONOUS_LEVELS[0])}

    @classmethod
    def from_config_value(cls, inst_data: Any, config_value: Any) -> PooledSqliteStorage:
        return cls.from_local(inst_data=inst_data, **config_value)

    @classmethod
    def from_local(cls, base_dir: str, inst_data: Any = None, synchronous: str = SYNCHRONOUS_LEVELS[0]
                   ) -> PooledSqliteStorage:
        os.makedirs(base_dir, exist_ok=True)
        return cls(base_dir, inst_data=inst_data, synchronous=synchronous)
