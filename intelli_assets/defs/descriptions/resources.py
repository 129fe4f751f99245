"""The OpenAI-compatible endpoint as a resource handed to the description assets."""

import dagster as dg
from pydantic import Field

from intelli_assets.descriptions import API_KEY_ENV, BASE_URL_ENV, Endpoint, endpoint_from_env


class OpenAIEndpoint(dg.ConfigurableResource):
    """Where descriptions are asked for. The key is read from $OPENAI_API_KEY (and the URL from
    $OPENAI_BASE_URL unless `base_url` is set) when a description starts, never from config:
    the key must not appear in the UI, run config or logs, and an unset `EnvVar` would fail
    every run at start, chart-only runs included."""

    base_url: str = Field(default="", description=f"endpoint root, e.g. http://127.0.0.1:11434/v1; empty: ${BASE_URL_ENV} "
                                                  f"(the key is always ${API_KEY_ENV})")
    timeout_seconds: float = Field(default=60.0, description="per call: a model that has not answered by then is retried")
    max_attempts: int = Field(default=3, description="per model, on 429, 5xx, timeouts and dropped connections")
    backoff_seconds: float = Field(default=1.0, description="first wait between attempts; doubles each time (with "
                                                           "jitter) unless the server sends Retry-After")
    max_wait_seconds: float = Field(default=60.0, description="a longer Retry-After gives up on that model instead")

    def endpoint(self) -> Endpoint:
        """Raises EndpointNotConfigured (one sentence naming the variable) when unset."""
        return endpoint_from_env(self.base_url, timeout=self.timeout_seconds, max_attempts=max(1, self.max_attempts),
                                 backoff=self.backoff_seconds, max_wait=self.max_wait_seconds)
