"""Real servers for tests: `dagster dev` (webserver + daemon) on a free loopback port."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from intelli_assets_tests.conftest import PROJECT_ROOT
from intelli_assets_tests.waiting import wait_for


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def graphql(url: str, query: str, variables: dict | None = None) -> dict:
    reply = httpx.post(f"{url}/graphql", json={"query": query, "variables": variables or {}}, timeout=60).json()
    assert "errors" not in reply, reply
    return reply["data"]


def prepare_home(home: Path, **env: str) -> Path:
    """A new instance home set up as `intelli ui` does before it starts Dagster's processes.
    `env`: what its dagster.yaml reads besides DAGSTER_HOME (DAGSTER_PG_* for PostgreSQL)."""
    home.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-c", "from intelli_assets.launch import open_instance; open_instance()"],
                   check=True, env={**os.environ, "DAGSTER_HOME": str(home), **env}, timeout=120)
    return home


LOCATION = """
{ workspaceOrError { ... on Workspace { locationEntries {
    name loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }
"""


@contextmanager
def dagster_dev(home: Path, **env: str) -> Iterator[str]:
    """`dagster dev` (webserver + daemon) on 127.0.0.1, as `intelli ui` starts it, in its own
    session; yields its URL once the code location has loaded. `env` reaches every process it
    starts (for a PostgreSQL home: `InstanceHome.env`, with the DAGSTER_PG_* its dagster.yaml
    reads). The whole process group (daemon, code server, run workers and their Chromium) is
    killed at the end. Its log goes to `home/dagster-dev.log`: a pipe nobody reads would fill
    up and stall it."""
    port = free_port()
    dagster = Path(sys.executable).parent / "dagster"
    log_path = home / "dagster-dev.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [str(dagster), "dev", "-w", str(PROJECT_ROOT / "workspace.yaml"), "-h", "127.0.0.1", "-p", str(port)],
            cwd=home, env={**os.environ, "DAGSTER_HOME": str(home), **env},
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        if proc.poll() is not None:
            pytest.fail(f"dagster dev exited: {log_path.read_text()[-2000:]}")
        try:
            return httpx.get(f"{url}/server_info", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    def code_location_loaded() -> bool:
        entries = graphql(url, LOCATION)["workspaceOrError"]["locationEntries"]
        if any(e["loadStatus"] != "LOADED" for e in entries):
            return False
        for entry in entries:  # a location that does not import: say so now, not as a time-out later
            assert entry["locationOrLoadError"]["__typename"] == "RepositoryLocation", entry
        return bool(entries)

    try:
        wait_for(answers, timeout=180, interval=0.5, message="dagster dev did not answer")
        wait_for(code_location_loaded, timeout=180, interval=0.5, message="the code location did not load")
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(30)
        try:  # anything of the group that outlived dagster dev
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
