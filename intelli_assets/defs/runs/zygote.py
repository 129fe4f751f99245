"""The warm process that run workers are forked from (see `warm_launcher.py`).

It imports the code location once (Dagster, pandas, plotly, every chart: ~2 s) and warms what
runs load lazily: the instance's storage modules (from the instance ref on its first stdin
line) and a build of every chart on sample data (`warmup.py`). It then keeps one *spare*: a
child forked ahead of its run, which starts the run's Chromium while it waits. For each request
on stdin (the serialized arguments of `dagster api execute_run`) the spare is handed the
arguments and runs that very command in-process, the zygote answers with its pid and forks the
next spare. The zygote starts no thread of its own, so forking is safe (the pool threads
pyarrow starts in the warm-up are rebuilt in a forked child by pyarrow itself).

Run as `python -m intelli_assets.defs.runs.zygote`; it exits when stdin closes (its launcher
is gone), and its spare, seeing its request pipe close, exits too.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import traceback
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2]
PRESTART_ENV = "INTELLI_PRESTART_BROWSER"  # "0": the worker forked ahead starts no browser
LOG_LIMIT_BYTES = 10 * 1024 * 1024  # then warm-runs.log becomes warm-runs.log.1


def code_version() -> float:
    """The newest modification time of the package's Python files: a zygote older than this
    runs stale code and must be replaced. (A file gone meanwhile, or an editor's lock link such
    as `.#step.py`, is no code.)"""
    newest = 0.0
    for path in PACKAGE.rglob("*.py"):
        try:
            newest = max(newest, path.stat().st_mtime)
        except OSError:
            continue
    return newest


def rotate_log(log_path: str, limit_bytes: int = LOG_LIMIT_BYTES) -> bool:
    """Move a warm-runs log over `limit_bytes` to `<log>.1` (replacing the older one), so the
    workers forked next start a new file; workers still running keep writing to the old one."""
    path = Path(log_path)
    try:
        if not path.is_file() or path.stat().st_size <= limit_bytes:
            return False
        path.replace(path.with_name(path.name + ".1"))
    except OSError:  # a log we cannot move is no reason to stop warm runs
        return False
    return True


def become_worker(log_path: str) -> None:
    """In a forked child: its own session, default signals, output to the warm-runs log."""
    os.setsid()  # its own session: a signal to the zygote's group does not reach runs
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD):
        signal.signal(signum, signal.SIG_DFL)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)


def spare_main(request_fd: int, log_path: str) -> None:
    """In a spare: start the run's browser, wait for the run's arguments, run it; never returns."""
    from intelli_assets.defs.charts.resources import ChartRenderer
    from intelli_assets.defs.runs.sqlite_storage import close_engines
    from intelli_assets.rendering.prestarted import defer_closing, discard_prestarted, prestart

    become_worker(log_path)
    code = 1
    try:
        defer_closing()  # a browser closed after the run ends: not in its time
        if os.environ.get(PRESTART_ENV, "1") != "0":
            prestart(ChartRenderer().engine_settings())  # taken by the run's renderer resource
        with os.fdopen(request_fd) as requests:
            line = requests.readline()
        if not line:  # the zygote is gone or replaced: no run will come
            code = 0
            return
        # No public API executes an existing run in-process; this is the command Dagster's own
        # run launchers start (`dagster api execute_run`), called without a new interpreter.
        from dagster._cli.api import execute_run_command

        from intelli_assets.defs.runs.sqlite_connections import sqlite_files_kept_open

        with sqlite_files_kept_open():
            execute_run_command.main(args=[json.loads(line)["args"]], standalone_mode=False)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 - the run's own events carry the error
        traceback.print_exc()
    finally:
        discard_prestarted()  # a run that drew no chart: its browser goes now
        close_engines()  # os._exit runs no atexit: its SQLite logs are folded back now
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


class Spare:
    """The zygote's handle on its spare: the pid and the pipe its run's arguments go down."""

    def __init__(self, log_path: str) -> None:
        read_fd, self.request_fd = os.pipe()
        self.pid = os.fork()
        if self.pid == 0:
            os.close(self.request_fd)
            spare_main(read_fd, log_path)
        os.close(read_fd)

    def hand(self, serialized_args: str) -> None:
        """Give the spare its run (OSError if it died meanwhile)."""
        try:
            os.write(self.request_fd, (json.dumps({"args": serialized_args}) + "\n").encode())
        finally:
            self.close()

    def close(self) -> None:
        if self.request_fd >= 0:
            os.close(self.request_fd)
            self.request_fd = -1


def adopt_orphans() -> None:
    """Become the reaper of our workers' orphans (Linux): a worker exits right after closing its
    Chromium, before reaping it, and the killed browser would otherwise wait as a zombie for an
    init that a container may not have. `reap` collects them with the workers."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER
    except (OSError, AttributeError):
        pass  # not Linux: the system's init reaps them


def reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def warm_up(instance_ref: str | None) -> None:
    """Load what every run loads lazily, once; a failure here only costs speed."""
    import dagster as dg

    from intelli_assets.defs.runs.sqlite_storage import close_engines
    from intelli_assets.warmup import warm_chart_building

    try:
        if instance_ref:  # the storage modules (SQLAlchemy, the backend's dialect: ~0.7 s a run)
            instance = dg.DagsterInstance.from_ref(dg.deserialize_value(instance_ref))
            try:
                instance.get_runs(limit=1)
                instance.get_latest_materialization_event(dg.AssetKey(["charts", "warm-up"]))
            finally:  # no database connection may stay open in the process workers are forked from
                instance.dispose()
                close_engines()  # the schedules file too, which the instance's dispose leaves open
        warm_chart_building()
    except Exception:  # noqa: BLE001 - the runs will load it themselves
        traceback.print_exc()


def main() -> None:
    log_path = os.environ.get("INTELLI_ZYGOTE_LOG", os.devnull)
    from dagster._cli.api import execute_run_command  # noqa: F401 - warm, too

    from intelli_assets.definitions import defs  # the point: the code location, imported once
    from intelli_assets.forecasting import import_models

    defs.resolve_all_job_defs()  # the repository and its jobs, built once for every child
    import_models()  # statsmodels: forecasts are then fitted in the run's own process
    first = json.loads(sys.stdin.readline() or "{}")
    warm_up(first.get("instance_ref"))

    signal.signal(signal.SIGCHLD, lambda *_: reap())  # no zombie looks like a live run to run monitoring
    adopt_orphans()
    spare = Spare(log_path)
    print(json.dumps({"ready": True, "pid": os.getpid(), "code_version": code_version()}), flush=True)
    for line in sys.stdin:
        request = json.loads(line)
        try:
            spare.hand(request["args"])
        except OSError:  # the spare died while waiting: fork another one for this run
            spare = Spare(log_path)
            spare.hand(request["args"])
        print(json.dumps({"pid": spare.pid, "run_id": request.get("run_id")}), flush=True)
        rotate_log(log_path)
        spare = Spare(log_path)
    spare.close()


if __name__ == "__main__":
    main()
