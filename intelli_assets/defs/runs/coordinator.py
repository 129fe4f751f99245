"""Dagster's run queue, looked at more often than once a second.

`QueuedRunCoordinator` takes whole seconds between the daemon's looks at the queue, and a
one-chart re-render waited for that look for ~0.6 s of its ~2 s. This subclass only lets
`dequeue_interval_seconds` be a fraction: limits, pools, priorities and the daemon are Dagster's
own. (The daemon sleeps in 0.5 s steps, so a look every 0.25 s means one every ~0.5-0.6 s.)
"""

from __future__ import annotations

import logging
import math
import os
from typing import Any

import dagster as dg

DEFAULT_INTERVAL_SECONDS = 0.25
log = logging.getLogger(__name__)


def interval_seconds(value: float | dict | None) -> float:
    """The configured interval: a number, or `{env: VAR}` naming a variable that holds one."""
    if value is None:
        return DEFAULT_INTERVAL_SECONDS
    if isinstance(value, dict):
        name = value["env"]
        raw = os.environ.get(name)
        try:
            return float(raw)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise dg.DagsterInvalidConfigError(
                f"run_coordinator.config.dequeue_interval_seconds reads ${name}, which is "
                f"{'not set' if raw is None else repr(raw)}; expected a number of seconds", [], None) from None
    return float(value)


class PromptQueuedRunCoordinator(dg.QueuedRunCoordinator):
    """`QueuedRunCoordinator` whose `dequeue_interval_seconds` may be under a second."""

    def __init__(self, dequeue_interval_seconds: float | dict | None = None, **kwargs: Any) -> None:
        interval = interval_seconds(dequeue_interval_seconds)
        if not 0 < interval <= 3600:
            raise dg.DagsterInvalidConfigError(
                f"run_coordinator.config.dequeue_interval_seconds must be a number of seconds above 0 (at most "
                f"3600), not {dequeue_interval_seconds!r}", [], None)
        super().__init__(dequeue_interval_seconds=max(1, math.ceil(interval)), **kwargs)  # the base takes ints
        self._prompt_interval = interval
        self._launcher_warmed = False

    @property
    def dequeue_interval_seconds(self) -> float:  # type: ignore[override] - the daemon takes any number
        # Dagster (1.13) reads this once, in the daemon, as it sets up its queue daemon
        # (`_daemon/controller.py`, not a public hook): the moment to warm the run launcher, so
        # the first runs of a new deployment start warm too
        if not self._launcher_warmed:
            self._launcher_warmed = True
            self._warm_launcher()
        return self._prompt_interval

    def _warm_launcher(self) -> None:
        """Start the launcher's warm process, if it has one. Never raises: a failure here only
        costs speed (runs start cold), and the daemon must start whatever happens."""
        try:
            warm_up = getattr(self._instance.run_launcher, "warm_up", None)
            if callable(warm_up):
                warm_up()
        except Exception:  # noqa: BLE001
            log.warning("could not start the run launcher's warm process; runs start cold until "
                        "the first launch tries again", exc_info=True)

    @classmethod
    def config_type(cls) -> dict:
        fields = dict(super().config_type())
        fields["dequeue_interval_seconds"] = dg.Field(  # a number, or {env: VAR} as Dagster's own takes
            dg.ScalarUnion(scalar_type=float, non_scalar_schema={"env": str}), is_required=False,
            default_value=DEFAULT_INTERVAL_SECONDS,
            description="Seconds between the daemon's looks at the run queue; fractions allowed.")
        return fields
