"""A fake Lens.org Patent API: a real HTTP server on 127.0.0.1 answering `POST /patent/search`
as Lens does (scroll paging with a new scroll_id per page, 204 when exhausted, `include`
projection), logging every request, with a fault script keyed by request number.

    with FakeLens(total=25, faults={2: ("status", 429, {"x-rate-limit-retry-after-seconds": "1"})}) as lens:
        LensClient("token", lens.url).fetch(...)

Records are variants of the documented example record (record 0 is the example itself; see
`lens_variant`), or of any `base` record given, or an explicit `records` list.

Faults, by request number (1-based, every request to /patent/search counts):
  500 (any int)                         that status, with a JSON {"message": ...} body
  ("status", code[, headers[, body]])   that status, headers and body (bytes, str or JSON value)
  "timeout"                             read the request, wait `hang_seconds`, close without answering
  "disconnect"                          close the connection without answering
  "malformed"                           200 with a truncated JSON body
  "no_data"                             200 with a JSON body lacking `data`
  "empty"                               200 with an empty `data` page
  "expired_scroll"                      400 saying the scroll_id expired; the scroll is forgotten
  "204"                                 204 No Content
  "repeat"                              200 with the last 200 answer again, the same scroll_id and records
  "echo_token"                          the normal page (advancing the scroll) plus the request's
                                        Authorization header in an `echo` field
A faulted request changes no scroll (except "expired_scroll" and "echo_token").
"""

from __future__ import annotations

import datetime as dt
import http
import itertools
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from intelli_assets_tests.conftest import SHARED_DATA

EXAMPLE_RESPONSE = SHARED_DATA / "lens" / "patent-search-response.json"
JURISDICTIONS = ("EP", "US", "WO", "CN", "JP")
APPLICANT_COUNTRIES = ("DE", "US", "FR", "JP", "CN", "ES", "GB")
FAMILY_ID_BASE = 900_000_000

# A small hand-made record of the documented shape, for tests that need no real example.
MINIMAL_RECORD: dict = {
    "lens_id": "000-000-000-000-000", "jurisdiction": "EP", "doc_number": "1000000", "kind": "A1",
    "date_published": "2015-03-04", "lang": "en",
    "biblio": {
        "invention_title": [{"text": "Verfahren", "lang": "de"}, {"text": "Method", "lang": "en"}],
        "parties": {"applicants": [{"residence": "DE", "extracted_name": {"value": "ACME GMBH"}}],
                    "inventors": [{"residence": "DE", "extracted_name": {"value": "DOE JANE"}},
                                  {"extracted_name": {"value": "ROE RICHARD"}}]},
        "classifications_ipcr": {"classifications": [{"symbol": "G01N33/24"}]},
        "classifications_cpc": {"classifications": [{"symbol": "G01N33/24"}, {"symbol": "G01N33/24"}]},
        "priority_claims": {"claims": [{"jurisdiction": "DE", "date": "2014-03-01"}],
                            "earliest_claim": {"date": "2014-03-01"}},
        "cited_by": {"patent_count": 2},
    },
    "families": {"simple_family": {"family_id": 100, "size": 1, "members": [
        {"document_id": {"jurisdiction": "EP", "doc_number": "1000000", "kind": "A1", "date": "2015-03-04"},
         "lens_id": "000-000-000-000-000"}]}},
    "legal_status": {"patent_status": "PENDING"},
}


def lens_example_response() -> dict:
    """The documented example response (skips the test when the shared data is absent)."""
    if not EXAMPLE_RESPONSE.exists():
        pytest.skip(f"reference data not available: {EXAMPLE_RESPONSE}")
    return json.loads(EXAMPLE_RESPONSE.read_text(encoding="utf-8"))


def lens_example_record() -> dict:
    return lens_example_response()["data"][0]


def lens_id_for(i: int) -> str:
    digits = f"{i:015d}"
    return "-".join(digits[k:k + 3] for k in range(0, 15, 3))


def lens_variant(base: dict, i: int) -> dict:
    """Record `i`: the base itself for 0; otherwise its own Lens id, number, jurisdiction
    (JURISDICTIONS[i % 5]), date, applicant (APPLICANT {i % 7:02}) and a two-member family
    shared with its neighbour ((i + 1) // 2). Unchanged parts are shared with the base."""
    if i == 0:
        return base
    jurisdiction, number = JURISDICTIONS[i % len(JURISDICTIONS)], str(3_000_000 + i)
    kind = base.get("kind") or "A1"
    day = dt.date(2000 + i % 20, 1 + i % 12, 1 + i % 28).isoformat()
    record = dict(base, lens_id=lens_id_for(i), jurisdiction=jurisdiction, doc_number=number, date_published=day,
                  doc_key=f"{jurisdiction}_{number}_{kind}_{day.replace('-', '')}")
    biblio = dict(base.get("biblio") or {})
    biblio["publication_reference"] = {"jurisdiction": jurisdiction, "doc_number": number, "kind": kind, "date": day}
    biblio["parties"] = dict(biblio.get("parties") or {}, applicants=[
        {"residence": APPLICANT_COUNTRIES[i % 7], "extracted_name": {"value": f"APPLICANT {i % 7:02d}"}}])
    record["biblio"] = biblio
    pair = (i + 1) // 2
    members = []
    for j in (2 * pair - 1, 2 * pair):
        j_day = dt.date(2000 + j % 20, 1 + j % 12, 1 + j % 28).isoformat()
        members.append({"document_id": {"jurisdiction": JURISDICTIONS[j % 5], "doc_number": str(3_000_000 + j),
                                        "kind": kind, "date": j_day}, "lens_id": lens_id_for(j)})
    families = dict(base.get("families") or {})
    families["simple_family"] = {"family_id": FAMILY_ID_BASE + pair, "members": members, "size": 2}
    record["families"] = families
    return record


def expected_families(total: int) -> int:
    """Distinct simple families among records 0..total-1 made by `lens_variant`."""
    return 0 if total <= 0 else 1 + total // 2


def project(record: dict, include: list[str] | None) -> dict:
    """The record cut to `include` paths (through lists too), as Lens's projection does."""
    if not include:
        return record
    out: dict = {}
    for path in include:
        _pick(record, path.split("."), out)
    return out


def _pick(src: object, parts: list[str], dst: dict) -> None:
    if not isinstance(src, dict) or parts[0] not in src:
        return
    key, rest, value = parts[0], parts[1:], src[parts[0]]
    if not rest or not isinstance(value, dict | list):
        dst[key] = value
    elif isinstance(value, dict):
        _pick(value, rest, dst.setdefault(key, {}))
    else:
        target = dst.setdefault(key, [{} for _ in value])
        for item, out in zip(value, target):
            _pick(item, rest, out)


@dataclass
class FakeRequest:
    number: int
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: object  # parsed JSON, or the raw text when it is not JSON
    status: int = 0
    scroll_id: str | None = None  # the scroll_id answered, if any


class FakeLens:
    """See the module docstring. `token`: when set, other bearer tokens get 401.
    `announce_total=False` leaves `total` out, so only a 204 ends the scroll; `claimed_total`
    announces that value (any JSON: a wrong number, "24", {"value": 24}, true) instead of the true one."""

    def __init__(self, total: int = 25, *, base: dict | None = None, records: list[dict] | None = None,
                 faults: dict[int, object] | None = None, token: str | None = None, max_size: int = 1000,
                 hang_seconds: float = 2.0, announce_total: bool = True, claimed_total: object = None,
                 page_delay: float = 0.0):
        if records is not None:
            self.total, self._record = len(records), records.__getitem__
        else:
            base = base if base is not None else lens_example_record()
            self.total, self._record = total, (lambda i: lens_variant(base, i))
        self.faults = dict(faults or {})
        self.token, self.max_size, self.hang_seconds, self.announce_total = token, max_size, hang_seconds, announce_total
        self.page_delay = page_delay  # seconds before each answer: a slow API, for cancels mid-fetch
        self.claimed_total = claimed_total
        self.last_answer: dict | None = None  # the last 200 answer, for "repeat"
        self.requests: list[FakeRequest] = []
        self.scrolls: dict[str, dict] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self.url = ""

    def __enter__(self) -> FakeLens:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, args=(0.05,), name="fake-lens", daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    def expire_scrolls(self) -> None:
        """Forget every open scroll, as Lens does after its 1-minute lifespan."""
        with self._lock:
            self.scrolls.clear()

    @property
    def searches(self) -> list[FakeRequest]:
        return [r for r in self.requests if r.path == "/patent/search"]

    def records(self, start: int, stop: int, include: list[str] | None) -> list[dict]:
        return [project(self._record(i), include) for i in range(start, min(stop, self.total))]

    def _page(self, request: FakeRequest) -> tuple[int, dict | None]:
        """Status and JSON answer to a search that no fault caught."""
        body = request.body if isinstance(request.body, dict) else None
        if body is None:
            return 400, {"message": "Request body must be a JSON object"}
        with self._lock:
            if "scroll_id" in body:
                context = self.scrolls.pop(str(body["scroll_id"]), None)
                if context is None:
                    return 400, {"message": "Invalid or expired scroll_id; start a new scroll request"}
                context = dict(context, include=body.get("include") or context["include"])
            else:
                if "query" not in body:
                    return 400, {"message": "Field 'query' is required"}
                size = body.get("size", 20)
                if not isinstance(size, int) or size > self.max_size:
                    return 400, {"message": f"Parameter 'size' shouldn't be greater than {self.max_size}."}
                context = {"offset": int(body.get("from", 0)), "size": size, "include": body.get("include"),
                           "scroll": "scroll" in body}
            start = context["offset"]
            data = self.records(start, start + context["size"], context["include"])
            if context["scroll"] and not data:
                return 204, None  # the scroll is exhausted and forgotten
            total = self.total if self.claimed_total is None else self.claimed_total
            answer: dict = {"total": total, "max_score": 1.0, "data": data, "results": len(data)}
            if not self.announce_total:
                del answer["total"]
            if context["scroll"]:
                scroll_id = f"FakeScroll{next(self._ids):06d}=="
                self.scrolls[scroll_id] = dict(context, offset=start + len(data))
                answer["scroll_id"] = request.scroll_id = scroll_id
            self.last_answer = answer
            return 200, answer


def _handler(fake: FakeLens) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # keep test output clean
            pass

        def do_GET(self) -> None:
            self._request = self._record(b"")
            self._send(404, {"message": "Not Found"})

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            request = self._request = self._record(raw)
            if self.path != "/patent/search":
                return self._send(404, {"message": "Not Found"})
            fault = fake.faults.get(request.number)
            if fake.page_delay:
                fake._stop.wait(fake.page_delay)
            if fault is None:
                if fake.token and self.headers.get("Authorization") != f"Bearer {fake.token}":
                    return self._send(401, {"message": "Unauthorized: invalid access token"})
                status, answer = fake._page(request)
                return self._send(status, answer)
            self._fault(fault, request)

        def _record(self, raw: bytes) -> FakeRequest:
            try:
                body: object = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode("utf-8", "replace")
            with fake._lock:
                request = FakeRequest(len(fake.requests) + 1, self.command, self.path,
                                      {k.lower(): v for k, v in self.headers.items()}, body)
                fake.requests.append(request)
            return request

        def _fault(self, fault: object, request: FakeRequest) -> None:
            if isinstance(fault, int):
                fault = ("status", fault)
            if isinstance(fault, tuple) and fault[0] == "status":
                status, headers = fault[1], (fault[2] if len(fault) > 2 else {})
                body = fault[3] if len(fault) > 3 else {"message": http.HTTPStatus(status).phrase}
                return self._send(status, body, headers)
            if fault in ("timeout", "disconnect"):
                if fault == "timeout":
                    fake._stop.wait(fake.hang_seconds)
                self.close_connection = True
                return
            if fault == "echo_token":
                status, answer = fake._page(request)
                return self._send(status, dict(answer or {}, echo=self.headers.get("Authorization")))
            if fault == "expired_scroll":
                fake.scrolls.pop(str((request.body or {}).get("scroll_id")), None)
                return self._send(400, {"message": "Scroll context expired: scroll_id is no longer valid"})
            answers: dict[str, Callable[[], object]] = {
                "malformed": lambda: b'{"total": 5, "data": [{"lens_id": "0',
                "no_data": lambda: {"total": fake.total, "results": 0},
                "empty": lambda: {"data": [], "results": 0, "scroll_id": "FakeScrollEmpty==",
                                  **({"total": fake.total} if fake.announce_total else {})},
                "204": lambda: None,
                "repeat": lambda: fake.last_answer,
            }
            if fault not in answers:
                raise ValueError(f"unknown fake Lens fault {fault!r}")
            answer = answers[fault]()
            self._send(204 if fault == "204" else 200, answer)

        def _send(self, status: int, body: object, headers: dict | None = None) -> None:
            if isinstance(body, bytes):
                payload = body
            elif isinstance(body, str):
                payload = body.encode()
            else:
                payload = b"" if body is None else json.dumps(body).encode()
            self._request.status = status
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            if status != 204:
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            if status != 204:
                self.wfile.write(payload)

    return Handler


def write_query(folder: Path, name: str = "q", **fields: object) -> Path:
    """A query file NAME.lens.json in `folder` (defaults: a match query, no cap)."""
    path = folder / f"{name}.lens.json"
    doc = {"name": name, "query": {"match": {"title": "antigen"}}, **fields}
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path
