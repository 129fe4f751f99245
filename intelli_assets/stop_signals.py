"""Ctrl-C and SIGTERM as a request to cancel, not an instant death. No Dagster imports.

The work runs in another thread while the main thread waits and keeps these handlers (a run
executed in the main thread would have Dagster swap them for its own, which end an
interrupted run as failed). The first signal is only recorded; the waiting loop turns it into
a cancel request that the work honours at its next checkpoint. A second signal stops at once.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopRequest:
    """The first stop signal received (None: none)."""

    def __init__(self) -> None:
        self.signum: int | None = None


def run_cancellable(work: Callable[[], T], on_stop: Callable[[int], bool], poll_seconds: float = 0.1,
                    on_poll: Callable[[], None] | None = None) -> tuple[T | None, StopRequest]:
    """Run `work()` in a thread. On SIGINT/SIGTERM call `on_stop(signum)` from this thread until
    it returns True (the cancel was delivered), and wait for `work` to wind down; a second
    signal raises KeyboardInterrupt here at once. `on_poll` is called on every look at the
    worker. Returns (work's result, the stop request)."""
    request = StopRequest()
    outcome: dict[str, object] = {}

    def target() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            outcome["error"] = exc

    def handle(signum: int, _frame: object) -> None:
        if request.signum is not None:
            raise KeyboardInterrupt  # asked twice: stop now
        request.signum = signum

    in_main = threading.current_thread() is threading.main_thread()
    previous = {s: signal.signal(s, handle) for s in STOP_SIGNALS} if in_main else {}
    try:
        worker = threading.Thread(target=target, name="cancellable-work", daemon=True)
        worker.start()
        delivered = False
        while worker.is_alive():
            worker.join(poll_seconds)
            if on_poll:
                on_poll()
            if request.signum is not None and not delivered:
                delivered = on_stop(request.signum)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome.get("value"), request  # type: ignore[return-value]
