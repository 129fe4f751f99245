"""AI descriptions of rendered charts, through any OpenAI-compatible chat endpoint (OpenAI,
vLLM, Ollama, LiteLLM...). No Dagster imports.

Sent: the rendered PNG as an image input (a `data:image/png;base64` URL), the chart's own
`chart_data`, its title and axes, and the analyst's context. Returned: the text, the model
that wrote it, token usage, latency and the events of every attempt (MODEL_ATTEMPT,
MODEL_FAILED, FALLBACK, MODEL_SUCCESS). The API key comes from the environment only, is kept
out of every repr and is removed from any server message we quote and from the model's text.
A cancel abandons a call in flight.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import os
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from intelli_assets.description_files import (  # noqa: F401 - ChartRender: the render a request names
    ChartRender,
    Description,
    DescriptionError,
    cap_text,
)
from intelli_assets.description_prompt import (  # noqa: F401 - the request's API, used with describe()
    DEFAULT_FALLBACK_MODELS,
    DEFAULT_MODEL,
    SYSTEM_PROMPT,
    DescriptionRequest,
    chat_messages,
    prompt_snapshot,
    prompt_text,
)

if TYPE_CHECKING:  # the client is imported when a description is asked for: 0.4 s off every other command
    import openai

BASE_URL_ENV, API_KEY_ENV = "OPENAI_BASE_URL", "OPENAI_API_KEY"
MESSAGE_CHARS = 300
IMAGE_REJECTED = re.compile(r"image|vision|multi-?modal", re.IGNORECASE)
UNKNOWN_MODEL = re.compile(r"model.*(not found|does not exist|unknown|not available)|model_not_found", re.IGNORECASE)
RETRYABLE = {"rate_limited", "server", "timeout", "connection"}
CANCEL_POLL_SECONDS = 0.3
MIN_SECRET_CHARS = 8  # a shorter "key" is a local server's placeholder: redacting it would mangle text

EventSink = Callable[[str, dict], None]


class EndpointNotConfigured(DescriptionError):
    """OPENAI_BASE_URL or OPENAI_API_KEY is not set: nothing was sent."""


class EndpointAuthError(DescriptionError):
    """The endpoint rejected the API key; another model cannot help."""


class DescriptionCancelled(DescriptionError):
    """The run was cancelled: a call in flight is abandoned and nothing is stored."""


@dataclass(frozen=True)
class Endpoint:
    base_url: str
    api_key: str = field(repr=False)
    timeout: float = 60.0
    max_attempts: int = 3
    backoff: float = 1.0
    max_wait: float = 60.0

    @property
    def host(self) -> str:
        parts = urlsplit(self.base_url)
        return f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)

    @property
    def safe_url(self) -> str:
        """The base URL without any user:password part or query."""
        parts = urlsplit(self.base_url)
        return f"{parts.scheme}://{self.host}{parts.path}"

    def redact(self, text: str) -> str:
        """`text` without the key, as is or escaped (as repr, JSON or bytes show it)."""
        key = self.api_key
        if len(key) < MIN_SECRET_CHARS:
            return text
        forms = {key, repr(key)[1:-1], json.dumps(key)[1:-1], repr(key.encode("utf-8"))[2:-1]}
        for form in sorted(forms, key=len, reverse=True):
            text = text.replace(form, "[API key]")
        return text


def _unsendable(key: str) -> str | None:
    """Why the key cannot go in an HTTP header (httpx would fail quoting it), or None."""
    for position, char in enumerate(key, 1):
        if not "!" <= char <= "~":
            what = ("a line break" if char in "\r\n" else "a space or tab" if char in " \t" else
                    "a control character" if ord(char) < 32 or ord(char) == 127 else "a non-ASCII character")
            return f"{API_KEY_ENV} contains a character that cannot be sent (position {position}: {what}); copy " \
                   "the key again"
    return None


def endpoint_from_env(base_url: str = "", **settings: float) -> Endpoint:
    """The endpoint: `base_url` (else $OPENAI_BASE_URL) and $OPENAI_API_KEY. Raises
    EndpointNotConfigured with one sentence naming the variable to set."""
    url = (base_url or os.environ.get(BASE_URL_ENV, "")).strip()
    key = os.environ.get(API_KEY_ENV, "").strip()
    need_url = f"{BASE_URL_ENV} to an OpenAI-compatible endpoint (e.g. https://api.openai.com/v1, or " \
               "http://127.0.0.1:11434/v1 for Ollama)"
    need_key = f"{API_KEY_ENV} to its API key (any text for a local server without keys)"
    missing = [text for text, value in ((need_url, url), (need_key, key)) if not value]
    if missing:
        raise EndpointNotConfigured(f"AI descriptions are not configured: set {' and '.join(missing)}.")
    shown = re.sub(r"//[^/]*@", "//", url)[:80]  # never echo a user:password
    try:
        parts = urlsplit(url)
        valid = parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:  # e.g. an unclosed [IPv6 bracket
        parts, valid = None, False
    if not valid:
        raise EndpointNotConfigured(f"{BASE_URL_ENV} must be an http(s) URL such as https://api.openai.com/v1, "
                                    f"got {shown!r}.")
    if parts.username is not None or parts.password is not None:  # httpx would send them as Basic auth
        raise EndpointNotConfigured(f"{BASE_URL_ENV} holds a user name or password ({shown}): put the key in "
                                    f"{API_KEY_ENV}, not in the URL.")
    reason = _unsendable(key)
    if reason:
        raise EndpointNotConfigured(reason + " (nothing was sent).")
    return Endpoint(url, key, **settings)


# --- calling the endpoint -------------------------------------------------------------------------

class _Failure(Exception):
    """One failed call: its `kind` decides between retry, fallback and stop; `message` is for users."""

    def __init__(self, kind: str, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.kind, self.message, self.retry_after = kind, message, retry_after


def _server_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    message = body.get("message") if isinstance(body, dict) else None
    return " ".join(str(message or exc.message).split())[:MESSAGE_CHARS]


def _retry_after(exc: openai.APIStatusError) -> float | None:
    value = exc.response.headers.get("retry-after")
    if not value:
        return None
    try:  # seconds, or an HTTP date
        seconds = float(value) if value.strip().replace(".", "", 1).isdigit() else \
            email.utils.parsedate_to_datetime(value).timestamp() - time.time()
    except (TypeError, ValueError):
        return None
    return max(0.0, seconds)


def classify(exc: Exception, model: str, endpoint: Endpoint, mode: str) -> _Failure:
    import openai

    """What went wrong with one call, as a sentence a user can act on (key removed)."""
    host = endpoint.host
    if isinstance(exc, openai.APITimeoutError):
        return _Failure("timeout", f"model {model!r} at {host} did not answer within {endpoint.timeout:g} s")
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__
        reason = str(cause) if cause else str(exc)
        return _Failure("connection", endpoint.redact(f"cannot reach the endpoint at {host}: {reason}"))
    if not isinstance(exc, openai.APIStatusError):
        return _Failure("error", endpoint.redact(f"model {model!r} at {host}: {type(exc).__name__}: {exc}"))
    code, said = exc.status_code, endpoint.redact(_server_message(exc))
    if code == 401:
        return _Failure("auth", f"the endpoint at {host} rejected the API key (401: {said}); set a valid "
                                f"{API_KEY_ENV}")
    if code == 429:
        return _Failure("rate_limited", f"model {model!r} at {host} is rate-limited (429: {said})", _retry_after(exc))
    if code == 404 or (code in (400, 422) and UNKNOWN_MODEL.search(said)):
        if code == 404 and not UNKNOWN_MODEL.search(said):
            return _Failure("not_found", f"{host} answered 404 for {endpoint.safe_url}/chat/completions ({said}); is "
                                         f"{BASE_URL_ENV} right? It usually ends in /v1")
        return _Failure("unknown_model", f"model {model!r} is not known at {host} ({code}: {said})")
    if code in (400, 413, 415, 422) and mode == "image" and IMAGE_REJECTED.search(said):
        return _Failure("image_rejected", f"model {model!r} at {host} does not accept images ({code}: {said}); set "
                                          "text_only_fallback: true to describe from the chart's data alone")
    if code >= 500 or code in (408, 409):
        return _Failure("server", f"{host} answered {code} for model {model!r}: {said}")
    if code == 403:
        return _Failure("forbidden", f"{host} refused model {model!r} to this API key (403: {said})")
    return _Failure("rejected", f"{host} rejected the request for model {model!r} ({code}: {said})")


def not_completion(raw: object, endpoint: Endpoint) -> _Failure:
    """A 200 whose body is no chat completion: a login page, a stream, a proxy's error..."""
    content_type = raw.headers.get("content-type", "no content type").split(";")[0].strip()  # type: ignore[attr-defined]
    return _Failure("not_completion", f"{endpoint.host} answered {raw.status_code} with {content_type}, not a chat "  # type: ignore[attr-defined]
                                      f"completion; check {BASE_URL_ENV} ({endpoint.safe_url})")


def duration(seconds: float) -> str:
    for unit, size in (("days", 86400), ("h", 3600), ("min", 60)):
        if seconds >= 2 * size:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds:.0f} s"


def backoff_wait(endpoint: Endpoint, attempt: int, failure: _Failure) -> float:
    """Seconds before the next attempt: what the server asked for, else exponential with jitter."""
    if failure.retry_after is not None:
        return failure.retry_after
    return endpoint.backoff * 2 ** (attempt - 1) * random.uniform(0.8, 1.2)


class _Session:
    """One description: the models asked in turn, every attempt reported as an event."""

    def __init__(self, endpoint: Endpoint, request: DescriptionRequest, png: bytes | None, on_event: EventSink,
                 cancelled: Callable[[], bool]):
        self.endpoint, self.request, self.png = endpoint, request, png
        self.on_event, self.cancelled = on_event, cancelled
        self.events: list[dict] = []
        self.calls = 0
        self.started = time.perf_counter()

    def emit(self, name: str, **fields: object) -> None:
        fields = {"host": self.endpoint.host, **fields}
        self.events.append({"event": name, "at": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"), **fields})
        self.on_event(name, fields)

    def check_cancelled(self) -> None:
        if self.cancelled():
            raise DescriptionCancelled("the run was cancelled before the model answered")

    def pause(self, seconds: float) -> None:
        """Sleep between attempts, still heeding a cancel."""
        until = time.monotonic() + seconds
        while (left := until - time.monotonic()) > 0:
            self.check_cancelled()
            time.sleep(min(left, CANCEL_POLL_SECONDS))

    def call(self, client: openai.OpenAI, model: str, mode: str) -> object:
        """The raw answer, the call run in a thread so that a cancel stops waiting within
        CANCEL_POLL_SECONDS (the client is closed; the abandoned call's result is dropped)."""
        messages = chat_messages(self.request, self.png if mode == "image" else None)
        outcome: dict[str, object] = {}

        def work() -> None:
            try:
                outcome["raw"] = client.chat.completions.with_raw_response.create(model=model, messages=messages)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
                outcome["error"] = exc

        worker = threading.Thread(target=work, name="model-call", daemon=True)  # daemon: never holds the exit
        worker.start()
        while worker.is_alive():
            worker.join(CANCEL_POLL_SECONDS)
            if worker.is_alive() and self.cancelled():
                try:
                    client.close()
                except Exception:  # noqa: BLE001 - closing is only a courtesy to the server
                    pass
                raise DescriptionCancelled("the run was cancelled while the model was answering; nothing was stored")
        if "error" in outcome:
            raise outcome["error"]  # type: ignore[misc]
        return outcome["raw"]

    def answer(self, raw: object, model: str, mode: str, attempt: int, latency: float) -> Description | _Failure:
        endpoint = self.endpoint
        try:
            response = raw.parse()  # type: ignore[attr-defined]
            choice = response.choices[0] if response.choices else None
            text = (choice.message.content or "").strip() if choice else ""
        except (AttributeError, TypeError, ValueError, IndexError):  # a str, invalid JSON, or no choices at all
            return not_completion(raw, endpoint)
        from openai.types.chat import ChatCompletion

        if not isinstance(response, ChatCompletion) or "choices" not in response.model_fields_set:
            return not_completion(raw, endpoint)
        if not text:
            return _Failure("empty", f"model {model!r} at {endpoint.host} returned no text")
        text, original = endpoint.redact(text), len(text)  # a model may echo what it was sent
        text, truncated = cap_text(text, self.request.max_words)
        usage = response.usage.model_dump(exclude_none=True) if response.usage else {}
        extra = {"truncated": True, "original_chars": original} if truncated else {}
        self.emit("MODEL_SUCCESS", model=model, attempt=attempt, mode=mode, latency_ms=latency, usage=usage, **extra)
        return Description(text, model, response.model or model, mode, usage, latency,
                           round((time.perf_counter() - self.started) * 1000, 1), self.calls, choice.finish_reason,
                           self.events, prompt_snapshot(self.request, self.png, mode), truncated, original)

    def ask(self, client: openai.OpenAI, model: str) -> Description:
        """One model, retried on transient failures; raises its last _Failure, EndpointAuthError
        or DescriptionCancelled."""
        import openai

        endpoint = self.endpoint
        mode, attempt = ("image" if self.png is not None else "text_only"), 0
        while True:
            self.check_cancelled()
            attempt += 1
            self.calls += 1
            self.emit("MODEL_ATTEMPT", model=model, attempt=attempt, max_attempts=endpoint.max_attempts, mode=mode)
            call_started = time.perf_counter()
            try:
                raw = self.call(client, model, mode)
            except openai.OpenAIError as exc:
                failure = classify(exc, model, endpoint, mode)
            else:
                result = self.answer(raw, model, mode, attempt, round((time.perf_counter() - call_started) * 1000, 1))
                if isinstance(result, Description):
                    self.check_cancelled()  # cancelled as the answer came: still store nothing
                    return result
                failure = result
            retry = failure.kind in RETRYABLE and attempt < endpoint.max_attempts
            wait = backoff_wait(endpoint, attempt, failure) if retry else 0.0
            if retry and wait > endpoint.max_wait:  # e.g. a used-up quota: another model may have one
                retry = False
                failure.message += f"; it asks to wait {duration(wait)}, more than max_wait_seconds " \
                                   f"({endpoint.max_wait:g} s)"
            text_only = failure.kind == "image_rejected" and self.request.text_only_fallback
            self.emit("MODEL_FAILED", model=model, attempt=attempt, mode=mode, error=failure.message, kind=failure.kind,
                      **({"retry_in_s": round(wait, 2)} if retry else {}), **({"next": "text_only"} if text_only else {}))
            if failure.kind == "auth":
                raise EndpointAuthError(failure.message)
            if text_only:
                mode, attempt = "text_only", 0
            elif retry:
                self.pause(wait)
            else:
                raise failure


def describe(endpoint: Endpoint, request: DescriptionRequest, png: bytes | None, on_event: EventSink,
             cancelled: Callable[[], bool] = lambda: False) -> Description:
    """Ask each model in turn until one answers: retries with backoff on 429, 5xx, timeouts and
    dropped connections; an unknown model, a refusal or a model out of retries falls back to
    the next; a rejected key stops at once. An image rejected with `text_only_fallback` is asked
    again of the same model without it. Raises DescriptionError (every model's failure named)."""
    import openai

    session = _Session(endpoint, request, png, on_event, cancelled)
    failures: list[str] = []
    kinds: list[str] = []
    # max_retries=0: we retry ourselves, to log each attempt and fall back between models
    with openai.OpenAI(base_url=endpoint.base_url, api_key=endpoint.api_key, max_retries=0,
                       timeout=endpoint.timeout) as client:
        for index, model in enumerate(request.models):
            if index:
                session.emit("FALLBACK", from_model=request.models[index - 1], to_model=model, reason=failures[-1])
            try:
                return session.ask(client, model)
            except _Failure as failure:
                failures.append(failure.message)
                kinds.append(failure.kind)
                if failure.kind in ("connection", "not_found"):  # the endpoint itself: no model can help
                    raise _transient(DescriptionError(failure.message), kinds) from None
    if len(failures) == 1:
        raise _transient(DescriptionError(failures[0]), kinds)
    raise _transient(DescriptionError(f"none of the {len(failures)} models could describe the chart: "
                                      + "; ".join(failures)), kinds)


def _transient(error: DescriptionError, kinds: list[str]) -> DescriptionError:
    """Marked transient when every model failed for the endpoint's state (rate limit, 5xx,
    time-out, connection), not for the request: a later run may succeed."""
    error.transient = bool(kinds) and all(kind in RETRYABLE for kind in kinds)
    return error
