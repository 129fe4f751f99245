"""The production runtime: pools matching the old queues, step retries on network-bound assets
(and none for bad input), a maximum run time per kind of job enforced by run monitoring."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import dagster as dg
import pytest

from intelli_assets.defs.jobs import DEFAULT_MAX_RUNTIME
from intelli_assets.launch.instance import POOL_LIMITS
from intelli_assets_tests.conftest import PROJECT_ROOT
from intelli_assets_tests.fake_lens import FakeLens
from intelli_assets_tests.servers import dagster_dev, prepare_home

TOKEN = "lens-token-for-retry-tests-1234"


def test_pools_and_retry_policies_are_declared_where_the_work_is():
    from intelli_assets.definitions import defs

    graph = defs.resolve_asset_graph()
    pools = {"/".join(key.path): graph.get(key).pools for key in graph.get_all_asset_keys()}
    assert pools["raw_source"] == {"ingestion_io"} and pools["patent_dataset"] == {"ingestion_io"}
    assert {pools[k] == {"charts_cpu"} for k in pools if k.startswith("charts/")} == {True}
    assert {pools[k] == {"ai"} for k in pools if k.startswith("descriptions/")} == {True}
    assert POOL_LIMITS == {"ingestion_io": 4, "charts_cpu": 2, "ai": 2}  # the old Celery queue sizes

    network = [defs.resolve_assets_def("raw_source"), defs.resolve_assets_def(["descriptions", "cpc_treemap"])]
    for asset in network:
        policy = asset.op.retry_policy
        assert policy.max_retries == 2 and policy.backoff == dg.Backoff.EXPONENTIAL
        assert policy.jitter == dg.Jitter.PLUS_MINUS
    assert defs.resolve_assets_def(["charts", "cpc_treemap"]).op.retry_policy is None  # local work: no retry

    runtimes = {name: int(defs.resolve_job_def(name).tags["dagster/max_runtime"])
                for name in ("dataset_charts", "render_charts", "describe_charts", "register_dataset")}
    assert runtimes == {"dataset_charts": DEFAULT_MAX_RUNTIME["ingestion"] + DEFAULT_MAX_RUNTIME["charts"],
                        "render_charts": 120, "describe_charts": 60, "register_dataset": 60}


RETRY_SCRIPT = textwrap.dedent("""
    import json, sys
    import dagster as dg
    from intelli_assets.defs.common.partitions import DATASETS_PARTITIONS_NAME
    from intelli_assets.defs.common.resources import ArtifactStore
    from intelli_assets.defs.sources.assets import raw_source
    from intelli_assets.defs.sources.resources import LensApi

    path, key = sys.argv[1], sys.argv[2]
    instance = dg.DagsterInstance.get()
    instance.add_dynamic_partitions(DATASETS_PARTITIONS_NAME, [key])
    result = dg.materialize([raw_source], instance=instance, partition_key=key, raise_on_error=False,
                            resources={"store": ArtifactStore(), "lens": LensApi(max_attempts=1)},
                            run_config={"ops": {"raw_source": {"config": {"path": path}}}})
    kinds = [e.event_type_value for e in result.all_events if e.is_step_event]
    print(json.dumps({"success": result.success, "retries": kinds.count("STEP_UP_FOR_RETRY"),
                      "failures": kinds.count("STEP_FAILURE")}))
""")


def materialize_raw_source(tmp_path, path, key: str, lens_url: str = "http://127.0.0.1:9") -> dict:
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path / "home"), "INTELLI_NETWORK_RETRY_DELAY": "0.2",
           "LENS_API_URL": lens_url, "LENS_API_TOKEN": TOKEN, "INTELLI_ARTIFACTS_DIR": str(tmp_path / "artifacts")}
    (tmp_path / "home").mkdir(exist_ok=True)
    proc = subprocess.run([sys.executable, "-c", RETRY_SCRIPT, str(path), key], capture_output=True, text=True,
                          env=env, timeout=300, cwd=PROJECT_ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_a_lens_outage_is_retried_by_the_step_and_a_bad_file_is_not(tmp_path):
    from intelli_assets.dataset import file_sha256, partition_key_for

    query = tmp_path / "outage.lens.json"
    query.write_text(json.dumps({"name": "outage", "query": {"match": {"title": "soil"}}}))
    key = partition_key_for("outage", file_sha256(query))
    with FakeLens(total=30, token=TOKEN, faults={1: 503, 2: 502}) as lens:  # the first two attempts fail
        outcome = materialize_raw_source(tmp_path, query, key, lens.url)
    assert outcome == {"success": True, "retries": 2, "failures": 0}, outcome

    missing = tmp_path / "missing.xlsx"
    outcome = materialize_raw_source(tmp_path, missing, "missing-0123456789")
    assert outcome == {"success": False, "retries": 0, "failures": 1}, outcome  # bad input fails at once


@pytest.mark.slow
def test_a_run_over_its_maximum_run_time_is_stopped_by_run_monitoring(tmp_path, sample_workbook):
    from intelli_assets.client import IntelliClient

    home = tmp_path / "home"
    home.mkdir()
    config = (PROJECT_ROOT / "intelli_assets" / "dagster.yaml").read_text()
    assert "poll_interval_seconds: 30" in config
    (home / "dagster.yaml").write_text(config.replace("poll_interval_seconds: 30", "poll_interval_seconds: 1"))
    prepare_home(home)
    env = {"INTELLI_MAX_RUNTIME_CHARTS": "1"}  # render_charts: 1 s; dataset_charts: 60 + 1 s
    with dagster_dev(home, **env) as url, IntelliClient(url, requested_by="test-suite") as client:
        partition, path = client.register_dataset(str(sample_workbook))
        built = client.launch(partition, ["top_patent_countries"], source_path=path)
        assert client.wait(built.job, timeout=240).status == "SUCCESS"
        # large, dense images: several seconds of drawing, well past the 1 s limit and the monitor's look
        launched = client.launch(partition, ["patent_forecast", "cpc_treemap", "patent_evolution",
                                             "top_patent_applicants", "patent_cumulative"],
                                 {"width": 3000, "scale": 4})
        assert launched.dagster_job == "render_charts"
        job = client.wait(launched.job, timeout=240)
        (run,) = client.job_runs(launched.job)
        messages = " ".join(e["message"] for e in client.run_events(launched.run_id) if e.get("message"))
    assert {t["key"]: t["value"] for t in run["tags"]}["dagster/max_runtime"] == "1"
    assert run["status"] in ("CANCELED", "FAILURE"), run
    assert job.status in ("CANCELLED", "FAILED", "PARTIAL_SUCCESS"), job.to_dict()
    assert "Exceeded maximum runtime of 1 seconds" in messages, messages[-2000:]


@pytest.mark.parametrize(("name", "value"), [("INTELLI_MAX_RUNTIME_CHARTS", "abc"), ("INTELLI_MAX_RUNTIME_AI", "1e3"),
                                             ("INTELLI_MAX_RUNTIME_CHARTS", "٣"), ("INTELLI_NETWORK_RETRY_DELAY", "inf"),
                                             ("INTELLI_NETWORK_RETRIES", "-1")])
def test_a_bad_runtime_setting_is_refused_by_name(name, value):
    proc = subprocess.run([sys.executable, "-c", "import intelli_assets.definitions"], capture_output=True, text=True,
                          env={**os.environ, name: value}, timeout=120)
    assert proc.returncode != 0 and f"{name}={value!r}" in proc.stderr
