"""The Lens.org connector: the real httpx client against a real fake server (fake_lens), with
`sleep` recorded instead of slept; query files; normalisation to the records table."""

from __future__ import annotations

import copy
import datetime as dt
import json
import re

import pyarrow as pa
import pyarrow.compute as pc
import pytest

from intelli_assets.errors import InvalidSourceError
from intelli_assets.lens import (
    DEFAULT_INCLUDE,
    LensAuthError,
    LensClient,
    LensError,
    LensPage,
    LensQuery,
    read_lens_query,
)
from intelli_assets.lens_records import LENS_RECORD_TYPE, _page_records, lens_records
from intelli_assets.records import RECORDS_SCHEMA
from intelli_assets_tests.fake_lens import (
    MINIMAL_RECORD,
    FakeLens,
    expected_families,
    lens_example_record,
    lens_example_response,
    lens_id_for,
    lens_variant,
    write_query,
)

TOKEN = "s3cret-T0ken-value-4242"
NGINX_502 = ("<html>\r\n<head><title>502 Bad Gateway</title><style>body { display: none }</style></head>\r\n"
             "<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx &amp; co</center>\r\n</body></html>")
RETRY_HEADER = "x-rate-limit-retry-after-seconds"


def query(page_size: int = 10, max_records: int | None = None) -> LensQuery:
    return LensQuery("q", {"match": {"title": "antigen"}}, list(DEFAULT_INCLUDE), max_records, page_size)


class Run:
    """One fetch: the pages delivered, progress lines, waits asked for, and the outcome."""

    def __init__(self, lens: FakeLens, q: LensQuery | None = None, token: str = TOKEN, **client_args: object):
        self.pages: list[LensPage] = []
        self.lines: list[str] = []
        self.waits: list[float] = []
        self.error: LensError | None = None
        self.result = None
        args = {"backoff": 0.5, "max_attempts": 3, **client_args}
        with LensClient(token, lens.url, sleep=self.waits.append, **args) as client:
            self.client_repr = repr(client)
            try:
                self.result = client.fetch(q or query(), self.pages.append, self.lines.append)
            except LensError as exc:
                self.error = exc

    def records(self, **kw: object):
        return lens_records([p.body for p in self.pages], **kw)


def assert_no_token(*texts: object) -> None:
    for text in texts:
        assert TOKEN not in str(text)


def test_scroll_pages_send_the_newest_scroll_id_include_size_and_token():
    with FakeLens(25, base=MINIMAL_RECORD) as lens:
        run = Run(lens)
    assert run.error is None
    assert (run.result.pages, run.result.records, run.result.total, run.result.capped) == (3, 25, 25, False)
    assert (run.result.restarts, run.result.retries, run.waits) == (0, 0, [])
    assert [p.number for p in run.pages] == [1, 2, 3] and [p.records for p in run.pages] == [10, 10, 5]
    requests = lens.searches
    assert len(requests) == 3  # `total` reached: no further request
    assert all(r.method == "POST" and r.headers["authorization"] == f"Bearer {TOKEN}" for r in requests)
    first = requests[0].body
    assert first == {"query": {"match": {"title": "antigen"}}, "include": DEFAULT_INCLUDE, "size": 10, "scroll": "1m"}
    for before, later in zip(requests, requests[1:]):
        assert later.body["scroll_id"] == before.scroll_id  # the newest one (the fake forgets older ones)
        assert later.body["scroll"] == "1m" and later.body["include"] == DEFAULT_INCLUDE and later.body["size"] == 10
        assert "query" not in later.body
    assert run.lines == ["lens: page 1 · 10 of 25 records", "lens: page 2 · 20 of 25 records",
                         "lens: page 3 · 25 of 25 records"]
    records = run.records()
    assert records.num_rows == 25 and pc.count_distinct(records["source_id"]).as_py() == 25
    assert TOKEN not in run.client_repr


def test_rate_limit_waits_what_the_header_says():
    with FakeLens(25, base=MINIMAL_RECORD, faults={2: ("status", 429, {RETRY_HEADER: "7"})}) as lens:
        run = Run(lens)
    assert run.error is None and run.waits == [7.0]
    assert (run.result.records, run.result.retries) == (25, 1)
    assert lens.searches[2].body["scroll_id"] == lens.searches[0].scroll_id  # the same page asked again


def test_rate_limit_without_header_backs_off_and_is_bounded():
    faults = {n: ("status", 429) for n in range(1, 100)}
    with FakeLens(25, base=MINIMAL_RECORD, faults=faults) as lens:
        run = Run(lens, max_attempts=2, max_backoff=4.0)
    assert isinstance(run.error, LensError) and run.error.page == 1
    assert "rate limit" in str(run.error) and "page 1" in str(run.error)
    assert len(lens.searches) == 9 and len(run.waits) == 8  # 4 waits per allowed error: more than errors get
    assert all(0 <= w <= 4.0 for w in run.waits)


def test_server_error_is_retried_with_jittered_backoff():
    with FakeLens(25, base=MINIMAL_RECORD, faults={1: 500, 3: 503}) as lens:
        run = Run(lens)
    assert run.error is None and run.result.records == 25 and run.result.retries == 2
    assert len(run.waits) == 2 and all(0 <= w <= 0.5 for w in run.waits)
    assert any("HTTP 503" in line and "retrying" in line for line in run.lines)


def test_server_error_on_every_attempt_names_page_status_and_attempts_and_keeps_earlier_pages():
    with FakeLens(45, base=MINIMAL_RECORD, faults={3: 502, 4: 502, 5: 502}) as lens:
        run = Run(lens)
    assert run.error is not None and run.error.page == 3
    message = str(run.error)
    assert "page 3" in message and "HTTP 502" in message and "3 attempts" in message
    assert [p.number for p in run.pages] == [1, 2]  # delivered before the failure, so stored
    assert run.records().num_rows == 20


@pytest.mark.parametrize("status", [401, 403])
def test_rejected_token_is_an_auth_error_naming_the_variable_never_the_token(status):
    with FakeLens(25, base=MINIMAL_RECORD, faults={1: status}) as lens:
        run = Run(lens)
    assert isinstance(run.error, LensAuthError)
    assert "LENS_API_TOKEN" in str(run.error) and f"HTTP {status}" in str(run.error)
    assert_no_token(run.error, repr(run.error), run.lines, run.client_repr)
    assert len(lens.searches) == 1 and run.waits == []  # never retried


def test_wrong_token_against_a_checking_server():
    with FakeLens(25, base=MINIMAL_RECORD, token="the-right-one") as lens:
        run = Run(lens)
    assert isinstance(run.error, LensAuthError) and "LENS_API_TOKEN" in str(run.error)
    assert_no_token(run.error)


@pytest.mark.parametrize("token", ["", "   "])
def test_empty_token_fails_before_any_request(token):
    with FakeLens(25, base=MINIMAL_RECORD) as lens:
        run = Run(lens, token=token)
    assert isinstance(run.error, LensAuthError) and "LENS_API_TOKEN" in str(run.error)
    assert lens.requests == []


def test_token_is_redacted_from_error_messages_lens_echoes():
    echo = {"message": f"bad request from Bearer {TOKEN}"}
    with FakeLens(25, base=MINIMAL_RECORD, faults={1: ("status", 422, {}, echo)}) as lens:
        run = Run(lens)
    assert "HTTP 422" in str(run.error) and "bad request from Bearer ***" in str(run.error)
    assert_no_token(run.error, run.lines)


def test_token_late_in_a_long_message_is_masked_before_the_cut():
    cuts = range(270, 300, 3)
    faults = {n: ("status", 422, {}, {"message": "x" * at + f" Bearer {TOKEN} and {TOKEN}"})
              for n, at in enumerate(cuts, start=1)}
    with FakeLens(25, base=MINIMAL_RECORD, faults=faults) as lens:
        for at in cuts:  # one request each: a 422 is not retried
            run = Run(lens)
            assert "HTTP 422" in str(run.error) and TOKEN[:5] not in str(run.error), at


@pytest.mark.parametrize("token", [TOKEN, 'quote"and/slash\\x'])
def test_a_page_echoing_the_token_is_stored_masked(token):
    with FakeLens(25, base=MINIMAL_RECORD, faults={1: "echo_token"}) as lens:
        run = Run(lens, token=token)
    assert run.error is None and run.result.records == 25
    body = run.pages[0].body
    assert token.encode() not in body and json.dumps(token).encode()[1:-1] not in body
    assert json.loads(body)["echo"] == "Bearer ***"


@pytest.mark.parametrize("token, position", [("abc\u00f6def", 4), ("abc def", 4), ("\u00e9t\u00e9", 1)])
def test_a_token_that_cannot_be_sent_fails_before_any_request(token, position):
    with FakeLens(25, base=MINIMAL_RECORD) as lens:
        run = Run(lens, token=token)
    assert isinstance(run.error, LensAuthError)
    assert str(run.error) == (f"LENS_API_TOKEN contains a character that cannot be sent (position {position}); "
                              "copy the token again from lens.org")
    assert lens.requests == []


def test_retry_and_error_lines_read_well():
    faults = {1: ("status", 429, {RETRY_HEADER: "0.407487"}), 2: ("status", 502, {}, NGINX_502)}
    with FakeLens(25, base=MINIMAL_RECORD, faults=faults) as lens:
        run = Run(lens, backoff=0.25)
    assert run.error is None and run.lines[0] == "lens: waiting 0.4 s: Lens.org's rate limit refused page 1"
    assert run.lines[1].startswith("lens: retrying page 1 in ")
    assert run.lines[1].endswith(" s (attempt 2 of 3) after HTTP 502 (an HTML error page: 502 Bad Gateway 502 Bad "
                                 "Gateway nginx & co)")
    assert "<" not in run.lines[1] and "display" not in run.lines[1]
    with FakeLens(25, base=MINIMAL_RECORD, faults={1: ("status", 429, {RETRY_HEADER: "3600"})}) as lens:
        run = Run(lens)
    assert "refused the request once, last asking to wait 3600 s" in str(run.error)


def test_other_client_error_quotes_lens_bounded_and_is_not_retried():
    long = {"message": "Parameter 'size' shouldn't be greater than 100. " + "x" * 2000}
    with FakeLens(25, base=MINIMAL_RECORD, faults={1: ("status", 400, {}, long)}) as lens:
        run = Run(lens)
    message = str(run.error)
    assert "page 1" in message and "HTTP 400" in message and "shouldn't be greater than 100" in message
    assert len(message) < 500 and len(lens.searches) == 1


def test_timeout_is_retried():
    with FakeLens(25, base=MINIMAL_RECORD, faults={2: "timeout"}, hang_seconds=1.5) as lens:
        run = Run(lens, timeout=0.3)
    assert run.error is None and run.result.records == 25 and run.result.retries == 1
    assert lens.searches[2].body["scroll_id"] == lens.searches[0].scroll_id


def test_timeout_on_every_attempt_names_the_page():
    with FakeLens(25, base=MINIMAL_RECORD, faults={2: "timeout", 3: "timeout"}, hang_seconds=1.5) as lens:
        run = Run(lens, timeout=0.3, max_attempts=2)
    assert run.error is not None and run.error.page == 2
    assert "page 2" in str(run.error) and "timed out" in str(run.error) and "2 attempts" in str(run.error)
    assert [p.number for p in run.pages] == [1]


def test_connection_errors_are_retried_then_reported():
    with FakeLens(25, base=MINIMAL_RECORD, faults={1: "disconnect"}) as lens:
        run = Run(lens)
    assert run.error is None and run.result.retries == 1
    with FakeLens(25, base=MINIMAL_RECORD) as lens:
        url = lens.url
    with LensClient(TOKEN, url, max_attempts=2, sleep=lambda s: None) as client:  # nobody listens any more
        with pytest.raises(LensError, match=r"page 1: .*2 attempts.*connection failed") as caught:
            client.fetch(query(), lambda page: None)
    assert_no_token(caught.value)


@pytest.mark.parametrize("fault, words", [("malformed", "not valid JSON"), ("no_data", "no `data`")])
def test_unusable_body_names_the_page(fault, words):
    with FakeLens(25, base=MINIMAL_RECORD, faults={2: fault}) as lens:
        run = Run(lens)
    assert run.error is not None and run.error.page == 2
    assert "page 2" in str(run.error) and words in str(run.error)
    assert [p.number for p in run.pages] == [1]


def test_204_ends_the_scroll():
    with FakeLens(25, base=MINIMAL_RECORD, announce_total=False) as lens:
        run = Run(lens)
    assert run.error is None and (run.result.pages, run.result.records, run.result.total) == (3, 25, None)
    assert [r.status for r in lens.searches] == [200, 200, 200, 204]
    assert run.lines[-1] == "lens: page 3 · 25 records"


@pytest.mark.parametrize("fault", ["204", "empty"])
def test_scripted_204_and_empty_page_end_early(fault):
    with FakeLens(50, base=MINIMAL_RECORD, faults={3: fault}, announce_total=False) as lens:
        run = Run(lens)
    assert run.error is None and (run.result.pages, run.result.records) == (2, 20)
    assert len(lens.searches) == 3


@pytest.mark.parametrize("fault", ["204", "empty"])
def test_a_scroll_ending_short_of_the_announced_total_is_an_error(fault):
    with FakeLens(50, base=MINIMAL_RECORD, faults={3: fault}) as lens:
        run = Run(lens)
    assert isinstance(run.error, LensError) and run.error.page == 3
    assert str(run.error) == ("Lens.org announced 50 records but the scroll ended after 20 distinct ones (page 3); "
                              "run the query again")
    assert [p.number for p in run.pages] == [1, 2]  # kept for the caller


def test_a_scroll_that_does_not_advance_without_a_total_is_an_error():
    faults = {n: "repeat" for n in range(2, 200)}  # the same scroll_id and records for ever
    with FakeLens(25, base=MINIMAL_RECORD, faults=faults, announce_total=False) as lens:
        run = Run(lens)
    assert isinstance(run.error, LensError) and run.error.page == 2
    assert str(run.error) == ("page 2 repeats records already received: the scroll stopped advancing after 10 distinct "
                              "records (Lens.org gave no total, so they may be incomplete); run the query again")
    assert len(lens.searches) == 2 and [p.number for p in run.pages] == [1]  # kept for the caller
    assert run.records().num_rows == 10
    with FakeLens(25, base=MINIMAL_RECORD, faults=faults) as lens:  # Lens said 25: 10 is not all
        run = Run(lens)
    assert "announced 25 records but the scroll ended after 10 distinct ones (page 2)" in str(run.error)
    assert len(lens.searches) == 2


def test_a_stalled_scroll_beyond_a_too_small_total_is_complete():
    faults = {n: "repeat" for n in range(3, 200)}
    with FakeLens(25, base=MINIMAL_RECORD, faults=faults, claimed_total=5) as lens:
        run = Run(lens)
    assert run.error is None and (run.result.pages, run.result.records, run.result.total) == (2, 20, 5)
    assert len(lens.searches) == 3
    assert run.lines == ["lens: page 1 · 10 records",
                         "lens: note: Lens.org announced 5 records but 10 came; fetching until the scroll ends",
                         "lens: page 2 · 20 records",
                         "lens: stopping at page 3: it repeats records already received; 20 records came, at least "
                         "the 5 Lens.org announced"]


@pytest.mark.parametrize("claimed, total", [
    (True, None), (False, None), ("24", 24), (" 24 ", 24), ({"value": 24}, 24), ({"value": 24, "relation": "eq"}, 24),
    ({"value": "24"}, 24), ({"value": 10, "relation": "gte"}, None), ("lots", None), (24.5, None), ([24], None),
    (-1, None),
])
def test_total_is_read_strictly(claimed, total):
    with FakeLens(24, base=MINIMAL_RECORD, claimed_total=claimed) as lens:
        run = Run(lens)
    assert run.error is None and (run.result.pages, run.result.records, run.result.total) == (3, 24, total)
    assert len(lens.searches) == (3 if total else 4)  # no usable total: on to the 204
    notes = [line for line in run.lines if line.startswith("lens: note")]
    if total:
        assert notes == [] and run.lines[-1] == "lens: page 3 · 24 of 24 records"
    else:
        shown = json.dumps(claimed)
        assert notes == [f"lens: note: Lens.org's `total` is {shown}, not a record count; fetching until the scroll "
                         "ends"]  # once, though every page says it
        assert run.lines[-1] == "lens: page 3 · 24 records"


def test_a_total_smaller_than_what_came_does_not_stop_the_fetch():
    with FakeLens(25, base=MINIMAL_RECORD, claimed_total=12) as lens:
        run = Run(lens)
    assert run.error is None and (run.result.pages, run.result.records) == (3, 25)
    assert [r.status for r in lens.searches] == [200, 200, 200, 204]
    assert run.lines == ["lens: page 1 · 10 of 12 records", "lens: page 2 · 20 records",
                         "lens: note: Lens.org announced 12 records but 20 came; fetching until the scroll ends",
                         "lens: page 3 · 25 records"]


def variants(*numbers: int) -> list[dict]:
    return [lens_variant(MINIMAL_RECORD, i) for i in numbers]


def test_repeated_records_do_not_count_toward_the_total():
    with FakeLens(records=variants(0, 1, 0, 1, 2, 3)) as lens:  # total 6, 4 distinct
        run = Run(lens, query(3))
    assert "announced 6 records but the scroll ended after 4 distinct ones (page 3)" in str(run.error)
    assert [r.status for r in lens.searches] == [200, 200, 204] and run.records().num_rows == 4
    with FakeLens(records=variants(0, 1, 0, 1, 2, 3), announce_total=False) as lens:
        run = Run(lens, query(3))
    assert run.error is None and run.result.records == run.records().num_rows == 4


def unnamed(*numbers: int, drop: tuple[str, ...] = ("lens_id",)) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in drop} for r in variants(*numbers)]


def test_records_without_lens_id_are_told_apart_by_publication_number():
    with FakeLens(records=unnamed(*range(24))) as lens:
        run = Run(lens)
    assert run.error is None and (run.result.pages, run.result.records) == (3, 24)
    assert run.records().num_rows == 24
    with FakeLens(records=unnamed(*range(24)), faults={3: "expired_scroll"}) as lens:  # a restart repeats 20
        run = Run(lens)
    assert run.error is None and (run.result.pages, run.result.records, run.result.restarts) == (5, 24, 1)
    records = run.records()
    assert records.num_rows == 24 and records["source_id"].null_count == 24
    assert records["publication_number"].to_pylist() == [r["jurisdiction"] + r["doc_number"] + r["kind"]
                                                         for r in unnamed(*range(24))]


@pytest.mark.parametrize("lacking, words", [(10, "10 records have"), (1, "1 record has")])
def test_records_with_neither_lens_id_nor_publication_number_are_an_error(lacking, words):
    page = unnamed(*range(lacking), drop=("lens_id", "jurisdiction", "doc_number")) + variants(*range(50, 60 - lacking))
    with FakeLens(records=page + variants(*range(10, 24))) as lens:
        run = Run(lens)
    assert isinstance(run.error, LensError) and run.error.page == 1 and run.pages == []
    assert str(run.error) == f"page 1: {words} no lens_id (nor jurisdiction/doc_number): cannot tell them apart"


def test_max_records_counts_distinct_records_like_lens_records():
    with FakeLens(records=variants(0, 0, 1, 2, 3, 4, 5)) as lens:
        run = Run(lens, query(3, max_records=3))
    assert run.error is None and (run.result.pages, run.result.records, run.result.capped) == (2, 3, True)
    assert run.records(max_records=3)["source_id"].to_pylist() == [lens_id_for(i) for i in range(3)]


def test_a_scroll_trickling_far_beyond_its_pages_is_an_error():
    trickle = [r for k in range(1, 41) for r in variants(k, *[0] * 9)]  # one new record per page of 10
    with FakeLens(records=trickle, claimed_total=50) as lens:
        run = Run(lens, query(10))
    assert run.error is not None and run.error.page == 21  # 50 records: 5 pages, * 2 + 10
    assert "page 21: Lens.org's scroll has not ended after 20 pages, though 50 records fill 5 pages" in str(run.error)
    assert len(run.pages) == 20 and len(lens.searches) == 20


def test_expired_scroll_restarts_the_search_and_records_are_deduplicated():
    with FakeLens(30, base=MINIMAL_RECORD, faults={3: "expired_scroll"}) as lens:
        run = Run(lens)
    assert run.error is None and run.result.restarts == 1
    assert (run.result.pages, run.result.records) == (5, 30)  # 2 pages, then the 3 of the new search
    assert [p.number for p in run.pages] == [1, 2, 3, 4, 5]  # numbers never reused: stored pages stay
    restart = lens.searches[3].body
    assert "scroll_id" not in restart and restart["query"] == {"match": {"title": "antigen"}}
    assert any("scroll expired" in line for line in run.lines)
    records = run.records()
    assert records.num_rows == 30 and pc.count_distinct(records["source_id"]).as_py() == 30
    assert records["source_id"].to_pylist() == [lens_id_for(i) for i in range(30)]


def test_a_scroll_that_keeps_expiring_is_an_error():
    with FakeLens(30, base=MINIMAL_RECORD, faults={2: "expired_scroll", 4: "expired_scroll",
                                                   6: "expired_scroll"}) as lens:
        run = Run(lens)
    assert run.error is not None and "scroll expired 3 times" in str(run.error)
    assert len(lens.searches) == 6


@pytest.mark.parametrize("max_records, sizes, pages, kept", [(12, [10, 10], 2, 12), (7, [7], 1, 7), (25, [10] * 3, 3, 25)])
def test_max_records_caps_the_fetch(max_records, sizes, pages, kept):
    with FakeLens(25, base=MINIMAL_RECORD) as lens:
        run = Run(lens, query(10, max_records))
    assert [r.body["size"] for r in lens.searches] == sizes
    assert run.result.pages == pages and run.result.capped is (max_records < 25)
    records = run.records(max_records=max_records)
    assert records.num_rows == kept
    assert records["source_id"].to_pylist() == [lens_id_for(i) for i in range(kept)]


def test_fake_projects_include_like_lens():
    base = lens_example_record()
    with FakeLens(3) as lens:
        run = Run(lens, query(10))
    record = json.loads(run.pages[0].body)["data"][0]
    assert "claims" not in record and "description" not in record and "abstract" not in record
    assert set(record["biblio"]) <= {"invention_title", "parties", "classifications_ipcr", "classifications_cpc",
                                     "priority_claims", "cited_by"}
    assert record["biblio"]["cited_by"] == {"patent_count": base["biblio"]["cited_by"]["patent_count"]}


def test_documented_example_record_normalises_exactly():
    body = json.dumps(lens_example_response()).encode()
    records = lens_records([body])
    assert records.schema == RECORDS_SCHEMA and records.num_rows == 1
    row = records.to_pylist()[0]
    assert row["publication_number"] == "EP2471949A1"
    assert (row["jurisdiction"], row["doc_number"], row["kind"]) == ("EP", "2471949", "A1")
    assert row["publication_date"] == dt.date(2012, 7, 4)
    assert row["earliest_priority_date"] == dt.date(2010, 12, 31)
    assert row["family_earliest_publication_date"] == dt.date(2012, 7, 4)
    assert row["title"].startswith("Method for the identification by molecular techniques")
    assert (row["title_language"], row["language"]) == ("en", "en")
    assert (row["applicants"], row["applicant_countries"]) == (["PROGENIKA BIOPHARMA SA"], ["ES"])
    assert row["inventors"][0] == "OCHOA JORGE" and row["inventor_countries"] == ["ES"] * 5
    assert (row["ipc"], row["cpc"]) == (["C12Q1/68"], ["C12Q1/6881", "C12Q2600/156", "A61K35/14"])
    assert row["priority_countries"] == ["EP"]
    assert (row["family_id"], row["family_size"]) == ("212482337", 5)
    assert (row["legal_status"], row["cited_by_count"]) == ("active", 5)
    assert (row["source"], row["source_id"]) == ("lens", "031-156-664-516-153")
    german = lens_records([body], title_language="de").to_pylist()[0]
    assert german["title"].startswith("Verfahren") and german["title_language"] == "de"
    for other in ("xx", "zz", ""):  # absent: the record's own language (en), not the first title (de)
        row = lens_records([body], title_language=other).to_pylist()[0]
        assert row["title"].startswith("Method for the identification") and row["title_language"] == "en"


@pytest.mark.parametrize("lang, language, title, title_language", [
    ("De", "zz", "Verfahren", "de"), ("FR", "de", "Verfahren", "de"), ("fr", "Fr", "Titre", "fr"),
    (None, "zz", "Method", "en"), ("ja", "zz", "Method", "en"), ("ja", "EN", "Method", "en"),
])
def test_title_falls_back_to_the_records_language_then_english(lang, language, title, title_language):
    record = dict(MINIMAL_RECORD, lang=lang, biblio=dict(MINIMAL_RECORD["biblio"], invention_title=[
        {"text": "Titre", "lang": "FR"}, {"text": "Verfahren", "lang": "de"}, {"text": "Method", "lang": "EN"}]))
    row = lens_records([page_of(record)], title_language=language).to_pylist()[0]
    assert (row["title"], row["title_language"]) == (title, title_language)
    no_english = dict(record, biblio=dict(record["biblio"], invention_title=record["biblio"]["invention_title"][:2]))
    row = lens_records([page_of(dict(no_english, lang="ja"))], title_language="zz").to_pylist()[0]
    assert (row["title"], row["title_language"]) == ("Titre", "fr")  # else the first


def test_fetched_variants_normalise_with_checkable_counts():
    with FakeLens(21) as lens:
        run = Run(lens, query(10))
    records = run.records()
    assert records.num_rows == 21
    assert pc.count_distinct(records["family_id"]).as_py() == expected_families(21)
    assert records["publication_number"][0].as_py() == "EP2471949A1"
    assert records["publication_number"][1].as_py() == "US3000001A1"
    assert records["applicants"][8].as_py() == ["APPLICANT 01"]
    assert records["family_earliest_publication_date"][2].as_py() == dt.date(2001, 2, 2)  # its elder sibling's


def test_missing_fields_are_null_or_empty_and_family_id_falls_back_to_members():
    bare = {"lens_id": "111-222-333-444-555", "jurisdiction": "US", "doc_number": "123", "date_published": "2020-01-02",
            "biblio": {"invention_title": [{"text": "Sans langue"}],
                       "parties": {"applicants": [{"extracted_name": {"value": " ACME "}}, {"residence": "US"}]},
                       "priority_claims": {"claims": [{"jurisdiction": "US", "date": "2019-05-01"},
                                                      {"jurisdiction": "JP", "date": "2018-05-01"}]}},
            "families": {"simple_family": {"members": [{"lens_id": "999-0", "document_id": {"date": "2019-12-01"}},
                                                       {"lens_id": "111-222-333-444-555"}]}}}
    nothing_else = {"lens_id": "1", "jurisdiction": "US", "doc_number": "1"}
    row = lens_records([json.dumps({"data": [bare, nothing_else]}).encode()]).to_pylist()[0]
    assert row["publication_number"] == "US123" and row["kind"] == ""
    assert (row["title"], row["title_language"], row["language"]) == ("Sans langue", "", None)
    assert (row["applicants"], row["applicant_countries"]) == (["ACME"], [""])
    assert row["inventors"] == [] and row["ipc"] == [] and row["cited_by_count"] is None
    assert row["priority_countries"] == ["US", "JP"] and row["earliest_priority_date"] == dt.date(2018, 5, 1)
    assert (row["family_id"], row["family_size"]) == ("lens:111-222-333-444-555", 2)
    assert row["family_earliest_publication_date"] == dt.date(2019, 12, 1)
    assert row["legal_status"] == ""


def test_arrow_reader_and_json_loads_give_the_same_records():
    example = lens_example_response()
    bare = {"lens_id": "1", "jurisdiction": "US", "doc_number": "1"}
    pages = [json.dumps(example, indent=4).encode(), json.dumps({"data": [MINIMAL_RECORD, bare]}).encode()]
    for body in pages:
        assert _page_records(body, 1).equals(pa.array(json.loads(body)["data"], type=LENS_RECORD_TYPE))
    assert lens_records(pages).equals(lens_records([json.dumps(json.loads(b)).encode() for b in pages]))


def page_of(*records: dict) -> bytes:
    return json.dumps({"data": list(records)}).encode()


def test_numbers_as_text_and_text_as_numbers_are_accepted():
    record = copy.deepcopy(MINIMAL_RECORD)
    record["families"]["simple_family"].update(family_id="123", size="2")
    record["biblio"]["cited_by"]["patent_count"] = " 5 "
    record["doc_number"] = 1000000  # a number where text is expected
    records = lens_records([page_of(lens_variant(MINIMAL_RECORD, 1)), page_of(record)])
    rows = records.to_pylist()
    assert (rows[1]["family_id"], rows[1]["family_size"], rows[1]["cited_by_count"]) == ("123", 2, 5)
    assert rows[1]["publication_number"] == "EP1000000A1" and rows[0]["family_id"] == "900000001"


@pytest.mark.parametrize("where, value, words", [
    (("families", "simple_family", "family_id"), "not a number",
     '`families.simple_family.family_id` is "not a number", expected a whole number'),
    (("biblio", "cited_by", "patent_count"), 2.5, "`biblio.cited_by.patent_count` is 2.5, expected a whole number"),
    (("biblio", "parties", "applicants"), {"name": "X"}, "`biblio.parties.applicants` is {\"name\": \"X\"}, expected a list"),
    (("lang",), True, "`lang` is true, expected text"),
    (("families", "simple_family", "family_id"), 2 ** 64,
     "`families.simple_family.family_id` is 18446744073709551616, expected a whole number of at most 64 bits"),
    (("families", "simple_family", "family_id"), "-9223372036854775809",
     '`families.simple_family.family_id` is "-9223372036854775809", expected a whole number of at most 64 bits'),
])
def test_an_unusable_value_names_page_record_and_field(where, value, words):
    record = copy.deepcopy(MINIMAL_RECORD)
    parent = record
    for key in where[:-1]:
        parent = parent[key]
    parent[where[-1]] = value
    with pytest.raises(LensError) as caught:
        lens_records([page_of(MINIMAL_RECORD), page_of(lens_variant(MINIMAL_RECORD, 1), record)])
    assert str(caught.value) == f"page 2: Lens record {MINIMAL_RECORD['lens_id']}: {words}"
    assert caught.value.page == 2
    members = copy.deepcopy(MINIMAL_RECORD)
    members["families"]["simple_family"]["members"][0]["document_id"] = "EP1"
    with pytest.raises(LensError, match=r"`families.simple_family.members\[0\].document_id` is \"EP1\", expected an"):
        lens_records([page_of(members)])


def test_records_without_a_publication_number_are_an_error_naming_them():
    lacking = [dict(lens_variant(MINIMAL_RECORD, i), jurisdiction=None) for i in range(1, 13)]
    lacking[0] = {k: v for k, v in lacking[0].items() if k not in ("jurisdiction", "doc_number")}
    with pytest.raises(LensError) as caught:
        lens_records([page_of(MINIMAL_RECORD, *lacking)])
    message = str(caught.value)
    assert message.startswith("12 of 13 Lens records cannot be used: 12 with no `jurisdiction` (")
    assert ", ".join(lens_id_for(i) for i in range(1, 11)) + " and 2 more)" in message
    assert f"1 with no `doc_number` ({lens_id_for(1)})" in message


@pytest.mark.parametrize("date", ["2020", "2021-13-45", 2020, "04/03/2015"])
def test_dates_not_in_iso_form_are_an_error_naming_record_and_field(date):
    record = dict(lens_variant(MINIMAL_RECORD, 1), date_published=date)
    with pytest.raises(LensError, match=rf"1 of 2 Lens records cannot be used: 1 with `date_published` not a "
                                        rf"YYYY-MM-DD date \({lens_id_for(1)}\)"):
        lens_records([page_of(MINIMAL_RECORD, record)])
    member = copy.deepcopy(MINIMAL_RECORD)
    member["families"]["simple_family"]["members"][0]["document_id"]["date"] = date
    with pytest.raises(LensError, match=r"`families.simple_family.members.document_id.date` not a YYYY-MM-DD"):
        lens_records([page_of(member)])


def test_absent_dates_are_fine_and_records_cut_away_are_not_checked():
    record = dict(lens_variant(MINIMAL_RECORD, 1), date_published=None)
    record["biblio"] = {}
    assert lens_records([page_of(record)])["publication_date"].to_pylist() == [None]
    bad = dict(lens_variant(MINIMAL_RECORD, 2), date_published="2020")
    assert lens_records([page_of(MINIMAL_RECORD, record, bad)], max_records=2).num_rows == 2
    assert lens_records([page_of(MINIMAL_RECORD, MINIMAL_RECORD)]).num_rows == 1  # a repeat is dropped first


def test_lens_records_of_nothing_and_of_a_corrupt_page():
    assert lens_records([]).schema == RECORDS_SCHEMA
    assert lens_records([b'{"total": 0, "data": []}']).num_rows == 0
    with pytest.raises(LensError, match="page 2: .*not valid JSON"):
        lens_records([json.dumps({"data": [MINIMAL_RECORD]}).encode(), b"{oops"])


def test_read_lens_query_defaults_and_include(tmp_path):
    q = read_lens_query(write_query(tmp_path, "solar", query="title:solar", include=[" abstract", "lens_id ", "abstract"]))
    assert (q.name, q.query, q.max_records, q.page_size) == ("solar", "title:solar", None, 1000)
    assert q.include == DEFAULT_INCLUDE + ["abstract"]  # the fields the records table needs stay
    q = read_lens_query(write_query(tmp_path, "capped", max_records=500, page_size=100))
    assert (q.max_records, q.page_size, q.include) == (500, 100, DEFAULT_INCLUDE)


@pytest.mark.parametrize("doc, words", [
    ({"query": "x"}, "`name`: required"),
    ({"name": "q"}, "`query`: required"),
    ({"name": "q", "query": {}}, "`query`: expected a non-empty object or string"),
    ({"name": "q", "query": "x", "max_records": 0}, "`max_records`: expected a positive whole number, got 0"),
    ({"name": "q", "query": "x", "max_records": "10"}, "`max_records`: expected a positive whole number, got '10'"),
    ({"name": "q", "query": "x", "max_records": True}, "`max_records`"),
    ({"name": "q", "query": "x", "page_size": 5000}, "`page_size`: expected a whole number from 1 to 1000"),
    ({"name": "q", "query": "x", "include": "abstract"}, "`include`: expected a list"),
    ({"name": "q", "query": "x", "include": ["abstract", 3]}, "`include`: expected a list"),
    ({"name": "q", "query": "x", "include": ["abstract", "  "]},
     '`include`: entry 2 is empty; remove it or give a field path such as "abstract"'),
    ({"name": "q", "query": "x", "max_record": 10}, "unknown field `max_record`"),
    ([1, 2], "must be a JSON object"),
])
def test_read_lens_query_errors_name_the_field(tmp_path, doc, words):
    path = tmp_path / "bad.lens.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(InvalidSourceError) as caught:
        read_lens_query(path)
    assert caught.value.kind == "Lens query file" and caught.value.path == str(path)
    assert any(words in p for p in caught.value.problems), caught.value.problems


def test_read_lens_query_accepts_a_utf8_bom(tmp_path):
    path = tmp_path / "notepad.lens.json"
    path.write_text(json.dumps({"name": "café", "query": "title:solar"}), encoding="utf-8-sig")
    assert read_lens_query(path).name == "café"


def test_read_lens_query_bad_json_gives_line_and_column(tmp_path):
    path = tmp_path / "bad.lens.json"
    path.write_text('{\n  "name": "q",\n  "query": "x",\n}\n')  # a trailing comma
    with pytest.raises(InvalidSourceError, match=r"not valid JSON: .* at line 4, column 1"):
        read_lens_query(path)
    with pytest.raises(InvalidSourceError, match="cannot be read"):
        read_lens_query(tmp_path / "missing.lens.json")


def test_bad_base_url_is_refused_up_front():
    with pytest.raises(LensError, match="LENS_API_URL"):
        LensClient(TOKEN, "api.lens.org")


def test_include_is_sent_stripped():
    q = LensQuery("q", "title:x", [" lens_id", "jurisdiction ", "lens_id", "", *DEFAULT_INCLUDE[2:], " abstract "], None,
                  10)
    with FakeLens(15, base=MINIMAL_RECORD) as lens:
        run = Run(lens, q)
    assert run.error is None
    assert all(r.body["include"] == DEFAULT_INCLUDE + ["abstract"] for r in lens.searches)


ROUTINE = re.compile(r"lens: page \d+ · [\d,]+( of [\d,]+)? records")
KEYED = ("lens: waiting ", "lens: retrying ", "lens: restarting ", "lens: stopping ", "lens: note: ")


def test_progress_lines_other_than_the_routine_page_line_can_be_told_apart():
    faults = {1: ("status", 429, {RETRY_HEADER: "2"}), 2: 503, 4: "expired_scroll", **{n: "repeat" for n in range(8, 99)}}
    with FakeLens(40, base=MINIMAL_RECORD, faults=faults, claimed_total="many") as lens:
        run = Run(lens)
    assert "repeats records already received" in str(run.error)  # no usable total: a stall is an error
    routine = [line for line in run.lines if line.startswith("lens: page")]
    others = [line for line in run.lines if not line.startswith("lens: page")]
    assert routine and all(ROUTINE.fullmatch(line) for line in routine)
    assert [next(k for k in KEYED if line.startswith(k)) for line in others] == [
        "lens: waiting ", "lens: retrying ", "lens: note: ", "lens: restarting "]
    with FakeLens(25, base=MINIMAL_RECORD, faults={n: "repeat" for n in range(3, 99)}, claimed_total=5) as lens:
        run = Run(lens)
    assert run.error is None and run.lines[-1].startswith("lens: stopping at page 3: ")
