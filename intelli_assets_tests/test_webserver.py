"""The code location in a real `dagster dev` (webserver + daemon) on loopback, as `intelli ui`
starts it: it loads cleanly, and charts materialize through the same GraphQL launch the UI's
Materialize button sends (queued, then started by the daemon)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from intelli_assets.charts import CHARTS, charts_fed_by
from intelli_assets_tests.postgres import InstanceHome, make_instance_home
from intelli_assets_tests.servers import dagster_dev as start_dagster_dev
from intelli_assets_tests.servers import graphql, prepare_home
from intelli_assets_tests.waiting import wait_for

LOAD_QUERY = """
{
  workspaceOrError {
    ... on Workspace {
      locationEntries { name locationOrLoadError { __typename ... on PythonError { message } } }
    }
  }
  assetNodes { assetKey { path } isPartitioned description }
}
"""
LAUNCH = """
mutation Launch($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on InvalidSubsetError { message }
  }
}
"""
RUN_STATUS = "query Status($id: ID!) { runOrError(runId: $id) { ... on Run { status } } }"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def home(request: pytest.FixtureRequest, tmp_path_factory) -> InstanceHome:
    """One instance home per backend; every test of the module runs against each."""
    home = make_instance_home(request, tmp_path_factory.mktemp("ui") / "home", request.param)
    prepare_home(home.path, **home.env)
    return home


@pytest.fixture(scope="module")
def dagster_dev(home: InstanceHome):
    with start_dagster_dev(home.path, **home.env) as url:
        yield url


def test_code_location_loads_with_every_asset(dagster_dev):
    data = graphql(dagster_dev, LOAD_QUERY)
    (entry,) = data["workspaceOrError"]["locationEntries"]
    assert entry["name"] == "intelli_assets"
    assert entry["locationOrLoadError"]["__typename"] == "RepositoryLocation", entry
    nodes = {"/".join(n["assetKey"]["path"]): n for n in data["assetNodes"]}
    assert set(nodes) == {"raw_source", "patent_dataset", *(f"charts/{k}" for k in CHARTS),
                          *(f"descriptions/{k}" for k in CHARTS), "reports/landscape"}
    assert all(n["isPartitioned"] and n["description"] for n in nodes.values())


def launch_assets_and_wait(url: str, partition: str, paths: list[list[str]], ops: dict | None = None) -> str:
    """What the UI's Materialize does: one run of these assets for a partition, over GraphQL."""
    params = {
        "selector": {
            "repositoryLocationName": "intelli_assets",
            "repositoryName": "__repository__",
            "jobName": "__ASSET_JOB",
            "assetSelection": [{"path": path} for path in paths],
        },
        "runConfigData": {"ops": ops} if ops else {},
        "executionMetadata": {"tags": [{"key": "dagster/partition", "value": partition}]},
    }
    launched = graphql(url, LAUNCH, {"params": params})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]

    def finished() -> str | None:
        status = graphql(url, RUN_STATUS, {"id": run_id})["runOrError"]["status"]
        return status if status in ("SUCCESS", "FAILURE", "CANCELED") else None

    assert wait_for(finished, timeout=240, interval=1, message=f"run {run_id} did not finish") == "SUCCESS"
    return run_id


def launch_and_wait(url: str, partition: str, charts: list[str], config: dict | None = None) -> str:
    return launch_assets_and_wait(url, partition, [["charts", key] for key in charts],
                                  {"charts": {"config": config}} if config else None)


def latest_chart_materializations(env: dict) -> dict[str, list]:
    check = (
        "import json, dagster as dg\n"
        "i = dg.DagsterInstance.get()\n"
        f"keys = {sorted(CHARTS)!r}\n"
        "out = {}\n"
        "for k in keys:\n"
        "    r = i.fetch_materializations(dg.AssetKey(['charts', k]), limit=1).records\n"
        "    out[k] = [r[0].run_id, r[0].partition_key, r[0].asset_materialization.metadata['png_path'].value] if r else None\n"
        "print(json.dumps(out))\n"
    )
    return json.loads(subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, env=env,
                                     check=True).stdout)


def test_materialize_one_chart_then_every_chart_like_the_ui(dagster_dev, home: InstanceHome, sample_workbook):
    # the dataset comes in through the CLI (as the inbox sensor will); the charts from the "UI"
    intelli = Path(sys.executable).parent / "intelli"
    env = {**os.environ, **home.env}
    # the bound is a hang guard: a child process left holding the output pipe would block forever
    ingest = subprocess.run([str(intelli), "run", str(sample_workbook), "--charts", "patent_evolution", "--json"],
                            capture_output=True, text=True, env=env, check=True, timeout=300)
    partition, ingest_run = (json.loads(ingest.stdout)[k] for k in ("partition", "run_id"))

    # one chart, re-rendered with its own settings: only that chart runs
    one = launch_and_wait(dagster_dev, partition, ["top_patent_countries"],
                          {"language": "en", "top_patent_countries": {"top_n": 5}})
    latest = latest_chart_materializations(env)
    assert [k for k, v in latest.items() if v and v[0] == one] == ["top_patent_countries"]
    countries = Path(latest["top_patent_countries"][2]).with_name("chart_data.json")
    assert json.loads(countries.read_text())["meta"]["params"] == {"top_n": 5}
    assert json.loads(countries.with_name("settings.json").read_text())["style"]["language"] == "en"

    every = launch_and_wait(dagster_dev, partition, list(CHARTS))  # "Materialize all" on a Filters workbook
    latest = latest_chart_materializations(env)
    fed = charts_fed_by(CHARTS, has_records=False)  # the record-level charts are skipped, not failed
    assert {k: v[:2] for k, v in latest.items() if v} == {k: [every, partition] for k in fed}
    assert all(latest[k] is None for k in CHARTS if k not in fed)
    latest = {k: v for k, v in latest.items() if v}
    assert all(Path(v[2]).stat().st_size > 20_000 for v in latest.values())
    assert countries.exists()  # the earlier render, with other params, is kept
    runs = home.stored_runs()  # the backend's own runs table: the CLI's run and the UI's are in one place
    assert {run: runs.get(run) for run in (ingest_run, one, every)} == dict.fromkeys((ingest_run, one, every), "SUCCESS")
