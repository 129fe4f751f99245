"""Keeping the instance's SQLite files open while a process writes a run's events.

For a home still on `storage: sqlite:` (the project's dagster.yaml keeps its connections
anyway: `sqlite_storage.py`). Dagster's SQLite storages open a new connection for every event and close it after the commit
(no pool). Closing the last connection to a database in WAL mode checkpoints its log into the
database (two more fsyncs) and deletes it, and the next event creates it again: most of an
event's cost when several runs write at once. While `sqlite_files_kept_open()` lasts, this
process holds one idle connection to each SQLite file it writes, so no event's close is the
last one: the log stays, and SQLite checkpoints it every 1000 pages as usual. Nothing about
what is written, or when it is durable, changes. Other storages (PostgreSQL) are left alone.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

KEEP_AT_MOST = 8  # the instance's index, runs and schedules files, and the latest run files


@dataclass
class Kept:
    connection: sqlite3.Connection
    inode: int  # of the file it opened: a file replaced since is opened again
    in_wal: bool = False  # it has seen the file in WAL mode, so it keeps the log alive


class KeptConnections:
    """One idle connection per SQLite file this process connects to, the least recent closed
    beyond `limit`. Each is touched (a read that ends at once) until it has seen the file in
    WAL mode. A file that cannot be opened (e.g. no file descriptor left) stops the keeping:
    Dagster's own connections come first."""

    def __init__(self, limit: int = KEEP_AT_MOST) -> None:
        self.limit = limit
        self.given_up: str | None = None  # why it stopped keeping files
        self._kept: OrderedDict[str, Kept] = OrderedDict()
        self._lock = threading.Lock()

    def on_connect(self, dbapi_connection: object, _record: object) -> None:
        if self.given_up or not isinstance(dbapi_connection, sqlite3.Connection):
            return
        try:
            path = next((row[2] for row in dbapi_connection.execute("PRAGMA database_list").fetchall()
                         if row[1] == "main"), "")
        except sqlite3.Error:
            return
        if path:  # not an in-memory database
            self.keep(path)

    def keep(self, path: str) -> None:
        with self._lock:
            try:
                inode = os.stat(path).st_ino
            except OSError:
                return
            kept = self._kept.pop(path, None)
            if kept is not None and kept.inode != inode:  # replaced: the old file is let go
                kept.connection.close()
                kept = None
            if kept is None:
                try:  # no busy wait: a file another process has locked is touched at the next connect
                    kept = Kept(sqlite3.connect(path, timeout=0, check_same_thread=False), inode)
                except (sqlite3.Error, OSError) as exc:
                    self.given_up = f"{path}: {exc}"
                    return
            if not kept.in_wal:
                try:  # a read (ended at once) makes it see the mode the file is in now
                    kept.connection.execute("SELECT count(*) FROM sqlite_master").fetchall()
                    kept.in_wal = kept.connection.execute("PRAGMA journal_mode").fetchall() == [("wal",)]
                except sqlite3.Error:
                    pass
            self._kept[path] = kept
            while len(self._kept) > self.limit:
                self._kept.popitem(last=False)[1].connection.close()

    def close(self) -> None:
        with self._lock:
            for kept in self._kept.values():
                kept.connection.close()
            self._kept.clear()

    def paths(self) -> list[str]:
        """The files kept open, least recently connected to first."""
        with self._lock:
            return list(self._kept)

    def __len__(self) -> int:
        with self._lock:
            return len(self._kept)


# SQLAlchemy's listeners are per process, so is the keeper: a context inside another (an inbox
# batch's dataset runs, inside the batch run's worker) uses the one already there
_active: KeptConnections | None = None
_active_lock = threading.Lock()


@contextmanager
def sqlite_files_kept_open(limit: int = KEEP_AT_MOST) -> Iterator[KeptConnections]:
    """While it lasts, every SQLite file a SQLAlchemy engine of this process connects to is
    kept open by an idle connection (see the module's docstring). Re-entrant."""
    global _active
    from sqlalchemy import event  # imported when used: the CLI's commands import this module early
    from sqlalchemy.engine import Engine

    with _active_lock:
        outer = _active
        if outer is None:
            _active = KeptConnections(limit)
            event.listen(Engine, "connect", _active.on_connect)
        kept = _active
    if outer is not None:
        yield outer
        return
    try:
        yield kept
    finally:
        with _active_lock:
            event.remove(Engine, "connect", kept.on_connect)
            _active = None
        kept.close()
