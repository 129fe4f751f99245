"""Keeping the instance's SQLite files open while a process writes a run's events.

Dagster's SQLite storages open a new connection for every event and close it after the commit
(no pool). Closing the last connection to a database in WAL mode checkpoints its log into the
database (two more fsyncs) and deletes it, and the next event creates it again: most of an
event's cost when several runs write at once. While `sqlite_files_kept_open()` lasts, this
process holds one idle connection to each SQLite file it writes, so no event's close is the
last one: the log stays, and SQLite checkpoints it every 1000 pages as usual. Nothing about
what is written, or when it is durable, changes. Other storages (PostgreSQL) are left alone.
"""

from __future__ import annotations

import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event
from sqlalchemy.engine import Engine

KEEP_AT_MOST = 8  # the instance's index, runs and schedules files, and the latest run files


class KeptConnections:
    """One idle connection per SQLite file this process connects to, the least recent closed
    beyond `limit`. Each is touched (a read that ends at once) until it has seen the file in
    WAL mode: only then does it keep the log alive."""

    def __init__(self, limit: int = KEEP_AT_MOST) -> None:
        self.limit = limit
        self._kept: OrderedDict[str, tuple[sqlite3.Connection, bool]] = OrderedDict()
        self._lock = threading.Lock()

    def on_connect(self, dbapi_connection: object, _record: object) -> None:
        if not isinstance(dbapi_connection, sqlite3.Connection):
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
            connection, in_wal = self._kept.pop(path, (None, False))
            if connection is None:
                # no busy wait: a file another process has locked is touched at the next connect
                connection = sqlite3.connect(path, timeout=0, check_same_thread=False)
            if not in_wal:
                try:  # a read (ended at once) makes it see the mode the file is in now
                    connection.execute("SELECT count(*) FROM sqlite_master").fetchall()
                    in_wal = connection.execute("PRAGMA journal_mode").fetchall() == [("wal",)]
                except sqlite3.Error:
                    in_wal = False
            self._kept[path] = (connection, in_wal)
            while len(self._kept) > self.limit:
                self._kept.popitem(last=False)[1][0].close()

    def close(self) -> None:
        with self._lock:
            for connection, _ in self._kept.values():
                connection.close()
            self._kept.clear()

    def paths(self) -> list[str]:
        """The files kept open, least recently connected to first."""
        with self._lock:
            return list(self._kept)

    def __len__(self) -> int:
        return len(self._kept)


@contextmanager
def sqlite_files_kept_open(limit: int = KEEP_AT_MOST) -> Iterator[KeptConnections]:
    """While it lasts, every SQLite file a SQLAlchemy engine of this process connects to is
    kept open by an idle connection (see the module's docstring)."""
    kept = KeptConnections(limit)
    event.listen(Engine, "connect", kept.on_connect)
    try:
        yield kept
    finally:
        event.remove(Engine, "connect", kept.on_connect)
        kept.close()
