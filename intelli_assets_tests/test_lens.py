"""The Lens.org connector: the real httpx client against a real fake server (fake_lens), with
`sleep` recorded instead of slept; query files; normalisation to the records table."""

from __future__ import annotations

import datetime as dt
import json

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
    write_query,
)

TOKEN = "s3cret-T0ken-value-4242"
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


def test_scripted_204_and_empty_page_end_early():
    for fault in ("204", "empty"):
        with FakeLens(50, base=MINIMAL_RECORD, faults={3: fault}) as lens:
            run = Run(lens)
        assert run.error is None and (run.result.pages, run.result.records) == (2, 20), fault
        assert len(lens.searches) == 3


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
    assert lens_records([body], title_language="xx").to_pylist()[0]["title_language"] == "de"  # else the first


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
    row = lens_records([json.dumps({"data": [bare, {}]}).encode()]).to_pylist()[0]
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
    pages = [json.dumps(example, indent=4).encode(), json.dumps({"data": [MINIMAL_RECORD, {}]}).encode()]
    for body in pages:
        assert _page_records(body, 1).equals(pa.array(json.loads(body)["data"], type=LENS_RECORD_TYPE))
    assert lens_records(pages).equals(lens_records([json.dumps(json.loads(b)).encode() for b in pages]))


def test_a_record_of_unexpected_shape_names_the_page():
    odd = {"data": [{"lens_id": "1", "families": {"simple_family": {"family_id": "not a number"}}}]}
    with pytest.raises(LensError, match="page 1: a Lens record has an unexpected value"):
        lens_records([json.dumps(odd).encode()])


def test_lens_records_of_nothing_and_of_a_corrupt_page():
    assert lens_records([]).schema == RECORDS_SCHEMA
    assert lens_records([b'{"total": 0, "data": []}']).num_rows == 0
    with pytest.raises(LensError, match="page 2: .*not valid JSON"):
        lens_records([json.dumps({"data": [MINIMAL_RECORD]}).encode(), b"{oops"])


def test_read_lens_query_defaults_and_include(tmp_path):
    q = read_lens_query(write_query(tmp_path, "solar", query="title:solar", include=["abstract", "lens_id"]))
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
