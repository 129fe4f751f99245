"""The warm process that run workers are forked from (see `warm_launcher.py`).

It imports the code location once (Dagster, pandas, plotly, every chart: ~2 s), then reads one
request per line on stdin: the serialized arguments of `dagster api execute_run`. For each it
forks; the child runs that very command in-process, so a run starts with everything already
imported, and the zygote answers with the child's pid. It starts no thread, so forking is safe.

Run as `python -m intelli_assets.defs.runs.zygote`; it exits when stdin closes (its launcher
is gone) and reaps its children as they end.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2]


def code_version() -> float:
    """The newest modification time of the package's Python files: a zygote older than this
    runs stale code and must be replaced."""
    return max((p.stat().st_mtime for p in PACKAGE.rglob("*.py")), default=0.0)


def run_child(serialized_args: str, log_path: str) -> None:
    """In the forked child: become a run worker, as `dagster api execute_run ARGS` would."""
    os.setsid()  # its own session: a signal to the zygote's group does not reach runs
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD):
        signal.signal(signum, signal.SIG_DFL)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    code = 1
    try:
        # No public API executes an existing run in-process; this is the command Dagster's own
        # run launchers start (`dagster api execute_run`), called without a new interpreter.
        from dagster._cli.api import execute_run_command

        execute_run_command.main(args=[serialized_args], standalone_mode=False)
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # noqa: BLE001 - the run's own events carry the error
        import traceback

        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def main() -> None:
    log_path = os.environ.get("INTELLI_ZYGOTE_LOG", os.devnull)
    from dagster._cli.api import execute_run_command  # noqa: F401 - warm, too

    from intelli_assets.definitions import defs  # the point: the code location, imported once
    from intelli_assets.forecasting import import_models

    defs.resolve_all_job_defs()  # the repository and its jobs, built once for every child
    import_models()  # statsmodels: forecasts are then fitted in the run's own process

    signal.signal(signal.SIGCHLD, lambda *_: reap())  # no zombie looks like a live run to run monitoring
    version = code_version()
    print(json.dumps({"ready": True, "pid": os.getpid(), "code_version": version}), flush=True)
    for line in sys.stdin:
        reap()
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            run_child(request["args"], log_path)
        print(json.dumps({"pid": pid, "run_id": request.get("run_id")}), flush=True)
    reap()


if __name__ == "__main__":
    main()
