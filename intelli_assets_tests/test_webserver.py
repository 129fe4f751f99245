"""The code location loads in a real dagster-webserver on loopback, as `intelli ui` starts it."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from intelli_assets.charts import CHARTS
from intelli_assets_tests.conftest import PROJECT_ROOT

QUERY = """
{
  workspaceOrError {
    ... on Workspace {
      locationEntries { name locationOrLoadError { __typename ... on PythonError { message } } }
    }
  }
  assetNodes { assetKey { path } isPartitioned description }
}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def webserver(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    shutil.copyfile(PROJECT_ROOT / "intelli_assets" / "dagster.yaml", home / "dagster.yaml")
    port = free_port()
    webserver_bin = Path(sys.executable).parent / "dagster-webserver"
    proc = subprocess.Popen(
        [str(webserver_bin), "-w", str(PROJECT_ROOT / "workspace.yaml"), "-h", "127.0.0.1", "-p", str(port)],
        cwd=PROJECT_ROOT, env={**os.environ, "DAGSTER_HOME": str(home)},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                pytest.fail(f"dagster-webserver exited: {proc.stderr.read()[-2000:]}")
            try:
                if httpx.get(f"{url}/server_info", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.5)
        else:
            pytest.fail("dagster-webserver did not answer within 90 s")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_code_location_loads_with_every_asset(webserver):
    reply = httpx.post(f"{webserver}/graphql", json={"query": QUERY}, timeout=60).json()
    assert "errors" not in reply, reply
    (entry,) = reply["data"]["workspaceOrError"]["locationEntries"]
    assert entry["name"] == "intelli_assets"
    assert entry["locationOrLoadError"]["__typename"] == "RepositoryLocation", entry
    nodes = {"/".join(n["assetKey"]["path"]): n for n in reply["data"]["assetNodes"]}
    assert set(nodes) == {"raw_source", "patent_dataset", *(f"charts/{k}" for k in CHARTS)}
    assert all(n["isPartitioned"] and n["description"] for n in nodes.values())
