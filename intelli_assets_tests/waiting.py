"""Waiting in tests: poll for a state instead of sleeping a fixed time.

A fixed sleep is a guess: too short on a loaded machine (a flaky test), too long on an idle
one (a slow suite). The bounds here only stop a broken test from hanging; they are not speed
checks, so make them generous.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

import pytest

T = TypeVar("T")


def wait_for(condition: Callable[[], T], timeout: float = 10.0, interval: float = 0.05,
             message: str = "the condition did not become true") -> T:
    """Call `condition` every `interval` seconds until it returns something truthy, and return
    that; fail the test with `message` if it has not within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"{message} (waited {timeout:g} s)")
        time.sleep(interval)


class Background(threading.Thread, Generic[T]):
    """`fn()` in a daemon thread, started at once: the test can act while it runs, and fails
    (instead of hanging) if it never returns. pytest has no timeout of its own."""

    def __init__(self, fn: Callable[[], T]) -> None:
        super().__init__(name="test-background", daemon=True)
        self._fn = fn
        self._value: T | None = None
        self._error: BaseException | None = None
        self.start()

    def run(self) -> None:
        try:
            self._value = self._fn()
        except BaseException as exc:  # noqa: BLE001 - re-raised in the test's thread by result()
            self._error = exc

    def result(self, timeout: float, message: str) -> T:
        """What `fn` returned (or raised); fail with `message` if it is still running after
        `timeout` seconds."""
        self.join(timeout)
        if self.is_alive():
            pytest.fail(f"{message} (still running after {timeout:g} s)")
        if self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value] - set when fn returned
