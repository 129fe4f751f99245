"""External launches through GraphQL alone: the client (`intelli_assets.client`), `intelli
launch --url` and raw GraphQL against a real `dagster dev` (webserver + daemon on loopback),
on SQLite and on a real PostgreSQL. Nothing here touches the instance directly except to
check that runs really landed in the backend."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from intelli_assets.client import ClientError, IntelliClient
from intelli_assets.client import documents as doc
from intelli_assets.client.stream import poll
from intelli_assets.errors import ChartParamError
from intelli_assets.sample_workbook import write_sample_workbook
from intelli_assets_tests.conftest import PROJECT_ROOT
from intelli_assets_tests.postgres import make_instance_home
from intelli_assets_tests.servers import dagster_dev, prepare_home

pytestmark = pytest.mark.slow
TWO = ["top_patent_countries", "patent_evolution"]


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def deployment(request, tmp_path_factory):
    """(url, instance home, a workbook the server can read) of one running deployment."""
    home = make_instance_home(request, tmp_path_factory.mktemp(f"gql-{request.param}") / "home", request.param)
    prepare_home(home.path, **home.env)
    workbook = write_sample_workbook(home.path / "drop" / "espacenet-sample.xlsx")
    with dagster_dev(home.path, **home.env) as url:
        yield url, home, workbook


@pytest.fixture
def client(deployment):
    with IntelliClient(deployment[0], requested_by="test-suite") as c:
        yield c


def intelli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "intelli_assets.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, "PYTHONWARNINGS": "ignore"})


def registered(client: IntelliClient, workbook: Path) -> str:
    partition, path = client.register_dataset(str(workbook))
    assert path == str(workbook.resolve())
    return partition


def test_register_launch_and_idempotent_relaunch(deployment, client):
    url, home, workbook = deployment
    partition = registered(client, workbook)
    assert partition in client.datasets()
    assert registered(client, workbook) == partition  # the same bytes are the same dataset

    launched = client.launch(partition, TWO, {"top_n": 5}, idempotency_key=f"idem-{home.backend}",
                             source_path=str(workbook))
    assert launched.dagster_job == "dataset_charts" and not launched.existing
    job = client.wait(launched.job, timeout=300)
    assert job.status == "SUCCESS", job.to_dict()
    assert job.origin == "graphql" and job.requested_by == "test-suite" and job.partition == partition
    for key in TWO:
        files = job.charts[key].files
        assert Path(files["png"]).read_bytes().startswith(b"\x89PNG")
        assert "<svg" in Path(files["svg"]).read_text()[:500]
    bars = json.loads(Path(job.charts["top_patent_countries"].files["chart_data"]).read_text())
    # top_n=5 reached the run: five jurisdictions plus the highlighted country (EC)
    assert [c for c in bars["y_axis"]["categories"] if c != "Others"] == ["EC", "KR", "EP", "WO", "US", "CN"]

    again = client.launch(partition, TWO, {"top_n": 5}, idempotency_key=f"idem-{home.backend}",
                          source_path=str(workbook))
    assert again.existing and again.job == launched.job and again.run_id == launched.run_id
    with pytest.raises(ChartParamError, match="already used by job"):
        client.launch(partition, TWO, {"top_n": 6}, idempotency_key=f"idem-{home.backend}")
    runs = home.stored_runs()  # straight from the backend's own tables
    assert runs[launched.run_id] == "SUCCESS"

    rerender = client.launch(partition, ["top_patent_countries"], {"palette": "ocean"})
    assert rerender.dagster_job == "render_charts"  # the dataset is built: charts only
    assert client.wait(rerender.job, timeout=300).status == "SUCCESS"


def test_events_stream_over_the_websocket_in_order_to_the_end(deployment, client):
    url, home, workbook = deployment
    partition = registered(client, workbook)
    launched = client.launch(partition, ["patent_cumulative"])
    transports: list[str] = []
    streamed = list(client.events(launched.job, on_transport=transports.append))
    assert transports == ["websocket"]
    kinds = [e.kind for e in streamed]
    assert kinds[-1] == "PIPELINE_SUCCESS", kinds  # the stream ends with the run
    assert kinds.index("PIPELINE_START") < kinds.index("STEP_START") < kinds.index("ASSET_MATERIALIZATION")
    assert "charts/patent_cumulative materialized" in [e.message for e in streamed]
    times = [e.timestamp for e in streamed]
    assert times == sorted(times)
    polled = [e.kind for e in poll(client, launched.run_id)]  # the fallback sees the same events
    assert polled[:len(kinds)] == kinds and set(polled[len(kinds):]) <= {"ENGINE_EVENT"}  # + "process exited"


def test_retry_and_cancel_a_chart_and_a_job(deployment, client):
    url, home, workbook = deployment
    partition = registered(client, workbook)
    launched = client.launch(partition, ["top_patent_countries", "patent_forecast", "cpc_treemap"],
                             source_path=str(workbook))
    assert "cancel requested" in client.cancel_chart(launched.job, "patent_forecast")  # before it is drawn
    job = client.wait(launched.job, timeout=300)
    assert job.charts["patent_forecast"].status == "cancelled"
    assert job.charts["patent_forecast"].error == "cancelled by test-suite"
    assert {job.charts[k].status for k in ("top_patent_countries", "cpc_treemap")} == {"success"}
    assert job.status == "PARTIAL_SUCCESS"

    retry = client.retry(launched.job, "patent_forecast")
    assert retry.job == launched.job and retry.dagster_job == "render_charts"
    job = client.wait(launched.job, timeout=300)
    assert job.charts["patent_forecast"].status == "success" and job.charts["patent_forecast"].attempts == 2
    assert job.status == "SUCCESS" and len(job.runs) == 2

    # cancelled at once: queued, starting or started by then (a race on any host), it ends
    # CANCELLED; enough charts that it cannot have drawn them all before the cancel lands
    fresh = client.launch(partition, ["patent_trends_cumulative", "patent_forecast", "cpc_treemap",
                                      "top_patent_applicants"])
    lines = client.cancel_job(fresh.job)
    assert len(lines) == 1 and fresh.run_id in lines[0]
    assert client.wait(fresh.job, timeout=120).status == "CANCELLED"
    with pytest.raises(Exception, match="nothing left to cancel"):
        client.cancel_job(fresh.job)


def test_unknown_chart_and_dataset_are_clear_errors(deployment, client):
    url, home, workbook = deployment
    partition = registered(client, workbook)
    with pytest.raises(ChartParamError, match="unknown chart 'nope'"):
        client.launch(partition, ["nope"])
    with pytest.raises(ClientError, match="no dataset 'nope-0123456789'"):
        client.launch("nope-0123456789", TWO)
    with pytest.raises(ClientError, match="no such file where the code location runs"):
        client.register_dataset("/nonexistent/results.xlsx")

    # raw GraphQL, as a non-Python client sends it: the webserver names the unknown asset
    params = {"selector": {**client.repository(), "jobName": "render_charts",
                           "assetSelection": [{"path": ["charts", "nope"]}]},
              "runConfigData": {}, "executionMetadata": {"tags": [{"key": "dagster/partition", "value": partition}]}}
    reply = httpx.post(f"{url}/graphql", json={"query": doc.LAUNCH, "variables": {"executionParams": params}}).json()
    assert reply["data"]["launchRun"]["__typename"] == "InvalidSubsetError"
    assert "charts/nope" in reply["data"]["launchRun"]["message"]

    for args, expected in (((partition, "--charts", "nope"), "unknown chart 'nope'"),
                           (("nope-0123456789",), "no dataset 'nope-0123456789'"),
                           (("/nonexistent/results.xlsx",), "no such file where the code location runs")):
        result = intelli("launch", *args, "--url", url, "--json")
        assert result.returncode == 2, result
        assert expected in json.loads(result.stdout)["error"] and expected in result.stderr


def test_intelli_launch_wait_json_and_remote_status(deployment):
    url, home, workbook = deployment
    result = intelli("launch", str(workbook), "--url", url, "--charts", "top_patent_applicants",
                     "--set", "top_n=4", "--wait", "--json", "--requested-by", "analyst")
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["status"] == "SUCCESS" and out["charts"]["top_patent_applicants"]["status"] == "success"
    assert set(out) >= {"job", "partition", "status", "run_id", "dagster_job"}
    status = intelli("status", out["job"], "--url", url, "--json")
    assert status.returncode == 0, status.stderr
    remote = json.loads(status.stdout)
    assert remote["status"] == "SUCCESS" and remote["requested_by"] == "analyst"
    assert remote["last_events"] and remote["last_events"][-1]["run_id"] == out["run_id"]
    # the local CLI on the same instance reads the same job by the same rule
    local = subprocess.run([sys.executable, "-m", "intelli_assets.cli", "status", out["job"], "--json"],
                           capture_output=True, text=True, env={**os.environ, **home.env}, timeout=120)
    assert local.returncode == 0, local.stderr
    assert {k: v for k, v in json.loads(local.stdout).items() if k != "last_events"} == \
        {k: v for k, v in remote.items() if k != "last_events"}


def test_doctor_checks_a_running_deployment_and_names_what_is_wrong(deployment):
    url, home, _ = deployment
    env = {**os.environ, **home.env}
    healthy = subprocess.run([sys.executable, "-m", "intelli_assets.cli", "doctor", "--url", url, "--json"],
                             capture_output=True, text=True, env=env, timeout=300)
    report = json.loads(healthy.stdout)
    assert healthy.returncode == 0, report
    assert {c["name"]: c["ok"] for c in report["checks"]} == {"storage": True, "chromium": True, "batches": True,
                                                               "inbox": True, "webserver": True, "daemon": True}
    assert ("PostgresRunStorage" if home.backend == "postgres" else "SqliteRunStorage") in report["checks"][0]["detail"]

    down = subprocess.run([sys.executable, "-m", "intelli_assets.cli", "doctor", "--url", "http://127.0.0.1:9"],
                          capture_output=True, text=True, env={**env, "BROWSER_PATH": "/nonexistent/chromium"},
                          timeout=300)
    assert down.returncode == 1
    assert "FAIL  chromium" in down.stdout and "FAIL  webserver" in down.stdout and "/nonexistent/chromium" in down.stdout
    assert "not healthy: chromium, webserver, daemon" in down.stderr


def readme_graphql_bodies() -> list[dict]:
    """The raw GraphQL requests the README shows non-Python clients (curl heredocs)."""
    readme = (PROJECT_ROOT / "README.md").read_text()
    return [json.loads(block) for block in re.findall(r"<<'JSON'\n(.*?)\nJSON\n", readme, re.S)]


def test_the_readme_raw_graphql_launches_reads_and_cancels(deployment, client):
    url, home, workbook = deployment
    partition = registered(client, workbook)
    client.wait(client.launch(partition, ["patent_evolution"], source_path=str(workbook)).job, timeout=300)
    launch, status, cancel = readme_graphql_bodies()
    job_id = f"readme-{home.backend}"
    body = json.loads(json.dumps(launch).replace("PARTITION", partition).replace("order-42", job_id))
    run = httpx.post(f"{url}/graphql", json=body, timeout=60).json()["data"]["launchRun"]["run"]
    job = client.wait(job_id, timeout=300)  # the client reads a raw launch as a job like any other
    assert job.status == "SUCCESS" and job.charts["top_patent_countries"].status == "success"
    body = json.loads(json.dumps(status).replace("order-42", job_id))
    (result,) = httpx.post(f"{url}/graphql", json=body, timeout=60).json()["data"]["runsOrError"]["results"]
    assert result["runId"] == run["runId"] and result["status"] == "SUCCESS"
    (materialization,) = result["assetMaterializations"]
    files = json.loads(next(m["jsonString"] for m in materialization["metadataEntries"] if m["label"] == "files"))
    assert Path(files["png"]["path"]).read_bytes().startswith(b"\x89PNG")
    # a run long enough for the cancel to land whatever the host's speed (one small chart on a
    # running deployment can end within a second, before the cancel arrives)
    queued = client.launch(partition, ["cpc_treemap", "patent_evolution", "patent_cumulative", "top_patent_countries",
                                       "top_patent_applicants"], {"width": 3000, "scale": 4})
    body = json.loads(json.dumps(cancel).replace("RUN_ID", queued.run_id))
    answer = httpx.post(f"{url}/graphql", json=body, timeout=60).json()["data"]["terminateRun"]
    assert answer["__typename"] == "TerminateRunSuccess"
    assert client.wait(queued.job, timeout=120).status in ("CANCELLED", "SUCCESS")  # it may end its chart first


def test_a_ui_launched_run_keeps_its_charts_when_one_is_retried(deployment, client):
    url, home, workbook = deployment
    partition = registered(client, workbook)
    client.wait(client.launch(partition, ["patent_evolution"], source_path=str(workbook)).job, timeout=300)
    params = {"selector": {**client.repository(), "jobName": "render_charts",
                           "assetSelection": [{"path": ["charts", "top_patent_countries"]}, {"path": ["charts", "cpc_treemap"]}]},
              "runConfigData": {}, "executionMetadata": {"tags": [{"key": "dagster/partition", "value": partition}]}}
    run_id = client.query(doc.LAUNCH, {"executionParams": params})["launchRun"]["run"]["runId"]  # as the UI does
    assert client.wait(run_id, timeout=300).status == "SUCCESS"
    client.retry(run_id, "cpc_treemap")
    job = client.wait(run_id, timeout=300)
    assert [r.run_id for r in job.runs][0] == run_id and len(job.runs) == 2
    assert {k: (s.status, s.attempts) for k, s in job.charts.items()} == {
        "top_patent_countries": ("success", 1), "cpc_treemap": ("success", 2)}


@pytest.mark.filterwarnings("ignore")
def test_client_urls_never_show_credentials_and_accept_the_pasted_endpoint():
    client = IntelliClient("http://analyst:s3cret-pw@127.0.0.1:9/graphql/")
    assert client.url == "http://analyst:s3cret-pw@127.0.0.1:9" and client.display_url == "http://127.0.0.1:9"
    with pytest.raises(ClientError) as error:
        client.datasets()
    assert "s3cret-pw" not in str(error.value) and "http://127.0.0.1:9" in str(error.value)
