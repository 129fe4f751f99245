"""Forecast fitting in a separate, early-started Python process.

Importing statsmodels costs ~0.75 s, more than fitting both models on a 20-year series. A run
that will draw the forecast chart starts this worker first; the import then happens on the
other core while the run ingests the workbook and draws the other charts, and the forecast
chart only waits for the fit itself. The worker runs the same `fit_forecasts` as the
in-process path, so results are identical; if it is unavailable, the caller fits in process.

Protocol: one JSON request per line on stdin, one JSON reply per line on stdout.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from dataclasses import asdict

from intelli_assets import forecasting
from intelli_assets.forecasting import Forecast, ForecastResult


class WorkerUnavailable(Exception):
    """The worker died, broke the protocol or took too long; fit in process instead."""


# a stuck worker is given up (the fit then runs in the run's process) well before the charts
# job's own time limit (INTELLI_MAX_RUNTIME_CHARTS, 120 s by default) would end the run
WORKER_TIMEOUT_SECONDS = 45.0


class ForecastWorker:
    def __init__(self, timeout: float = WORKER_TIMEOUT_SECONDS):
        self.timeout = timeout
        self._proc: subprocess.Popen | None = subprocess.Popen(  # noqa: S603 - fixed argv
            [sys.executable, "-m", "intelli_assets.forecast_worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,  # a broken worker shows up as a fallback, not as noise
        )
        self._buffer = b""
        self._pending: list[tuple] = []  # requests sent, replies not read yet, in order
        self._done: dict[tuple, dict] = {}  # replies read, not collected yet
        self._waiting_since = 0.0  # the first request of an idle worker was sent, or the last reply read

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def submit(self, values: list[int], horizon: int) -> None:
        """Ask for a fit without waiting; `forecast` with the same input collects it."""
        key = (tuple(int(v) for v in values), int(horizon))
        if key in self._pending or key in self._done:
            return
        if not self.alive:
            raise WorkerUnavailable("the forecast worker is not running")
        request = json.dumps({"values": list(key[0]), "horizon": key[1]}) + "\n"
        try:
            self._proc.stdin.write(request.encode())
            self._proc.stdin.flush()
        except OSError as exc:
            self.close()
            raise WorkerUnavailable(f"forecast worker failed: {exc}") from None
        if not self._pending:
            self._waiting_since = time.monotonic()
        self._pending.append(key)

    def forecast(self, values: list[int], horizon: int) -> ForecastResult:
        key = (tuple(int(v) for v in values), int(horizon))
        self.submit(values, horizon)
        while key not in self._done:  # replies come in request order
            self._read_reply(self.timeout)
        reply = self._done.pop(key)
        if "error" in reply:
            raise WorkerUnavailable(f"forecast worker failed: {reply['error']}")
        return result_from_dict(reply)

    def collect(self, timeout: float) -> bool:
        """Read the replies that come within `timeout` seconds (0: those already sent); True once
        every request has its reply (then `forecast` returns at once). Lets a caller do other
        work between looks. Raises WorkerUnavailable as `forecast` does."""
        deadline = time.monotonic() + timeout
        while self._pending:
            if not self._read_reply(deadline - time.monotonic()):
                return False
        return True

    def _read_reply(self, timeout: float) -> bool:
        """Read one reply into `_done` if it comes within `timeout` seconds (False if not). The
        worker is given up (WorkerUnavailable) when it sent nothing for `self.timeout` seconds
        while a request waited, whoever is looking."""
        deadline = time.monotonic() + max(timeout, 0.0)
        try:
            while b"\n" not in self._buffer:
                if self._proc is None:
                    raise OSError("the worker is not running")
                overdue = self._waiting_since + self.timeout
                fd = self._proc.stdout.fileno()
                # what the worker already sent is read first, however late the look
                if not select.select([fd], [], [], max(0.0, min(deadline, overdue) - time.monotonic()))[0]:
                    if time.monotonic() >= overdue:
                        raise OSError(f"it answered nothing for {self.timeout:g} s")
                    if time.monotonic() >= deadline:
                        return False
                    continue
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    raise OSError("the worker exited")
                self._buffer += chunk
            line, self._buffer = self._buffer.split(b"\n", 1)
            self._done[self._pending.pop(0)] = json.loads(line)
            self._waiting_since = time.monotonic()
        except (OSError, ValueError, IndexError) as exc:
            self.close()
            raise WorkerUnavailable(f"forecast worker failed: {exc}") from None
        return True

    def close(self) -> None:
        """Kill it: it holds no state, and a clean interpreter exit after statsmodels takes ~0.5 s."""
        if self._proc is None:
            return
        proc, self._proc = self._proc, None
        proc.kill()
        proc.wait()
        for pipe in (proc.stdin, proc.stdout):
            try:
                pipe.close()
            except OSError:  # stdin's buffer may not flush into a dead process
                pass


def result_from_dict(data: dict) -> ForecastResult:
    def model(raw: dict | None) -> Forecast | None:
        return Forecast(**raw) if raw else None

    return ForecastResult(model(data["ets"]), model(data["arima"]), list(data["warnings"]))


class Forecaster:
    """Where a run's forecasts are fitted: in its worker process when one was started (`worker`),
    else, or when the worker fails, in this process. A service handed to the charts that fit."""

    def __init__(self, worker: ForecastWorker | None = None):
        self.worker = worker
        self.fallback_reason: str | None = None  # why the worker was given up, for the run log

    def prefetch(self, values: list[int], horizon: int = 6) -> None:
        """Start fitting now in the worker (if any); `forecast` with the same input collects it."""
        if self.worker is not None:
            try:
                self.worker.submit(values, horizon)
            except WorkerUnavailable as exc:
                self.give_up(exc)

    def fits_ready(self, timeout: float) -> bool:
        """Wait up to `timeout` seconds for the fits prefetched in the worker; True when none is
        outstanding (also with no worker, or a failed one: `forecast` then fits in process)."""
        if self.worker is None:
            return True
        try:
            return self.worker.collect(timeout)
        except WorkerUnavailable as exc:
            self.give_up(exc)
            return True

    def forecast(self, values: list[int], horizon: int = 6) -> ForecastResult:
        """`forecasting.forecast_series`, fitted in the worker when there is one."""
        if self.worker is not None:
            try:
                return self.worker.forecast(values, horizon)
            except WorkerUnavailable as exc:
                self.give_up(exc)  # this and the next forecasts fit in process
        return forecasting.forecast_series(values, horizon)

    def give_up(self, error: WorkerUnavailable) -> None:
        self.fallback_reason = f"{error}; fitting the models in the run's own process instead"
        self.close()

    def close(self) -> None:
        if self.worker is not None:
            self.worker.close()
            self.worker = None


class StartedForecasts:
    """The run's `forecasts` resource when the caller starts the worker ahead of the run (the
    CLI, right after reading which charts it draws, so statsmodels is imported on the other core
    while the rest of the run is set up), in place of `ForecastFitting`, which starts one when
    the run starts. The caller closes it."""

    def __init__(self) -> None:
        self.forecaster = Forecaster(ForecastWorker())

    def close(self) -> None:
        self.forecaster.close()


def serve() -> None:
    """The worker's loop: import statsmodels once, then answer requests until stdin closes."""
    replies = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)  # anything a library prints goes to stderr, never into the replies
    from intelli_assets.forecasting import forecast_series, import_models

    import_models()
    for line in sys.stdin:
        try:
            request = json.loads(line)
            reply = asdict(forecast_series(request["values"], request["horizon"]))
        except Exception as exc:  # noqa: BLE001 - reported to the caller, which falls back
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        replies.write(json.dumps(reply) + "\n")
        replies.flush()


if __name__ == "__main__":
    serve()
