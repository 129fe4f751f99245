"""The warm run launcher on a real `dagster dev`: the warm process starts with the daemon, so
even the first run is forked from it, ahead of its launch, with its Chromium already started;
warm runs draw the same bytes as a cold run, can be cancelled, and a warm worker that dies is
caught by Dagster's run monitoring."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import dagster as dg
import pytest

from intelli_assets.client import IntelliClient
from intelli_assets.defs.runs.warm_launcher import WARM_PID_TAG, WarmRunLauncher
from intelli_assets_tests.conftest import PROJECT_ROOT
from intelli_assets_tests.servers import dagster_dev, prepare_home
from intelli_assets_tests.test_rendering import parent_pid
from intelli_assets_tests.waiting import wait_for

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> Path:
    home = tmp_path_factory.mktemp("warm") / "home"
    home.mkdir()
    return home


@pytest.fixture(scope="module")
def deployment(home, sample_workbook):
    config = (PROJECT_ROOT / "intelli_assets" / "dagster.yaml").read_text()
    assert "class: WarmRunLauncher" in config and "poll_interval_seconds: 30" in config
    (home / "dagster.yaml").write_text(config.replace("poll_interval_seconds: 30", "poll_interval_seconds: 1"))
    prepare_home(home)
    with dagster_dev(home) as url, IntelliClient(url, requested_by="test-suite") as client:
        # before any run: the daemon has started the warm process, and its worker forked ahead
        # has started Chromium
        wait_for(lambda: waiting_workers_with_chromium(home), timeout=120,
                 message="no worker forked ahead with its Chromium before the first run")
        partition, path = client.register_dataset(str(sample_workbook))
        first = client.launch(partition, ["top_patent_countries"], source_path=path)
        assert client.wait(first.job, timeout=300).status == "SUCCESS"
        yield client, partition, first


def tags_of(client: IntelliClient, run_id: str) -> dict[str, str]:
    (run,) = client._runs({"runIds": [run_id]})  # noqa: SLF001 - the test reads the run record
    return {t["key"]: t["value"] for t in run["tags"]}


def warm_launch(client: IntelliClient, partition: str, charts: list[str]):
    """A launch that is started warm (the zygote may still be warming up for the first ones)."""
    for _ in range(5):
        launched = client.launch(partition, charts)
        wait_for(lambda launched=launched: client.job_runs(launched.job)[0]["status"] not in ("QUEUED", "STARTING",
                                                                                          "NOT_STARTED"),
                 timeout=120, interval=0.1, message="the run did not start")
        if WARM_PID_TAG in tags_of(client, launched.run_id):
            return launched
        client.wait(launched.job, timeout=300)
    pytest.fail("no run was started warm")


def test_the_first_run_of_a_new_deployment_is_warm_and_draws_the_same_bytes_as_a_cold_one(
        deployment, sample_workbook, tmp_path):
    client, partition, first = deployment
    pid = tags_of(client, first.run_id)[WARM_PID_TAG]  # forked from the warm process the daemon started
    messages = [e["message"] for e in client.run_events(first.run_id) if e.get("message")]
    assert f"Started process for run (pid: {pid})." in messages, messages[:5]
    warm_png = Path(client.job(first.job).charts["top_patent_countries"].files["png"]).read_bytes()
    cold = subprocess.run([str(Path(sys.executable).parent / "intelli"), "run", str(sample_workbook), "--charts",
                           "top_patent_countries", "--json"], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "DAGSTER_HOME": str(tmp_path / "cold-home")})
    assert cold.returncode == 0, cold.stderr
    cold_png = Path(json.loads(cold.stdout)["charts"]["top_patent_countries"]["files"]["png"]).read_bytes()
    assert warm_png == cold_png and warm_png.startswith(b"\x89PNG")


def waiting_workers_with_chromium(home: Path) -> set[int]:
    """Workers of this deployment's zygote (forked from it, so with its command line) that have
    started a Chromium of their own."""
    procs: dict[int, tuple[int | None, bytes, bytes]] = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            environ = Path(f"/proc/{entry}/environ").read_bytes() if b"zygote" in cmdline else b""
        except OSError:
            continue
        procs[int(entry)] = (parent_pid(int(entry)), cmdline, environ)
    ours = f"DAGSTER_HOME={home}".encode()
    zygotes = {pid for pid, (_, cmd, env) in procs.items() if b"intelli_assets.defs.runs.zygote" in cmd and ours in env}
    workers = {pid for pid in zygotes if procs[pid][0] in zygotes}
    return {procs[pid][0] for pid, (_, cmd, _) in procs.items()
            if procs[pid][0] in workers and b"--remote-debugging-pipe" in cmd}


def test_a_warm_run_starts_in_a_worker_forked_ahead_whose_chromium_already_runs(deployment, home):
    client, partition, _ = deployment
    client.wait(warm_launch(client, partition, ["top_patent_countries"]).job, timeout=300)  # the zygote is warm
    waiting = wait_for(lambda: waiting_workers_with_chromium(home), timeout=120,
                       message="no worker forked ahead with its Chromium")
    launched = client.launch(partition, ["top_patent_countries"], {"top_n": 7})
    assert client.wait(launched.job, timeout=300).status == "SUCCESS"
    assert int(tags_of(client, launched.run_id)[WARM_PID_TAG]) in waiting


def test_a_chart_cancelled_right_after_its_launch_is_not_drawn(deployment):
    client, partition, _ = deployment
    launched = client.launch(partition, ["top_patent_countries", "patent_forecast", "cpc_treemap"], {"top_n": 9})
    assert "cancel requested" in client.cancel_chart(launched.job, "patent_forecast")
    job = client.wait(launched.job, timeout=300)
    assert WARM_PID_TAG in tags_of(client, launched.run_id)  # a warm run: its step starts at once
    assert job.charts["patent_forecast"].status == "cancelled", job.to_dict()
    assert {job.charts[k].status for k in ("top_patent_countries", "cpc_treemap")} == {"success"}


def test_a_warm_run_can_be_cancelled(deployment):
    client, partition, _ = deployment
    launched = warm_launch(client, partition, ["patent_forecast", "cpc_treemap", "top_patent_applicants",
                                               "top_patent_inventors", "patent_trends_cumulative"])
    client.cancel_job(launched.job)
    job = client.wait(launched.job, timeout=120)
    assert job.status in ("CANCELLED", "PARTIAL_SUCCESS"), job.to_dict()
    (run,) = client.job_runs(launched.job)
    assert run["status"] == "CANCELED"


def test_a_dead_warm_worker_is_caught_by_run_monitoring(deployment):
    client, partition, _ = deployment
    launched = warm_launch(client, partition, ["patent_forecast", "cpc_treemap", "top_patent_applicants",
                                               "top_patent_inventors", "patent_trends_cumulative"])
    pid = int(tags_of(client, launched.run_id)[WARM_PID_TAG])
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pytest.skip("the run ended before it could be killed")
    job = client.wait(launched.job, timeout=180)
    (run,) = client.job_runs(launched.job)
    assert run["status"] == "FAILURE", run
    assert job.status in ("FAILED", "PARTIAL_SUCCESS")
    messages = " ".join(e["message"] for e in client.run_events(launched.run_id) if e.get("message"))
    assert f"warm process (pid {pid}) is gone" in messages, messages[-1500:]


@dg.op
def nothing() -> None:
    """An op of a run that must never start."""


@dg.job
def never_started():
    nothing()


def test_a_run_cancelled_as_the_queue_takes_it_is_not_launched():
    """The queue's daemon checks that a run is QUEUED, then reports it STARTING and launches it;
    a cancel landing between the two is hidden by STARTING. The launcher finds it: no worker,
    the run ends CANCELED and says why."""
    with dg.instance_for_test() as instance:
        launcher = WarmRunLauncher()
        launcher.register_instance(instance)
        run = instance.create_run_for_job(never_started)
        for kind in ("PIPELINE_CANCELED", "PIPELINE_STARTING"):
            # cancelled by the webserver; then reported starting by the daemon, which saw it queued
            # (a queued run needs a code location's origin, which an instance for tests has not)
            instance.report_dagster_event(dg.DagsterEvent(event_type_value=kind, job_name=run.job_name), run.run_id)
        assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.STARTING
        # LaunchRunContext has no public import; the launcher reads only its run
        launcher.launch_run(SimpleNamespace(dagster_run=instance.get_run_by_id(run.run_id)))
        assert instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.CANCELED
        last = instance.get_records_for_run(run.run_id, ascending=False, limit=1).records[0].event_log_entry
        assert last.dagster_event.event_type == dg.DagsterEventType.RUN_CANCELED
        assert "not started" in last.message
