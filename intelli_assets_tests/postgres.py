"""A real PostgreSQL for the tests, and instance homes on either backend.

One server per test session, from Debian's binaries (`/usr/lib/postgresql/<ver>/bin`), in a
temporary folder, on 127.0.0.1 only, with a password (the path production takes). It runs as
`postgres` when the tests run as root (initdb refuses root), and is stopped and removed at the
end of the session, or by a watchdog if the session itself is killed. Every instance home gets
a database of its own, so tests never see each other's runs.

    @pytest.mark.parametrize("backend", ["sqlite", "postgres"])   # or leave `backend` to its fixture
    def test_x(backend_home: InstanceHome): ...                     # DAGSTER_HOME etc. already set

Module-scoped fixtures use `make_instance_home(request, path, backend)` and pass `home.env`.
"""

from __future__ import annotations

import atexit
import os
import pwd
import re
import secrets
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BACKENDS = ("sqlite", "postgres")
INSTANCE_CONFIGS = {"sqlite": PROJECT_ROOT / "intelli_assets" / "dagster.yaml",
                    "postgres": PROJECT_ROOT / "deploy" / "postgres" / "dagster.yaml"}
PG_USER = "intelli"
# a throw-away cluster: durability buys nothing, and fsync on a shared disk costs seconds per test
SERVER_SETTINGS = """
listen_addresses = '127.0.0.1'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
shared_buffers = 32MB
log_min_messages = warning
"""


def postgres_bin_dir() -> Path | None:
    """The newest Debian PostgreSQL (`/usr/lib/postgresql/<ver>/bin`), else initdb on PATH."""
    def version(p: Path) -> tuple[int, ...]:
        return tuple(int(n) for n in re.findall(r"\d+", p.parent.parent.name)) or (0,)

    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=version)
    if debian:
        return debian[-1].parent
    on_path = shutil.which("initdb")
    return Path(on_path).resolve().parent if on_path else None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PostgresServer:
    """A running cluster; `env(db)` is what a Dagster process needs to use database `db`."""

    root: Path
    bin_dir: Path
    as_user: list[str]  # the command prefix that runs as the cluster's owner
    password: str = field(repr=False)
    host: str = "127.0.0.1"
    port: int = 0
    user: str = PG_USER
    _watchdog: subprocess.Popen | None = field(default=None, repr=False)

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def pg(self, tool: str, *args: str, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run([*self.as_user, str(self.bin_dir / tool), *args], capture_output=True, text=True,
                              timeout=120, cwd=self.root, **kwargs)

    def start(self) -> None:
        """initdb, then start on a free port; a port taken in between costs one more try."""
        for tool in ("initdb", "pg_ctl"):
            if not (self.bin_dir / tool).exists():
                pytest.skip(f"PostgreSQL's {tool} not in {self.bin_dir}: install Debian's postgresql package")
        (self.root / "sock").mkdir()
        (self.root / "pwfile").write_text(self.password + "\n")
        if os.geteuid() == 0:  # the cluster is owned by `postgres`: it needs the folder
            owner = pwd.getpwnam("postgres")
            for path in [self.root, *self.root.rglob("*")]:
                os.chown(path, owner.pw_uid, owner.pw_gid)
        init = self.pg("initdb", "-D", str(self.data_dir), "-U", self.user, f"--pwfile={self.root / 'pwfile'}",
                       "--auth=scram-sha-256", "-E", "UTF8", "--no-locale", "--no-sync")
        assert init.returncode == 0, f"initdb failed: {init.stdout}{init.stderr}"
        with open(self.data_dir / "postgresql.conf", "a") as conf:  # appended: keeps its owner
            conf.write(SERVER_SETTINGS + f"unix_socket_directories = '{self.root / 'sock'}'\n")
        for _ in range(5):
            self.port = free_port()
            started = self.pg("pg_ctl", "-D", str(self.data_dir), "-l", str(self.root / "server.log"),
                              "-o", f"-p {self.port}", "-w", "-t", "60", "start",
                              start_new_session=True)  # a Ctrl-C at the terminal is ours to handle, not its
            if started.returncode == 0:
                break
            if "could not bind" not in self.log():
                raise AssertionError(f"PostgreSQL did not start: {started.stderr}{self.log()[-2000:]}")
        else:
            raise AssertionError(f"PostgreSQL found no free port: {self.log()[-2000:]}")
        self._start_watchdog()

    def _start_watchdog(self) -> None:
        """If this process dies without its teardown (SIGKILL, a CI time-out), stop the
        server and remove its folder anyway: nothing else would."""
        postmaster = (self.data_dir / "postmaster.pid").read_text().split()[0]
        script = ('while kill -0 "$1" 2>/dev/null; do sleep 2; done; '
                  'kill -QUIT "$2" 2>/dev/null; sleep 2; rm -rf "$3"')
        self._watchdog = subprocess.Popen(["sh", "-c", script, "pg-watchdog", str(os.getpid()), postmaster,
                                           str(self.root)], start_new_session=True,
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self) -> None:
        """Immediate stop (nothing here is worth a checkpoint) and the folder removed; safe twice."""
        if self.data_dir.exists():
            self.pg("pg_ctl", "-D", str(self.data_dir), "-m", "immediate", "-w", "stop")
        if self._watchdog is not None:
            self._watchdog.kill()
            self._watchdog.wait()
            self._watchdog = None
        shutil.rmtree(self.root, ignore_errors=True)

    def log(self) -> str:
        path = self.root / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def connect(self, database: str = "postgres"):
        import psycopg2  # installed with dagster-postgres

        conn = psycopg2.connect(host=self.host, port=self.port, user=self.user, password=self.password,
                                dbname=database, connect_timeout=10)
        conn.autocommit = True
        return conn

    def query(self, database: str, sql: str, params: tuple = ()) -> list[tuple]:
        conn = self.connect(database)
        try:
            with conn.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchall() if cur.description else []
        finally:
            conn.close()

    def create_database(self) -> str:
        name = f"intelli_{uuid.uuid4().hex[:12]}"
        self.query("postgres", f'CREATE DATABASE "{name}"')
        return name

    def env(self, database: str) -> dict[str, str]:
        return {"DAGSTER_PG_HOST": self.host, "DAGSTER_PG_PORT": str(self.port), "DAGSTER_PG_USER": self.user,
                "DAGSTER_PG_PASSWORD": self.password, "DAGSTER_PG_DB": database}


def start_postgres() -> PostgresServer:
    """A new cluster (skips when PostgreSQL is not installed). Call `.stop()` when done."""
    bin_dir = postgres_bin_dir()
    if bin_dir is None:
        pytest.skip("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb): "
                    "`scripts/install.sh --test` installs Debian's postgresql package")
    as_user: list[str] = []
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no `postgres` user to run PostgreSQL as (initdb refuses root)")
        as_user = ["runuser", "-u", "postgres", "--"]
    server = PostgresServer(root=Path(tempfile.mkdtemp(prefix="intelli-pg-")), bin_dir=bin_dir, as_user=as_user,
                            password=secrets.token_urlsafe(18))
    atexit.register(server.stop)  # an interrupted session that skips fixture teardown
    try:
        server.start()
    except BaseException:
        server.stop()
        raise
    return server


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One real PostgreSQL for the session, started when a test first needs it."""
    server = start_postgres()
    try:
        yield server
    finally:
        server.stop()


@dataclass(frozen=True)
class InstanceHome:
    """A DAGSTER_HOME with the dagster.yaml of `backend`; `env` is what a process using it needs
    (DAGSTER_HOME, and for postgres the DAGSTER_PG_* of its own database)."""

    path: Path
    backend: str
    env: dict[str, str]
    database: str | None = None
    server: PostgresServer | None = field(default=None, repr=False)

    def stored_runs(self) -> dict[str, str]:
        """Run id → status, read straight from the backend's own `runs` table, not through
        Dagster. On postgres it also fails if any SQLite database appeared in the home: a
        silent fallback to SQLite must not pass."""
        query = "SELECT run_id, status FROM runs"
        if self.backend == "postgres":
            assert self.server and self.database
            sqlite_files = [p for p in self.path.rglob("*.db") if "artifacts" not in p.parts]
            assert not sqlite_files, f"SQLite storage in a PostgreSQL home: {sqlite_files}"
            return dict(self.server.query(self.database, query))
        runs_db = self.path / "history" / "runs.db"
        if not runs_db.exists():  # not created yet: no run either (connect would create it)
            return {}
        with closing(sqlite3.connect(runs_db)) as conn:
            return dict(conn.execute(query).fetchall())


def make_instance_home(request: pytest.FixtureRequest, path: Path, backend: str,
                       database: str | None = None) -> InstanceHome:
    """An instance home at `path` (created) for `backend`, on a new database unless one is
    given (homes of several hosts sharing it); any fixture scope may call it. PostgreSQL is
    started only when a postgres home is first asked for."""
    assert backend in BACKENDS, backend
    path.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(INSTANCE_CONFIGS[backend], path / "dagster.yaml")
    if backend == "sqlite":
        return InstanceHome(path, backend, {"DAGSTER_HOME": str(path)})
    server: PostgresServer = request.getfixturevalue("postgres_server")
    database = database or server.create_database()
    return InstanceHome(path, backend, {"DAGSTER_HOME": str(path), **server.env(database)}, database, server)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Each backend in turn; a test narrows it with @pytest.mark.parametrize("backend", [...])."""
    return request.param


@pytest.fixture
def backend_home(request: pytest.FixtureRequest, backend: str, tmp_path: Path,
                 monkeypatch: pytest.MonkeyPatch) -> InstanceHome:
    """A fresh instance home for `backend`, with its variables set in this process's
    environment (so subprocesses started from it inherit them)."""
    home = make_instance_home(request, tmp_path / "dagster_home", backend)
    for name, value in home.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("INTELLI_ARTIFACTS_DIR", raising=False)
    return home
