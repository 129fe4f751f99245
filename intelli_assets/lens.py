"""The Lens.org Patent API: query files and a scrolling fetch client (httpx); `lens_records`
turns the stored pages into the canonical records table. No Dagster imports.

Lens's docs (docs.api.lens.org): `POST /patent/search` with `Authorization: Bearer <token>`;
cursor paging with `"scroll": "1m"` and the newest `scroll_id` (it changes every page); 204 when
the scroll is exhausted; an expired scroll_id is answered 400 ("request-patent") or 404
("getting-started"); 429 says how long to wait in `x-rate-limit-retry-after-seconds`.
"""

from __future__ import annotations

import html
import json
import math
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from intelli_assets.errors import IntelliError
from intelli_assets.lens_query import (  # noqa: F401 - the query file's API, used with the client
    DEFAULT_INCLUDE,
    MAX_PAGE_SIZE,
    LensQuery,
    read_lens_query,
    whole_number,
)

if TYPE_CHECKING:  # imported when a client is made: a Filters run never pays for it
    import httpx

DEFAULT_LENS_URL = "https://api.lens.org"
TOKEN_ENV = "LENS_API_TOKEN"
URL_ENV = "LENS_API_URL"
SEARCH_PATH = "/patent/search"
SCROLL = "1m"
MAX_RESTARTS = 2
RATE_LIMIT_PATIENCE = 4  # 429 answers allowed per request, per allowed error
MAX_RATE_WAIT = 900.0  # a longer wait means a used-up quota, not a busy minute: fail and say so
MESSAGE_CHARS = 300


@dataclass
class LensPage:
    number: int
    body: bytes = field(repr=False)
    records: int
    total: int | None


@dataclass
class LensFetch:
    pages: int
    records: int  # distinct records delivered, up to max_records: the rows `lens_records` gives
    total: int | None
    capped: bool
    restarts: int
    retries: int


class LensError(IntelliError):
    """A fetch failed; `page` is the page being asked for (1-based), if any."""

    def __init__(self, message: str, page: int | None = None, transient: bool = False):
        super().__init__(message)
        self.page = page
        self.transient = transient


class LensAuthError(LensError):
    """The token is missing, rejected or lacks access: retrying cannot help."""


class _ScrollExpired(Exception):
    """Lens no longer knows the scroll_id: the search starts again."""


def _count(value: object) -> int | None:
    """Lens's `total` as a record count, or None: a bool is no count; "24" and Elasticsearch's
    {"value": 24} are 24, unless its `relation` says the value is only a bound."""
    if isinstance(value, dict):
        value = value.get("value") if value.get("relation", "eq") == "eq" else None
    if isinstance(value, str) and re.fullmatch(r"\s*\d+\s*", value):
        value = int(value)
    return value if whole_number(value, 0) else None


def _record_key(record: object) -> str | None:
    """Its lens_id, else jurisdiction+doc_number+kind, as `lens_records` tells records apart."""
    r = {k: v for k, v in record.items() if v not in (None, "")} if isinstance(record, dict) else {}
    if "lens_id" in r or not {"jurisdiction", "doc_number"} <= r.keys():
        return str(r["lens_id"]) if "lens_id" in r else None
    return "\x1f".join(("", str(r["jurisdiction"]), str(r["doc_number"]), str(r.get("kind", ""))))


class LensClient:
    """Fetches every page of a query by scrolling; each page goes to `on_page` before the next
    request, so a failure half-way keeps what came. The token appears in no message or repr."""

    def __init__(self, token: str, base_url: str = DEFAULT_LENS_URL, *, timeout: float = 60.0, max_attempts: int = 6,
                 backoff: float = 1.0, max_backoff: float = 60.0, sleep: Callable[[float], None] = time.sleep,
                 transport: httpx.BaseTransport | None = None, max_restarts: int = MAX_RESTARTS):
        import httpx

        self._token = (token or "").strip()
        self.base_url = (base_url or DEFAULT_LENS_URL).rstrip("/")
        if not self.base_url.startswith(("http://", "https://")):
            raise LensError(f"the Lens API URL must start with https:// (set {URL_ENV} like {DEFAULT_LENS_URL})")
        self.timeout, self.max_attempts, self.max_restarts = timeout, max(1, max_attempts), max_restarts
        self.backoff, self.max_backoff, self._sleep = backoff, max_backoff, sleep
        self._http = httpx.Client(timeout=httpx.Timeout(timeout), transport=transport)
        self._say: Callable[[str], None] = lambda line: None
        self._pages = self._retries = 0
        self._seen: set[str] = set()  # record keys delivered in this fetch, over every pass
        self._noted: set[str] = set()  # notes said once per fetch

    def __repr__(self) -> str:
        return f"LensClient({self._redact(self.base_url)!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> LensClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _secrets(self) -> list[str]:
        # the token as sent, and as a JSON string would spell it when it holds `"`, `\` or `/`
        escaped = json.dumps(self._token)[1:-1]
        return [t for t in dict.fromkeys((self._token, escaped, escaped.replace("/", "\\/"))) if t]

    def _redact(self, text: str) -> str:
        for secret in self._secrets():
            text = text.replace(secret, "***")
        return text

    def _redact_bytes(self, body: bytes) -> bytes:
        for secret in self._secrets():  # ASCII: checked when the fetch starts
            body = body.replace(secret.encode(), b"***")
        return body

    def fetch(self, query: LensQuery, on_page: Callable[[LensPage], None],
              progress: Callable[[str], None] | None = None) -> LensFetch:
        """Every page of `query` (up to max_records). An expired scroll restarts the search up to
        `max_restarts` times; the records it repeats are dropped by `lens_records`.

        Progress lines all start "lens: ". The routine one per page is "lens: page N · …"; the
        others never start "lens: page" but with a word to key on: "lens: waiting …",
        "lens: retrying …", "lens: restarting …", "lens: stopping …", "lens: note: …"."""
        if not self._token:
            raise LensAuthError(f"{TOKEN_ENV} is not set: set it to a Lens.org API access token (from your Lens "
                                "user profile) to fetch patents")
        # httpx cannot encode other header characters and would fail with an empty message
        bad = next((i for i, c in enumerate(self._token, 1) if not "!" <= c <= "~"), None)
        if bad is not None:
            raise LensAuthError(f"{TOKEN_ENV} contains a character that cannot be sent (position {bad}); copy the "
                                "token again from lens.org")
        self._say, self._pages, self._retries, restarts = progress or (lambda line: None), 0, 0, 0
        self._seen, self._noted = set(), set()
        while True:
            try:
                distinct, total, capped = self._scroll(query, on_page, fresh=restarts == 0)
                records = min(distinct, query.max_records) if query.max_records else distinct
                return LensFetch(self._pages, records, total, capped, restarts, self._retries)
            except _ScrollExpired as exc:
                page = self._pages + 1
                if restarts >= self.max_restarts:
                    raise LensError(f"page {page}: the scroll expired {restarts + 1} times (Lens.org: {exc.args[0]}); "
                                    "Lens keeps a scroll for 1 minute between pages", page=page) from None
                restarts += 1
                self._say(f"lens: restarting the search: the scroll expired at page {page} (restart {restarts} of "
                          f"{self.max_restarts})")

    def _scroll(self, query: LensQuery, on_page: Callable[[LensPage], None],
                fresh: bool) -> tuple[int, int | None, bool]:
        """One pass of the scroll: (distinct records so far, Lens's total, capped at max_records).
        Only distinct records count: a server repeating records must not end the scroll early."""
        limit = query.max_records
        size = min(query.page_size, limit) if limit else query.page_size
        include = list(dict.fromkeys(f.strip() for f in query.include if f.strip()))
        body: dict = {"query": query.query, "include": include, "size": size, "scroll": SCROLL}
        total, pages = None, 0
        # a restarted pass repeats what came before; only keys new to this pass show it advancing
        in_pass = self._seen if fresh else set()
        while True:
            number = self._pages + 1
            target = self._target(total, limit)
            # Lens sends full pages: twice the pages needed means a scroll that will not end
            bound = math.ceil(target / size) * 2 + 10 if target is not None else None
            if bound is not None and pages >= bound:
                raise LensError(f"page {number}: Lens.org's scroll has not ended after {pages} pages, though "
                                f"{target:,} records fill {math.ceil(target / size)} pages of {size}", page=number)
            response = self._post(body, number)
            if response is None:  # 204: the scroll is exhausted
                return self._ended(number, total, limit)
            doc = page_document(response.content, number)
            total = self._total(doc, total)
            if not doc["data"]:
                return self._ended(number, total, limit)
            keys = _page_keys(doc["data"], number)
            if not keys - in_pass:
                return self._ended(number, total, limit, stalled=True)
            in_pass |= keys
            self._seen |= keys
            on_page(LensPage(number, self._redact_bytes(response.content), len(doc["data"]), total))
            self._pages, pages, distinct = number, pages + 1, len(self._seen)
            target = self._target(total, limit)
            self._say(f"lens: page {number} · {distinct:,}" + (f" of {target:,}" if target is not None else "")
                      + " records")
            if limit and distinct >= limit:
                return distinct, total, total is None or total > limit
            if total is not None and distinct == total:
                return distinct, total, False
            if total is not None and distinct > total:  # a wrong total must not end the fetch
                self._note("overrun", f"lens: note: Lens.org announced {total:,} records but {distinct:,} came; "
                                      "fetching until the scroll ends")
            if not isinstance(doc.get("scroll_id"), str) or not doc["scroll_id"]:
                raise LensError(f"page {number}: Lens.org sent no scroll_id, so the rest cannot be fetched", page=number)
            body = {"scroll_id": doc["scroll_id"], "scroll": SCROLL, "include": include, "size": size}

    def _note(self, kind: str, line: str) -> None:
        if kind not in self._noted:
            self._noted.add(kind)
            self._say(line)

    def _target(self, total: int | None, limit: int | None) -> int | None:
        """The records the scroll should bring: Lens's total (unless fewer than already came), or
        max_records when smaller."""
        trusted = total if total is not None and len(self._seen) <= total else None
        return min((t for t in (trusted, limit) if t is not None), default=None)

    def _total(self, doc: dict, previous: int | None) -> int | None:
        count = _count(doc.get("total"))
        if count is None and doc.get("total") is not None:
            shown = json.dumps(doc["total"], ensure_ascii=False)[:60]
            self._note("total", f"lens: note: Lens.org's `total` is {shown}, not a record count; fetching until "
                                "the scroll ends")
        return previous if count is None else count

    def _ended(self, number: int, total: int | None, limit: int | None,
               stalled: bool = False) -> tuple[int, int | None, bool]:
        """Ended by a 204, an empty page or a `stalled` one (all repeats): complete unless fewer
        came than Lens announced, or it stalled with no total to say it was all."""
        distinct = len(self._seen)
        if limit and distinct >= limit:
            return distinct, total, False
        if total is not None and distinct < total:
            raise LensError(f"Lens.org announced {total:,} records but the scroll ended after {distinct:,} distinct "
                            f"ones (page {number}); run the query again", page=number)
        if stalled and total is None:
            raise LensError(f"page {number} repeats records already received: the scroll stopped advancing after "
                            f"{distinct:,} distinct records (Lens.org gave no total, so they may be incomplete); run "
                            "the query again", page=number)
        if stalled:
            self._say(f"lens: stopping at page {number}: it repeats records already received; {distinct:,} records "
                      f"came, at least the {total:,} Lens.org announced")
        return distinct, total, False

    def _delay(self, attempt: int) -> float:
        # full jitter: clients that failed together do not come back together
        return random.uniform(0, min(self.max_backoff, self.backoff * 2 ** (attempt - 1)))

    def _post(self, body: dict, page: int) -> httpx.Response | None:
        """The answer to one request (None for 204), after retries and rate-limit waits."""
        import httpx

        headers = {"Authorization": f"Bearer {self._token}", "Accept": "application/json"}
        errors = rate_waits = 0
        while True:
            response = None  # errors are raised outside `except`: no httpx request (headers) chained to them
            try:
                response = self._http.post(self.base_url + SEARCH_PATH, json=body, headers=headers)
            except httpx.TimeoutException:
                failure = f"timed out after {self.timeout:g} s"
            except (httpx.TransportError, httpx.InvalidURL) as exc:
                failure = self._redact(f"connection failed ({exc.__class__.__name__}: {exc})")
            if response is not None:
                status = response.status_code
                if status in (200, 204):
                    return response if status == 200 else None
                message = _lens_message(response, self._redact)
                if status in (401, 403):
                    raise LensAuthError(f"Lens.org rejected the token in {TOKEN_ENV} (HTTP {status}): it is wrong or "
                                        f"expired, or lacks access to the Patent API (Lens.org: {message}).", page=page)
                if status == 429:
                    rate_waits += 1
                    wait = _retry_after(response)
                    wait = self._delay(rate_waits) if wait is None else wait
                    if rate_waits > self.max_attempts * RATE_LIMIT_PATIENCE or wait > MAX_RATE_WAIT:
                        raise LensError(f"page {page}: Lens.org's rate limit refused the request "
                                        f"{_times(rate_waits)}, last asking to wait {_seconds(wait)} s (the plan's "
                                        f"quota may be used up; Lens.org: {message})", page=page, transient=True)
                    self._retries += 1
                    self._say(f"lens: waiting {_seconds(wait)} s: Lens.org's rate limit refused page {page}")
                    self._sleep(wait)
                    continue
                if "scroll_id" in body and status in (400, 404):
                    raise _ScrollExpired(f"HTTP {status}: {message}")
                if status < 500:
                    raise LensError(f"page {page}: Lens.org refused the request (HTTP {status}): {message}", page=page)
                failure = f"HTTP {status} ({message})"
            errors += 1
            if errors >= self.max_attempts:
                raise LensError(f"page {page}: the request to Lens.org failed after {errors} attempts; last: {failure}",
                                page=page, transient=True)
            self._retries += 1
            wait = self._delay(errors)
            self._say(f"lens: retrying page {page} in {_seconds(wait)} s (attempt {errors + 1} of "
                      f"{self.max_attempts}) after {failure}")
            self._sleep(wait)


def _page_keys(data: list, number: int) -> set[str]:
    keys = [_record_key(r) for r in data]
    if unknown := keys.count(None):
        raise LensError(f"page {number}: {unknown:,} record{'s have' if unknown != 1 else ' has'} no lens_id (nor "
                        "jurisdiction/doc_number): cannot tell them apart", page=number)
    return set(keys)


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return max(0.0, float(response.headers["x-rate-limit-retry-after-seconds"]))
    except (KeyError, ValueError):
        return None


def _times(n: int) -> str:
    return "once" if n == 1 else f"{n} times"


def _seconds(value: float) -> str:
    return f"{value:.1f}".removesuffix(".0")


def _lens_message(response: httpx.Response, redact: Callable[[str], str]) -> str:
    """Lens's own words for an error, on one line, token masked, then bounded (masking after the
    cut would leave a cut token's prefix)."""
    text = response.text
    try:
        doc = json.loads(text)
        text = next((str(doc[k]) for k in ("message", "error_description", "error", "detail") if doc.get(k)), text)
    except (ValueError, AttributeError):
        if "html" in response.headers.get("content-type", "") or text.lstrip()[:1] == "<":
            # a proxy's error page: its words, not its markup
            text = re.sub(r"(?is)<(script|style)\b.*?</\1\s*>|<!--.*?-->", " ", text)
            text = html.unescape(re.sub(r"(?s)<[^>]*>", " ", text))
            text = f"an HTML error page: {' '.join(text.split())}" if text.strip() else "an HTML error page"
    text = redact(" ".join(text.split()) or response.reason_phrase or "no message")
    return text if len(text) <= MESSAGE_CHARS else text[:MESSAGE_CHARS - 1] + "…"


def page_document(body: bytes | str, number: int) -> dict:
    try:
        doc = json.loads(body)
    except ValueError as exc:  # JSONDecodeError says where; UnicodeDecodeError what
        where = f"{exc.msg} at line {exc.lineno}, column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else exc
        raise LensError(f"page {number}: Lens.org's response is not valid JSON ({where})", page=number) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("data"), list):
        got = ", ".join(list(doc)[:8]) if isinstance(doc, dict) else type(doc).__name__
        raise LensError(f"page {number}: Lens.org's response has no `data` list (got: {got or 'nothing'})", page=number)
    return doc
