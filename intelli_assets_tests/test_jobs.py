"""Jobs as an operator follows them, through the real `intelli` console script: status, retry,
cancel (a chart, a whole job), idempotency keys, events and the audit trail."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import dagster as dg

from intelli_assets.charts import CHARTS, charts_fed_by
from intelli_assets.dataset import file_sha256, partition_key_for
from intelli_assets_tests.test_cli import intelli
from intelli_assets_tests.test_run_hardening import (
    charts_materialized,
    charts_on_disk,
    open_home,
    restore_dagster_home,
    start_intelli,
)
from intelli_assets_tests.waiting import wait_for

__all__ = ["restore_dagster_home"]  # the fixture, used here too


def status(home: Path, job: str) -> dict:
    proc = intelli("status", job, "--json", home=home)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_a_failed_chart_makes_a_partial_job_and_its_retry_a_successful_one(tmp_path, sample_workbook):
    home = tmp_path / "home"
    key = partition_key_for(sample_workbook.name, file_sha256(sample_workbook))
    blocker = home / "artifacts" / key / "cpc_treemap"  # a file where the chart's folder goes: its writes fail
    blocker.parent.mkdir(parents=True)
    blocker.write_text("in the way")
    proc = intelli("run", str(sample_workbook), "--charts", "cpc_treemap,patent_evolution", "--json",
                   "--set", "language=en", home=home)
    assert proc.returncode == 1
    job = json.loads(proc.stdout)["job"]
    first = status(home, job)
    assert first["status"] == "PARTIAL_SUCCESS" and first["origin"] == "cli"
    assert first["charts"]["patent_evolution"]["status"] == "success"
    treemap = first["charts"]["cpc_treemap"]
    assert treemap["status"] == "failed" and f"cannot write {blocker}/" in treemap["error"]

    blocker.unlink()
    retried = intelli("retry", job, "--chart", "cpc_treemap", "--json", home=home)
    assert retried.returncode == 0, retried.stderr
    after = status(home, job)
    assert after["status"] == "SUCCESS"
    assert after["charts"]["cpc_treemap"]["attempts"] == 2
    assert [r["retry_of"] for r in after["runs"]] == [None, "cpc_treemap"]
    png = Path(after["charts"]["cpc_treemap"]["files"]["png"])
    assert png.read_bytes()[:4] == b"\x89PNG"
    settings = json.loads((png.parent / "settings.json").read_text())
    assert settings["style"]["language"] == "en"  # the retry kept the job's settings
    text = intelli("status", job, home=home).stdout
    assert f"job {job} · SUCCESS" in text and "cpc_treemap                success  (2 attempts)" in text


def test_the_same_idempotency_key_twice_is_one_job(tmp_path, sample_workbook):
    home = tmp_path / "home"
    runs = [start_intelli("run", str(sample_workbook), "--charts", "patent_evolution", "--json",
                          "--idempotency-key", "board-2026-11", home=home) for _ in range(2)]  # at once
    reports = []
    for proc in runs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        reports.append(json.loads(out))
    assert reports[0]["job"] == reports[1]["job"]
    assert sorted(r["existing"] for r in reports) == [False, True]
    again = json.loads(intelli("run", str(sample_workbook), "--charts", "patent_evolution", "--json",
                               "--idempotency-key", "board-2026-11", home=home).stdout)
    assert again["job"] == reports[0]["job"] and again["existing"] and again["status"] == "success"
    with open_home(home) as instance:
        assert len(instance.get_runs()) == 1
    other = json.loads(intelli("run", str(sample_workbook), "--charts", "patent_evolution", "--json",
                               "--idempotency-key", "another", home=home).stdout)
    assert other["job"] != again["job"]
    changed = intelli("run", str(sample_workbook), "--charts", "patent_evolution", "--set", "language=en",
                      "--idempotency-key", "board-2026-11", home=home)  # the same key for another request
    assert changed.returncode == 2 and f"already used by job {reports[0]['job']}" in changed.stderr


def run_in_background(home: Path, workbook: Path) -> tuple:
    """A slow run (large, dense images) and its job id, once its first chart is drawn."""
    proc = start_intelli("run", str(workbook), "--json", "--set", "width=3000", "--set", "scale=4", home=home)
    wait_for(lambda: (home / "dagster.yaml").exists(), timeout=60, message="no instance")

    def first_chart() -> bool:
        with open_home(home) as instance:
            return charts_materialized(instance) >= 1
    wait_for(first_chart, timeout=180, message="no chart was drawn")
    with open_home(home) as instance:
        job = instance.get_runs(limit=1)[0].tags["intelli/job"]
    return proc, job


def child_of(pid: int, command: bytes) -> int:
    """The child process of `pid` whose command line holds `command`."""
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError):
            continue
        if ppid == pid and command in cmdline:
            return int(entry)
    raise AssertionError(f"process {pid} has no child {command.decode()}")


def forecast_worker_of(pid: int) -> int:
    """The forecast worker process `intelli run` (pid) started for its run."""
    return child_of(pid, b"intelli_assets.forecast_worker")


def test_cancel_one_chart_mid_run_the_others_finish(tmp_path, sample_workbook):
    home = tmp_path / "home"
    proc, job = run_in_background(home, sample_workbook)
    worker = forecast_worker_of(proc.pid)
    os.kill(worker, signal.SIGSTOP)  # its fits never come: the forecast chart (drawn last) waits for them
    fed = len(charts_fed_by(CHARTS, has_records=False))
    with open_home(home) as instance:
        wait_for(lambda: charts_materialized(instance) == fed - 1, timeout=300, message="the other charts not drawn")
    cancel = intelli("cancel", job, "--chart", "patent_forecast", home=home)
    assert cancel.returncode == 0, cancel.stderr
    # the cancel ends the wait, well before the worker's 120 s time-out would
    out, err = proc.communicate(timeout=60)
    assert not Path(f"/proc/{worker}").exists()  # killed and reaped with the run
    assert proc.returncode == 1, err  # not every chart was drawn
    report = status(home, job)
    assert report["status"] == "PARTIAL_SUCCESS"
    assert report["charts"]["patent_forecast"]["status"] == "cancelled"
    others = {k: c["status"] for k, c in report["charts"].items() if k != "patent_forecast"}
    assert set(others.values()) == {"success"} and len(others) == len(charts_fed_by(CHARTS, has_records=False)) - 1
    assert charts_on_disk(home, report["partition"]) == set(others)  # its result was dropped
    events = [json.loads(line) for line in intelli("events", job, "--json", home=home).stdout.splitlines()]
    assert any(e["kind"] == "CHART_CANCELLED" and "patent_forecast" in e["message"] for e in events)
    again = intelli("cancel", job, "--chart", "patent_forecast", home=home)
    assert again.returncode == 2 and "already cancelled" in again.stderr


def test_cancel_a_job_mid_run_keeps_what_finished(tmp_path, sample_workbook):
    home = tmp_path / "home"
    proc, job = run_in_background(home, sample_workbook)
    # the run's Chromium (its own process group) held still: the charts left wait for their
    # images, so the cancel comes mid-run however fast the host draws
    browser = os.getpgid(child_of(proc.pid, b"chrom"))
    os.killpg(browser, signal.SIGSTOP)
    try:
        cancel = intelli("cancel", job, "--json", home=home)
    finally:
        os.killpg(browser, signal.SIGCONT)
    assert cancel.returncode == 0, cancel.stderr
    out, err = proc.communicate(timeout=300)
    report = json.loads(out)
    assert report["status"] == "cancelled" and "Traceback" not in err
    job_state = status(home, job)
    assert job_state["status"] == "CANCELLED"
    states = [c["status"] for c in job_state["charts"].values()]
    assert set(states) == {"success", "cancelled"}, states
    for chart in job_state["charts"].values():
        for path in chart["files"].values():
            assert Path(path).is_file()
    done = {key for key, chart in job_state["charts"].items() if chart["status"] == "success"}
    assert charts_on_disk(home, job_state["partition"]) == done
    with open_home(home) as instance:
        assert instance.get_run_by_id(report["run_id"]).status == dg.DagsterRunStatus.CANCELED


def test_audit_lists_every_materialization_and_names_a_changed_or_missing_file(tmp_path, sample_workbook):
    home = tmp_path / "home"
    first = json.loads(intelli("run", str(sample_workbook), "--charts", "cpc_treemap,patent_evolution", "--json",
                               home=home).stdout)
    again = json.loads(intelli("run", str(sample_workbook), "--charts", "cpc_treemap", "--json",
                               "--set", "num_groups=5", "--requested-by", "ana", home=home).stdout)
    audit = intelli("audit", first["partition"], "--json", home=home)
    assert audit.returncode == 0, audit.stderr
    trail = json.loads(audit.stdout)
    assert trail["intact"] and len(trail["materializations"]) == 5  # two raw_source, three charts
    assert [m["chart"] for m in trail["materializations"]].count("raw_source") == 2
    newest = trail["materializations"][-1]
    assert (newest["chart"], newest["requested_by"], newest["origin"]) == ("cpc_treemap", "ana", "cli")
    assert newest["params"]["params"] == {"num_groups": 5}
    assert {f["name"] for f in newest["files"]} == {"png", "svg", "html", "chart_data", "settings"}
    assert all(len(f["sha256"]) == 64 and f["state"] == "ok" for f in newest["files"])

    changed = Path(first["charts"]["patent_evolution"]["files"]["svg"])
    changed.write_text(changed.read_text().replace("</svg>", "<!-- edited --></svg>"))
    missing = Path(again["charts"]["cpc_treemap"]["files"]["png"])
    missing.unlink()
    raw = next((home / "artifacts" / first["partition"] / "raw").glob("*.xlsx"))
    raw.write_bytes(raw.read_bytes() + b"tampered")
    audit = intelli("audit", first["partition"], home=home)
    assert audit.returncode == 1
    assert f"changed: {changed}" in audit.stderr and f"missing: {missing}" in audit.stderr
    assert f"changed: {raw}" in audit.stderr
    assert "5 materializations; 3 file(s) changed or missing" in audit.stdout  # the input once: its latest record


def test_status_of_an_unknown_job_is_a_clear_error(tmp_path):
    proc = intelli("status", "no-such-job", home=tmp_path / "home")
    assert proc.returncode == 2 and "no job 'no-such-job'" in proc.stderr
