"""A fake OpenAI-compatible endpoint: a real HTTP server on 127.0.0.1 answering
`POST /v1/chat/completions` (and `GET /v1/models`) as the OpenAI API does, recording every
request, with a fault script keyed by request number. The real `openai` client talks to it.

    with FakeOpenAI(faults={1: "rate_limit"}) as ai:
        OpenAI(base_url=ai.url, api_key=ai.api_key).chat.completions.create(...)

Faults, by chat request number (1-based, every POST to /v1/chat/completions counts):
  500 (any int)                          that status, with an OpenAI-style JSON error body
  "rate_limit"                           429 with `Retry-After: 1`
  ("status", code[, headers[, body]])    that status, headers and body (JSON value or str); a
                                         Content-Type among the headers replaces the JSON one
  "hang"                                 read the request, answer nothing for `hang_seconds`
  ("slow", seconds)                      the usual answer, after that many seconds
Besides the script, by model (the request's `model`):
  `unknown_models`      404 model_not_found, as OpenAI answers an unknown model
  `text_only_models`    400 "image input not supported" for a request holding an image
A wrong `Authorization` header is answered 401, echoing the whole key it was given (worse
than OpenAI, which masks it), so tests can check the key never leaks from our errors.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PROMPT_TOKENS, COMPLETION_TOKENS = 1234, 56


@dataclass
class Received:
    number: int  # 1-based chat request number
    path: str
    headers: dict[str, str]
    body: dict

    @property
    def model(self) -> str:
        return self.body.get("model", "")

    def parts(self) -> list[dict]:
        """Every content part of every message (a plain string content is one text part)."""
        out = []
        for message in self.body.get("messages", []):
            content = message.get("content")
            out += [{"type": "text", "text": content}] if isinstance(content, str) else list(content or [])
        return out

    @property
    def text(self) -> str:
        return "\n".join(p["text"] for p in self.parts() if p.get("type") == "text")

    @property
    def image_urls(self) -> list[str]:
        return [p["image_url"]["url"] for p in self.parts() if p.get("type") == "image_url"]


def error_body(message: str, kind: str, code: str | None = None) -> dict:
    return {"error": {"message": message, "type": kind, "param": None, "code": code}}


def default_reply(request: Received) -> str:
    return f"Descripción de prueba por {request.model}: China lidera con 96 publicaciones."


class FakeOpenAI:
    def __init__(self, faults: dict[int, object] | None = None, *, api_key: str = "sk-test-0123456789abcdef",
                 unknown_models: set[str] | None = None, text_only_models: set[str] | None = None,
                 reply: Callable[[Received], str] = default_reply, hang_seconds: float = 5.0):
        self.faults = faults or {}
        self.api_key = api_key
        self.unknown_models = unknown_models or set()
        self.text_only_models = text_only_models or set()
        self.reply = reply
        self.hang_seconds = hang_seconds
        self.requests: list[Received] = []
        self.lock = threading.Lock()
        self.closing = threading.Event()  # ends hangs at once when the server stops
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self.handler_class())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, name="fake-openai", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> FakeOpenAI:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.closing.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)

    # --- answering --------------------------------------------------------------------------

    def answer(self, received: Received) -> tuple[int, dict[str, str], object] | None:
        """(status, headers, body) for a chat request; None: hang."""
        fault = self.faults.get(received.number)
        if fault == "hang":
            return None
        if isinstance(fault, tuple) and fault[0] == "slow":
            self.closing.wait(fault[1])
            fault = None
        if fault == "rate_limit":
            return 429, {"Retry-After": "1"}, error_body("Rate limit reached, retry after 1s", "requests",
                                                         "rate_limit_exceeded")
        if isinstance(fault, int):
            return fault, {}, error_body(f"fault {fault} (request {received.number})", "server_error")
        if isinstance(fault, tuple):
            _, code, *rest = fault
            return code, (rest[0] if rest else {}), (rest[1] if len(rest) > 1 else error_body("fault", "error"))
        if received.headers.get("authorization") != f"Bearer {self.api_key}":
            given = received.headers.get("authorization", "").removeprefix("Bearer ")
            return 401, {}, error_body(f"Incorrect API key provided: {given}.", "invalid_request_error",
                                       "invalid_api_key")
        if received.model in self.unknown_models:
            return 404, {}, error_body(f"The model `{received.model}` does not exist or you do not have access "
                                       "to it.", "invalid_request_error", "model_not_found")
        if received.model in self.text_only_models and received.image_urls:
            return 400, {}, error_body("Invalid content type. image_url is only supported by certain models: "
                                       "this model does not support image input.", "invalid_request_error")
        return 200, {}, {
            "id": f"chatcmpl-{received.number}", "object": "chat.completion", "created": int(time.time()),
            "model": received.model, "system_fingerprint": "fp_fake",
            "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                         "message": {"role": "assistant", "content": self.reply(received), "refusal": None}}],
            "usage": {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": COMPLETION_TOKENS,
                      "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS},
        }

    def handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # quiet test output
                pass

            def send(self, status: int, headers: dict[str, str], body: object) -> None:
                raw = body if isinstance(body, bytes) else (
                    body.encode() if isinstance(body, str) else json.dumps(body).encode())
                self.send_response(status)
                if not any(name.lower() == "content-type" for name in headers):
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(raw)

            def do_GET(self) -> None:  # noqa: N802 - http.server's naming
                if self.path.rstrip("/") == "/v1/models":
                    self.send(200, {}, {"object": "list", "data": [{"id": "fake-vision", "object": "model"}]})
                else:
                    self.send(404, {}, error_body(f"no route {self.path}", "invalid_request_error"))

            def do_POST(self) -> None:  # noqa: N802
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self.send(404, {}, error_body(f"no route {self.path}", "invalid_request_error"))
                    return
                with fake.lock:
                    received = Received(len(fake.requests) + 1, self.path,
                                        {k.lower(): v for k, v in self.headers.items()}, json.loads(raw))
                    fake.requests.append(received)
                answer = fake.answer(received)
                if answer is None:  # the client's timeout fires first; then drop the connection
                    fake.closing.wait(fake.hang_seconds)
                    self.close_connection = True
                    return
                self.send(*answer)

        return Handler
