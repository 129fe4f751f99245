"""Step retries for assets that call a network service (Lens.org, the AI endpoint).

Their clients already retry each request with backoff and jitter; this policy re-runs the
whole step after an outage outlasted those retries. Failures a retry cannot fix (a bad file,
a rejected key, bad settings) are raised with `allow_retries=False` and fail at once.
Tunable per deployment: INTELLI_NETWORK_RETRIES (default 2), INTELLI_NETWORK_RETRY_DELAY
(seconds before the first retry, default 10; doubled each time, +/- jitter).
"""

import math
import os

import dagster as dg

from intelli_assets.errors import IntelliError


def _number(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    try:
        value = float(raw) if raw else default
    except ValueError:
        value = -1.0
    if not math.isfinite(value) or value < 0:  # a typo must not silently mean "the default"
        raise IntelliError(f"{name}={raw!r}: expected a number, 0 or more")
    return value


NETWORK_RETRY_POLICY = dg.RetryPolicy(
    max_retries=int(_number("INTELLI_NETWORK_RETRIES", 2)),
    delay=_number("INTELLI_NETWORK_RETRY_DELAY", 10),
    backoff=dg.Backoff.EXPONENTIAL,
    jitter=dg.Jitter.PLUS_MINUS,
)
