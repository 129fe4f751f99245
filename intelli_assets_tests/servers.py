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


def prepare_home(home: Path) -> Path:
    """A new instance home set up as `intelli ui` does before it starts Dagster's processes."""
    home.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-c", "from intelli_assets.launch import open_instance; open_instance()"],
                   check=True, env={**os.environ, "DAGSTER_HOME": str(home)}, timeout=120)
    return home


@contextmanager
def dagster_dev(home: Path, **env: str) -> Iterator[str]:
    """`dagster dev` on 127.0.0.1 in its own session (its code servers and daemon end with it);
    yields its URL once it answers."""
    port = free_port()
    dagster = Path(sys.executable).parent / "dagster"
    proc = subprocess.Popen(
        [str(dagster), "dev", "-w", str(PROJECT_ROOT / "workspace.yaml"), "-h", "127.0.0.1", "-p", str(port)],
        cwd=home, env={**os.environ, "DAGSTER_HOME": str(home), **env},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        if proc.poll() is not None:
            pytest.fail(f"dagster dev exited: {proc.stderr.read()[-2000:]}")
        try:
            return httpx.get(f"{url}/server_info", timeout=2).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_for(answers, timeout=180, interval=0.5, message="dagster dev did not answer")
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)
