"""A run launcher whose run workers start warm: forked from a process that has already imported
the code location (`zygote.py`), instead of a new interpreter importing Dagster, pandas,
plotly and every chart (~2 s) for each run.

Dagster's default launcher asks the code server to `spawn` a fresh process per run; for a
one-chart re-render from the UI or GraphQL that start is most of the wait. This launcher keeps
one zygote next to the daemon and forks each run of this code location from it; the child runs
`dagster api execute_run`, so events, statuses, pools and run monitoring are Dagster's own.
The zygote starts with the daemon; a run launched while it is still warming up (or after a code
change) is launched the default way, as runs of other code locations always are. Set
`warm: false` to turn it off.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import threading
from typing import Any

import dagster as dg

from intelli_assets.defs.runs.cancels import run_cancel_recorded
from intelli_assets.defs.runs.ownership import OWNER_PROCESS_TAG
from intelli_assets.defs.runs.zygote import PRESTART_ENV, code_version

WARM_PID_TAG = "intelli/warm_pid"
WARM_HOST_TAG = "intelli/warm_host"
CODE_MODULE = "intelli_assets.definitions"
ANSWER_SECONDS = 60.0


class ForkUnanswered(RuntimeError):
    """The request was sent but the zygote did not answer: the run may have started."""


class Zygote:
    """One warm process and the pipe to it."""

    def __init__(self, log_path: str, instance_ref: str, prestart_browser: bool = True) -> None:
        self.process = subprocess.Popen(  # noqa: S603 - fixed argv
            [sys.executable, "-m", "intelli_assets.defs.runs.zygote"], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, bufsize=1,
            env={**os.environ, "INTELLI_ZYGOTE_LOG": log_path, PRESTART_ENV: "1" if prestart_browser else "0"},
            start_new_session=True)
        self.code_version = code_version()
        self.ready = False
        assert self.process.stdin is not None
        # the first line: the instance its runs open, so it can load the storage's modules
        self.process.stdin.write(json.dumps({"instance_ref": instance_ref}) + "\n")

    def _line(self, timeout: float) -> dict | None:
        assert self.process.stdout is not None
        readable, _, _ = select.select([self.process.stdout], [], [], timeout)
        if not readable:
            return None
        line = self.process.stdout.readline()
        return json.loads(line) if line else None

    def usable(self) -> bool:
        """Alive, warmed up (without waiting for it) and running the current code."""
        if self.process.poll() is not None or self.code_version != code_version():
            return False
        if not self.ready:
            answer = self._line(0)
            self.ready = bool(answer and answer.get("ready"))
        return self.ready

    def fork(self, run_id: str, serialized_args: str) -> int:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"run_id": run_id, "args": serialized_args}) + "\n")
        answer = self._line(ANSWER_SECONDS)
        if not answer or answer.get("run_id") != run_id:
            raise ForkUnanswered(f"the warm process did not answer for run {run_id} within {ANSWER_SECONDS:g} s")
        return int(answer["pid"])

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


class WarmRunLauncher(dg.DefaultRunLauncher):
    """`DefaultRunLauncher`, with runs of this code location forked from a warm process."""

    def __init__(self, inst_data: Any = None, warm: bool = True, prestart_browser: bool = True) -> None:
        super().__init__(inst_data=inst_data)
        self._warm = warm
        self._prestart_browser = prestart_browser
        self._zygote: Zygote | None = None
        self._lock = threading.Lock()

    @classmethod
    def config_type(cls) -> dict:
        return {"warm": dg.Field(bool, is_required=False, default_value=True),
                "prestart_browser": dg.Field(bool, is_required=False, default_value=True, description=(
                    "the worker forked ahead starts its run's Chromium while it waits (~0.7 s less per "
                    "run; ~300-400 MB held while idle)"))}

    @classmethod
    def from_config_value(cls, inst_data: Any, config_value: dict) -> WarmRunLauncher:
        return cls(inst_data=inst_data, **config_value)

    def _log_path(self) -> str:
        home = os.environ.get("DAGSTER_HOME") or "."
        return os.path.join(home, "warm-runs.log")

    def _warm_zygote(self) -> Zygote | None:
        """The zygote if it can take a run now; else starts a new one for the next run."""
        if self._zygote is not None and self._zygote.usable():
            return self._zygote
        if self._zygote is None or self._zygote.process.poll() is not None or \
                self._zygote.code_version != code_version():
            if self._zygote is not None:
                self._zygote.close()
            self._zygote = Zygote(self._log_path(), dg.serialize_value(self._instance.get_ref()),
                                  self._prestart_browser)
        return None

    def warm_up(self) -> None:
        """Start the zygote now (the daemon starting), not at the first launch: runs launched
        while it warms up start cold, each importing everything again beside it (~3 CPU-s)."""
        if self._warm:
            with self._lock:
                self._warm_zygote()

    def launch_run(self, context: Any) -> None:
        run = context.dagster_run
        if run_cancel_recorded(self._instance, run.run_id):  # cancelled while the queue took it
            self._instance.report_run_canceled(run, "Cancelled while the queue was starting it; not started.")
            return
        pointer = getattr(getattr(run.job_code_origin, "repository_origin", None), "code_pointer", None)
        if self._warm and getattr(pointer, "module", None) == CODE_MODULE:
            pid = None
            with self._lock:
                zygote = self._warm_zygote()
                if zygote is not None:
                    try:
                        pid = zygote.fork(run.run_id, self._serialized_args(run))
                    except ForkUnanswered as exc:  # it may be running: never start it a second time
                        zygote.close()
                        self._zygote = None
                        self._instance.report_run_failed(run, f"{exc}; it may or may not have started, so it was "
                                                              "not started again. Launch it again.")
                        return
                    except (OSError, RuntimeError, ValueError) as exc:
                        self._instance.report_engine_event(f"Warm start failed ({exc}); starting it cold.", run)
                        zygote.close()
                        self._zygote = None
            if pid is not None:
                # no engine event of ours: the worker's own "Started process for run (pid: …)" follows
                self._instance.add_run_tags(run.run_id, {WARM_PID_TAG: str(pid), WARM_HOST_TAG: socket.gethostname()})
                return
        super().launch_run(context)

    def _serialized_args(self, run: dg.DagsterRun) -> str:
        # The arguments Dagster's own launchers give `dagster api execute_run` (no public type).
        from dagster._grpc.types import ExecuteRunArgs

        return dg.serialize_value(ExecuteRunArgs(job_origin=run.job_code_origin, run_id=run.run_id,
                                                 instance_ref=self._instance.get_ref()))

    @staticmethod
    def _warm_pid(run: dg.DagsterRun | None) -> int | None:
        if run is None or WARM_PID_TAG not in run.tags or run.tags.get(WARM_HOST_TAG) != socket.gethostname():
            return None
        return int(run.tags[WARM_PID_TAG])

    def terminate(self, run_id: str) -> bool:
        run = self._instance.get_run_by_id(run_id)
        if run is not None and OWNER_PROCESS_TAG in run.tags:
            # executed in-process by an `intelli` process or an inbox batch run: no worker of its
            # own to signal, but its charts step reads its status and stops on CANCELING
            if run.status != dg.DagsterRunStatus.STARTED:
                return False
            self._instance.report_run_canceling(run, "Cancel requested; stopping before the next chart.")
            return True
        pid = self._warm_pid(run)
        if pid is None:
            return super().terminate(run_id)
        if run.status == dg.DagsterRunStatus.STARTED:
            self._instance.report_run_canceling(run)
        try:
            os.kill(pid, signal.SIGTERM)  # the run worker turns it into an interrupt: the run ends CANCELED
        except ProcessLookupError:
            return False
        return True

    @property
    def supports_check_run_worker_health(self) -> bool:
        return True

    def check_run_worker_health(self, run: dg.DagsterRun) -> Any:
        # run monitoring's types have no public import
        from dagster._core.launcher import CheckRunHealthResult, WorkerStatus

        pid = self._warm_pid(run)
        if pid is None:
            return CheckRunHealthResult(WorkerStatus.RUNNING, "started by the code server")
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return CheckRunHealthResult(WorkerStatus.FAILED, f"the run's warm process (pid {pid}) is gone")
        return CheckRunHealthResult(WorkerStatus.RUNNING)

    def dispose(self) -> None:
        if self._zygote is not None:
            self._zygote.close()
        super().dispose()
