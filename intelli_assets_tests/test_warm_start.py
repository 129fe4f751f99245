"""What makes a warm run start fast, piece by piece: the renderer started ahead of its run and
handed to it (`rendering/prestarted.py`), the run queue looked at under a second apart
(`defs/runs/coordinator.py`), and the warm-up of the chart code (`warmup.py`). The whole path,
on a real `dagster dev`, is in test_warm_launcher.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import plotly.graph_objects as go
import pytest
import yaml

from intelli_assets.charts import CHARTS
from intelli_assets.defs.charts.resources import ChartRenderer
from intelli_assets.defs.runs.zygote import PRESTART_ENV, rotate_log
from intelli_assets.rendering import prestarted
from intelli_assets.warmup import warm_chart_building
from intelli_assets_tests.conftest import PROJECT_ROOT
from intelli_assets_tests.test_rendering import PNG_MAGIC, browser_processes, parent_pid, wait_until_gone
from intelli_assets_tests.waiting import wait_for

DEFAULTS = ChartRenderer().engine_settings()


@pytest.fixture(autouse=True)
def no_renderer_left():
    yield
    prestarted.discard_prestarted()
    prestarted._in_warm_worker = False  # noqa: SLF001 - each test starts as a plain process


def bar() -> go.Figure:
    return go.Figure(go.Bar(x=["a", "b"], y=[1, 2]))


def started_browser(renderer) -> int:
    renderer.start()
    assert renderer.fast.browser_pid is not None
    return renderer.fast.browser_pid


def test_the_run_takes_the_renderer_started_ahead_for_its_settings():
    prestarted.prestart(DEFAULTS)
    taken = prestarted.take_prestarted(dict(DEFAULTS))
    assert taken is not None
    pid = started_browser(taken)
    assert taken.render(bar(), ["png"])["png"][:8] == PNG_MAGIC
    assert taken.fast.browser_pid == pid  # the same browser drew it: none was started for the run
    assert prestarted.take_prestarted(DEFAULTS) is None  # taken once
    taken.close()
    wait_until_gone(pid)


def test_a_run_with_other_settings_starts_its_own_and_the_early_one_is_closed():
    prestarted.prestart(DEFAULTS)
    early = prestarted._waiting[1]  # noqa: SLF001 - the renderer held for the run
    pid = started_browser(early)
    assert prestarted.take_prestarted({**DEFAULTS, "engine": "kaleido"}) is None
    wait_until_gone(pid)


def test_a_browser_that_died_while_waiting_is_not_handed_over():
    prestarted.prestart(DEFAULTS)
    early = prestarted._waiting[1]  # noqa: SLF001
    pid = started_browser(early)
    os.killpg(pid, signal.SIGKILL)
    wait_for(lambda: early.died_idle, message="the killed browser still counts as alive")
    assert prestarted.take_prestarted(DEFAULTS) is None  # the run starts a fresh one instead
    assert early.fast.crashes == 0  # and the dead one was not counted against the run's renderer


def test_in_a_warm_worker_the_browser_is_closed_after_the_run_not_during_its_teardown():
    prestarted.defer_closing()
    prestarted.prestart(DEFAULTS)
    taken = prestarted.take_prestarted(DEFAULTS)
    pid = started_browser(taken)
    prestarted.release(taken)  # the run's teardown
    assert browser_processes(pid)  # still there: closing it is not the run's time
    prestarted.discard_prestarted()  # after the run (zygote.spare_main's finally)
    wait_until_gone(pid)


def test_outside_a_warm_worker_a_released_renderer_is_closed_at_once():
    renderer = ChartRenderer()._new()  # noqa: SLF001 - the run's own, as when nothing was started ahead
    pid = started_browser(renderer)
    prestarted.release(renderer)
    wait_until_gone(pid)


def test_a_renderer_nobody_took_is_closed_with_the_worker():
    prestarted.prestart(DEFAULTS)
    pid = started_browser(prestarted._waiting[1])  # noqa: SLF001
    prestarted.discard_prestarted()
    wait_until_gone(pid)


def instance_with_queue(interval: object, **overrides: dict):
    return dg.instance_for_test(overrides={"run_coordinator": {
        "module": "intelli_assets.defs.runs.coordinator", "class": "PromptQueuedRunCoordinator",
        "config": {"dequeue_interval_seconds": interval}}, **overrides})


WARM_LAUNCHER = {"module": "intelli_assets.defs.runs.warm_launcher", "class": "WarmRunLauncher",
                 "config": {"warm": True, "prestart_browser": False}}


def test_the_daemon_starts_the_warm_process_as_it_sets_up_its_queue_and_starts_even_if_that_fails(
        monkeypatch, caplog):
    from intelli_assets.defs.runs.warm_launcher import WarmRunLauncher

    warmed: list[WarmRunLauncher] = []
    monkeypatch.setattr(WarmRunLauncher, "warm_up", lambda self: warmed.append(self))
    with instance_with_queue(0.25, run_launcher=WARM_LAUNCHER) as instance:
        assert instance.run_coordinator.dequeue_interval_seconds == 0.25  # read as the daemon starts
        assert warmed == [instance.run_launcher]
        assert instance.run_coordinator.dequeue_interval_seconds == 0.25 and len(warmed) == 1  # once

    def cannot(self: WarmRunLauncher) -> None:
        raise OSError("Resource temporarily unavailable (fork)")

    monkeypatch.setattr(WarmRunLauncher, "warm_up", cannot)
    with instance_with_queue(0.25, run_launcher=WARM_LAUNCHER) as instance:
        assert instance.run_coordinator.dequeue_interval_seconds == 0.25  # the daemon still starts
    assert "could not start the run launcher's warm process" in caplog.text and "(fork)" in caplog.text


def test_a_file_that_vanishes_or_an_editor_lock_link_is_no_code_change(tmp_path, monkeypatch):
    from intelli_assets.defs.runs import zygote

    (tmp_path / "step.py").write_text("x = 1\n")
    (tmp_path / ".#step.py").symlink_to(tmp_path / "gone")  # Emacs's lock: a link to nothing
    monkeypatch.setattr(zygote, "PACKAGE", tmp_path)
    assert zygote.code_version() == (tmp_path / "step.py").stat().st_mtime


def test_the_run_queue_can_be_looked_at_more_than_once_a_second():
    with instance_with_queue(0.25) as instance:
        assert instance.run_coordinator.dequeue_interval_seconds == 0.25
        assert isinstance(instance.run_coordinator, dg.QueuedRunCoordinator)  # the daemon dequeues it
        assert "QUEUED_RUN_COORDINATOR" in instance.get_required_daemon_types()


def test_the_queue_interval_can_come_from_an_environment_variable(monkeypatch):
    monkeypatch.setenv("INTELLI_TEST_DEQUEUE", "0.5")
    with instance_with_queue({"env": "INTELLI_TEST_DEQUEUE"}) as instance:
        assert instance.run_coordinator.dequeue_interval_seconds == 0.5
    monkeypatch.setenv("INTELLI_TEST_DEQUEUE", "soon")
    with pytest.raises(dg.DagsterInvalidConfigError, match=r"reads \$INTELLI_TEST_DEQUEUE, which is 'soon'"):
        with instance_with_queue({"env": "INTELLI_TEST_DEQUEUE"}) as instance:
            instance.run_coordinator  # noqa: B018


@pytest.mark.parametrize("interval", [0, -1])
def test_a_queue_interval_that_is_not_a_positive_number_is_refused(interval):
    with pytest.raises(dg.DagsterInvalidConfigError, match="dequeue_interval_seconds must be a number of seconds"):
        with instance_with_queue(interval) as instance:
            instance.run_coordinator  # noqa: B018 - built on first use


def test_a_queue_interval_that_is_not_a_number_is_refused_by_the_config_schema():
    with pytest.raises(dg.DagsterInvalidConfigError, match="dequeue_interval_seconds"):
        with instance_with_queue("often") as instance:
            instance.run_coordinator  # noqa: B018


def test_the_warm_up_builds_every_chart():
    assert warm_chart_building() == len(CHARTS)


def children(pid: int) -> list[int]:
    return [int(entry) for entry in filter(str.isdigit, os.listdir("/proc")) if parent_pid(int(entry)) == pid]


def browsers_of(pid: int) -> list[int]:
    return [c for c in children(pid) if b"--remote-debugging-pipe" in Path(f"/proc/{c}/cmdline").read_bytes()]


@pytest.mark.slow
@pytest.mark.parametrize("prestart", [True, False])
def test_the_zygote_forks_a_worker_ahead_with_or_without_its_browser_and_all_go_with_it(tmp_path, prestart):
    env = {**os.environ, "INTELLI_ZYGOTE_LOG": str(tmp_path / "warm-runs.log"), PRESTART_ENV: "1" if prestart else "0"}
    zygote = subprocess.Popen([sys.executable, "-m", "intelli_assets.defs.runs.zygote"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env=env, start_new_session=True)
    try:
        zygote.stdin.write("{}\n")  # no instance to warm up
        zygote.stdin.flush()
        assert json.loads(zygote.stdout.readline())["ready"] is True
        (worker,) = wait_for(lambda: children(zygote.pid), timeout=30, message="no worker forked ahead")
        if prestart:
            # the value found, not a second look: the browser's launcher execs, so a look can miss it
            browser = wait_for(lambda: browsers_of(worker), timeout=60, message="the worker started no browser")[0]
        else:
            time.sleep(3)  # long enough for a browser to have appeared (the other case waits for it)
            assert browsers_of(worker) == []
        zygote.stdin.close()  # the launcher is gone: the zygote, its worker and the browser follow
        assert zygote.wait(30) == 0
        wait_for(lambda: not Path(f"/proc/{worker}").exists() or not Path(f"/proc/{worker}/cmdline").read_bytes(),
                 timeout=30, message="the worker outlived its zygote")
        if prestart:
            wait_until_gone(browser)
    finally:
        if zygote.poll() is None:
            os.killpg(zygote.pid, signal.SIGKILL)


@pytest.mark.slow
def test_the_warm_up_figure_changes_no_chart_byte(sample_dataset):
    from intelli_assets.rendering import FigureRenderer
    from intelli_assets.style import Style

    figures = {key: spec.run(sample_dataset, {}, Style()).figure for key, spec in CHARTS.items()
               if not spec.needs_records}

    def drawn(warm_up: bool) -> dict[str, bytes]:
        renderer = FigureRenderer()
        if not warm_up:
            renderer._warm_up = lambda: None  # noqa: SLF001 - the page as it was before the warm-up
        with renderer:
            return {key: renderer.render(fig, ["png"])["png"] for key, fig in figures.items()}

    assert len(figures) >= 8
    assert drawn(warm_up=True) == drawn(warm_up=False)


def test_doctor_names_a_bad_run_launcher_setting(tmp_path):
    """Else every run would fail 'from outside the execution context', the cause only in a log."""
    config = (PROJECT_ROOT / "intelli_assets" / "dagster.yaml").read_text()
    assert "prestart_browser: true" in config
    (tmp_path / "dagster.yaml").write_text(config.replace("prestart_browser: true", 'prestart_browser: "no"'))
    doctor = subprocess.run([sys.executable, "-m", "intelli_assets.cli", "doctor", "--json"], capture_output=True,
                            text=True, env={**os.environ, "DAGSTER_HOME": str(tmp_path)}, timeout=300)
    assert doctor.returncode == 1, doctor.stderr
    storage = next(c for c in json.loads(doctor.stdout)["checks"] if c["name"] == "storage")
    assert not storage["ok"] and "prestart_browser" in storage["detail"], storage


def test_doctor_warns_of_a_home_without_the_batch_limit_or_more_batch_runs_than_it_allows(tmp_path):
    def batches_check(home: Path, **env: str) -> dict:
        doctor = subprocess.run([sys.executable, "-m", "intelli_assets.cli", "doctor", "--json"], capture_output=True,
                                text=True, env={**os.environ, "DAGSTER_HOME": str(home), **env}, timeout=300)
        assert doctor.returncode == 0, doctor.stdout  # a warning, not a failure
        return next(c for c in json.loads(doctor.stdout)["checks"] if c["name"] == "batches")

    config = yaml.safe_load((PROJECT_ROOT / "intelli_assets" / "dagster.yaml").read_text())
    (tmp_path / "new").mkdir()
    (tmp_path / "new" / "dagster.yaml").write_text(yaml.safe_dump(config))
    assert batches_check(tmp_path / "new") == {
        "name": "batches", "ok": True, "required": False,
        "detail": "at most 2 inbox batch runs at work at once; a look requests up to 2"}
    more = batches_check(tmp_path / "new", INTELLI_INBOX_BATCH_RUNS="3")
    assert not more["ok"] and "INTELLI_INBOX_BATCH_RUNS=3 batch runs a look, but 2 at work at once" in more["detail"]

    del config["concurrency"]["runs"]["tag_concurrency_limits"]  # a home made before the limit
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "dagster.yaml").write_text(yaml.safe_dump(config))
    old = batches_check(tmp_path / "old")
    assert not old["ok"] and "no run limit on the tag intelli/batch_size" in old["detail"]



def test_doctor_says_how_the_inbox_takes_files_and_names_a_bad_quiet_setting(tmp_path):
    def inbox_check(**env: str) -> dict:
        doctor = subprocess.run([sys.executable, "-m", "intelli_assets.cli", "doctor", "--json"], capture_output=True,
                                text=True, env={**os.environ, "DAGSTER_HOME": str(tmp_path / "home"), **env},
                                timeout=300)
        assert doctor.returncode == 0, doctor.stdout  # a warning, not a failure
        return next(c for c in json.loads(doctor.stdout)["checks"] if c["name"] == "inbox")

    inbox = tmp_path / "inbox"
    assert inbox_check(INTELLI_INBOX=str(inbox))["detail"] == f"inbox {inbox}: not there yet (the sensor makes it)"
    inbox.mkdir()
    assert inbox_check(INTELLI_INBOX=str(inbox))["detail"] == \
        f"inbox {inbox}: a valid file untouched for 2 s is taken at the first look"
    assert list(inbox.iterdir()) == []  # the probe is gone
    bad = inbox_check(INTELLI_INBOX=str(inbox), INTELLI_INBOX_QUIET_SECONDS="2s")
    assert not bad["ok"] and "INTELLI_INBOX_QUIET_SECONDS / quiet_seconds='2s': expected seconds" in bad["detail"]


def test_the_warm_runs_log_is_rotated_past_its_limit(tmp_path):
    log = tmp_path / "warm-runs.log"
    log.write_text("x" * 100)
    assert rotate_log(str(log), limit_bytes=1000) is False and log.read_text() == "x" * 100  # under it: kept
    (tmp_path / "warm-runs.log.1").write_text("older")
    log.write_text("y" * 2000)
    assert rotate_log(str(log), limit_bytes=1000) is True
    assert not log.exists() and (tmp_path / "warm-runs.log.1").read_text() == "y" * 2000  # one old file kept
    assert rotate_log(os.devnull) is False  # no log configured: nothing to move
