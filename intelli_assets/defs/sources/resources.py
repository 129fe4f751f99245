"""The Lens.org Patent API as a resource handed to `raw_source`."""

import os
import time
from collections.abc import Callable

import dagster as dg
from pydantic import Field

from intelli_assets.lens import DEFAULT_LENS_URL, TOKEN_ENV, URL_ENV, LensClient


class LensApi(dg.ConfigurableResource):
    """Lens.org Patent API access. The token is read from $LENS_API_TOKEN when a fetch starts,
    never from config: it must not appear in the UI, run config or logs, and an unset
    `EnvVar` would fail every run at start, Filters runs included, not only Lens fetches."""

    base_url: str = Field(default="", description=f"API root; empty: ${URL_ENV}, else {DEFAULT_LENS_URL}")
    timeout_seconds: float = Field(default=60.0, description="per request")
    max_attempts: int = Field(default=6, description="per page, on 5xx, timeouts and connection errors")

    def client(self, sleep: Callable[[float], None] = time.sleep) -> LensClient:
        """`sleep` is how the client waits between attempts (a caller's may end the wait early)."""
        url = self.base_url or os.environ.get(URL_ENV) or DEFAULT_LENS_URL
        return LensClient(os.environ.get(TOKEN_ENV, ""), url, timeout=self.timeout_seconds,
                          max_attempts=self.max_attempts, sleep=sleep)
