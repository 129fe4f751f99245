"""Record-level sources end to end, as a user runs them: `intelli run` on Espacenet results
lists (CSV, XLSX) and on a Lens query file against a real HTTP stand-in for Lens; the facets
every chart reads are counted by family, checked against counts made independently here."""

from __future__ import annotations

import json
import signal
from collections import Counter
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from intelli_assets.charts import CHARTS
from intelli_assets.sample_records import (
    SampleFamily,
    lens_records_of,
    sample_families,
    write_results_list_csv,
    write_results_list_xlsx,
)
from intelli_assets_tests.fake_lens import FakeLens, write_query
from intelli_assets_tests.test_cli import instance_state, intelli
from intelli_assets_tests.test_run_hardening import start_intelli
from intelli_assets_tests.waiting import wait_for

TOKEN = "lens-secret-4b1d9e77c0"


def expected_facets(families: list[SampleFamily]) -> dict[str, dict[str, int]]:
    """Family counts the plain way: a family counts once per value it has."""
    counts: dict[str, Counter] = {name: Counter() for name in (
        "countries", "applicants", "inventors", "applicant_countries", "cpc_subgroups", "cpc_main_groups",
        "publication_year", "priority_year")}
    for f in families:
        for name, values in (
            ("countries", {p.jurisdiction for p in f.publications}),
            ("applicants", {n for n, _ in f.applicants}),
            ("inventors", {n for n, _ in f.inventors}),
            ("applicant_countries", {cc for _, cc in f.applicants}),
            ("cpc_subgroups", set(f.cpc)),
            ("cpc_main_groups", {c.split("/")[0] for c in f.cpc}),
            ("publication_year", {str(min(p.date for p in f.publications).year)}),
            ("priority_year", {str(f.priority.year)}),
        ):
            counts[name].update(values)
    return {name: dict(c) for name, c in counts.items()}


def dataset_dir(home: Path, partition: str) -> Path:
    return home / "artifacts" / partition / "dataset"


def facets_by_name(home: Path, partition: str) -> dict[str, dict[str, int]]:
    facets = pd.read_parquet(dataset_dir(home, partition) / "facets.parquet")
    return {name: dict(zip(rows["value"], rows["count"].astype(int), strict=True))
            for name, rows in facets.groupby("facet")}


@pytest.fixture(scope="module")
def families() -> list[SampleFamily]:
    return sample_families(150, seed=11)


@pytest.mark.parametrize("writer", [write_results_list_csv, write_results_list_xlsx], ids=["csv", "xlsx"])
def test_a_results_list_gives_exact_family_counts_and_all_eight_charts(writer, families, tmp_path):
    home = tmp_path / "home"
    source = writer(tmp_path / f"soil-search.{'csv' if writer is write_results_list_csv else 'xlsx'}", families)
    proc = intelli("run", str(source), "--json", home=home)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["status"] == "success", report["errors"]
    assert set(report["charts"]) == set(CHARTS) and all(c["status"] == "success" for c in report["charts"].values())
    assert report["partition"].startswith("soil-search-")

    facets = facets_by_name(home, report["partition"])
    expected = expected_facets(families)
    for name, counts in expected.items():
        assert facets[name] == counts, name
    assert sum(facets["publication_year"].values()) == len(families)  # each family once

    records = pq.read_table(dataset_dir(home, report["partition"]) / "records.parquet")
    assert records.num_rows == sum(len(f.publications) for f in families)  # one row per publication
    manifest = json.loads((dataset_dir(home, report["partition"]) / "manifest.json").read_text())
    assert manifest["source_type"] == "espacenet_results_list"
    assert manifest["records"]["families"] == len(families)
    assert manifest["records"]["publications"] == records.num_rows

    chart = json.loads(Path(report["charts"]["top_patent_countries"]["files"]["chart_data"]).read_text())
    shown = dict(zip(chart["series"][0]["labels"], chart["series"][0]["data"], strict=True))
    for country, count in shown.items():
        if country in expected["countries"]:  # the highlight and "Others" are the chart's own
            assert count == expected["countries"][country]


def test_validate_tells_the_three_kinds_apart(families, tmp_path, sample_workbook):
    csv_path = write_results_list_csv(tmp_path / "list.csv", families[:20])
    out = intelli("validate", str(csv_path), home=tmp_path / "home")
    assert out.returncode == 0, out.stderr
    assert "valid Espacenet results list" in out.stdout and "20 rows" in out.stdout
    filters = intelli("validate", str(sample_workbook), home=tmp_path / "home")
    assert filters.returncode == 0 and "valid Espacenet Filters workbook" in filters.stdout
    other = tmp_path / "notes.csv"
    other.write_text("a;b\n1;2\n")
    bad = intelli("validate", str(other), "--json", home=tmp_path / "home")
    assert bad.returncode == 2
    assert "not an Espacenet results list" in json.loads(bad.stdout)["problems"][0]
    plain_json = tmp_path / "query.json"
    plain_json.write_text("{}")
    renamed = intelli("validate", str(plain_json), home=tmp_path / "home")
    assert renamed.returncode == 2 and "NAME.lens.json" in renamed.stderr


def test_duplicate_publication_numbers_are_refused_before_anything_is_added(families, tmp_path):
    twice = [families[0], families[1], families[0]]  # one family listed twice
    source = write_results_list_csv(tmp_path / "twice.csv", twice)
    home = tmp_path / "home"
    proc = intelli("run", str(source), "--json", home=home)
    assert proc.returncode == 2
    numbers = sorted(p.number for p in families[0].publications)
    assert f"no_duplicate_publication_numbers: {len(numbers) * 2} records share a publication number, e.g. " \
           f"{numbers[0]} (line 8, line " in proc.stderr, proc.stderr  # where both copies are
    assert instance_state(home)["partitions"] == []
    assert intelli("validate", str(source), home=home).returncode == 2


def test_a_blocking_record_check_stops_the_charts_of_a_lens_dataset(families, tmp_path, monkeypatch):
    """Lens ids are unique, yet two of them may carry one publication number: the check stops it."""
    records = list(lens_records_of(families[:10]))
    records.append(dict(records[0], lens_id="999-999-999-999-999"))
    with FakeLens(records=records, token=TOKEN) as lens:
        monkeypatch.setenv("LENS_API_URL", lens.url)
        monkeypatch.setenv("LENS_API_TOKEN", TOKEN)
        proc = intelli("run", str(write_query(tmp_path, "dupes")), "--json", home=tmp_path / "home")
    assert proc.returncode == 1
    report = json.loads(proc.stdout)
    assert all(c["status"] == "skipped" for c in report["charts"].values())
    (error,) = [e for e in report["errors"] if e.startswith("patent_dataset")]
    assert "no_duplicate_publication_numbers: 2 records share a publication number" in error, error
    assert records[0]["lens_id"] in error and "999-999-999-999-999" in error


def files_containing(folder: Path, needle: bytes) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_a_lens_query_fetched_twice_keeps_both_fetches_and_counts_families(families, tmp_path, monkeypatch):
    home = tmp_path / "home"
    publications = sum(len(f.publications) for f in families)
    with FakeLens(records=list(lens_records_of(families)), token=TOKEN, max_size=100) as lens:
        monkeypatch.setenv("LENS_API_URL", lens.url)
        monkeypatch.setenv("LENS_API_TOKEN", TOKEN)
        query = write_query(tmp_path, "soil lens", page_size=100)
        first = intelli("run", str(query), home=home)
        assert first.returncode == 0, first.stderr
        assert "lens: page 1" in first.stderr  # the progress line
        proc = intelli("run", str(query), "--json", home=home)  # fetching again: a new materialization
        assert proc.returncode == 0, proc.stderr
        report = json.loads(proc.stdout)
        searches = lens.searches
    assert report["status"] == "success" and all(c["status"] == "success" for c in report["charts"].values())
    key = report["partition"]
    assert key.startswith("soil-lens-")
    assert all(r.headers.get("authorization") == f"Bearer {TOKEN}" for r in searches)

    fetches = sorted((home / "artifacts" / key / "raw" / "fetches").iterdir())
    assert len(fetches) == 2  # history kept
    for fetch in fetches:
        assert len(list(fetch.glob("page-*.json"))) == -(-publications // 100)
        assert json.loads((fetch / "fetch.json").read_text())["records"] == publications
    assert instance_state(home)["partitions"] == [key]  # the same query is the same dataset

    facets = facets_by_name(home, key)
    for name, counts in expected_facets(families).items():
        assert facets[name] == counts, name
    records = pq.read_table(dataset_dir(home, key) / "records.parquet")
    assert records.num_rows == publications and set(records["source"].to_pylist()) == {"lens"}
    assert not files_containing(home, TOKEN.encode())  # not in artifacts, logs or the event storage
    assert TOKEN not in first.stdout + first.stderr + proc.stdout + proc.stderr


def test_a_fetch_that_fails_half_way_keeps_its_pages_and_the_earlier_dataset(families, tmp_path, monkeypatch):
    home = tmp_path / "home"
    with FakeLens(records=list(lens_records_of(families)), token=TOKEN, max_size=100) as lens:
        monkeypatch.setenv("LENS_API_URL", lens.url)
        monkeypatch.setenv("LENS_API_TOKEN", TOKEN)
        query = write_query(tmp_path, "halfway", page_size=100)
        good = intelli("run", str(query), "--json", "--charts", "top_patent_countries", home=home)
        assert good.returncode == 0, good.stderr
        key = json.loads(good.stdout)["partition"]
        manifest_before = (dataset_dir(home, key) / "manifest.json").read_bytes()
        lens.faults[len(lens.requests) + 3] = "malformed"  # the next fetch's third page
        bad = intelli("run", str(query), "--json", "--charts", "top_patent_countries", home=home)
    assert bad.returncode == 1
    report = json.loads(bad.stdout)
    assert report["status"] == "failed"
    (error,) = [e for e in report["errors"] if e.startswith("raw_source")]
    assert "page 3" in error and "2 page(s) that came are kept" in error, error
    fetches = sorted((home / "artifacts" / key / "raw" / "fetches").iterdir())
    assert len(fetches) == 2
    assert sorted(p.name for p in fetches[1].glob("page-*.json")) == ["page-00001.json", "page-00002.json"]
    assert json.loads((fetches[1] / "fetch.json").read_text())["status"] == "failed"
    assert (dataset_dir(home, key) / "manifest.json").read_bytes() == manifest_before  # the good dataset stays
    assert json.loads((home / "artifacts" / key / "raw" / "latest-fetch.json").read_text())["fetch_id"] == fetches[0].name


def test_lens_token_problems_are_clear_and_never_leak(tmp_path, monkeypatch):
    home = tmp_path / "home"
    query = write_query(tmp_path, "tokens")
    monkeypatch.delenv("LENS_API_TOKEN", raising=False)
    missing = intelli("run", str(query), home=home)
    assert missing.returncode == 2 and "set LENS_API_TOKEN" in missing.stderr
    assert instance_state(home)["partitions"] == []  # nothing added
    wrong = "wrong-token-91c2aa"
    with FakeLens(records=list(lens_records_of(sample_families(5))), token=TOKEN) as lens:
        monkeypatch.setenv("LENS_API_URL", lens.url)
        monkeypatch.setenv("LENS_API_TOKEN", wrong)
        rejected = intelli("run", str(query), "--json", home=home)
    assert rejected.returncode == 1
    errors = " ".join(json.loads(rejected.stdout)["errors"])
    assert "LENS_API_TOKEN" in errors, errors
    assert wrong not in rejected.stdout + rejected.stderr and not files_containing(home, wrong.encode())


def test_the_readme_documents_the_records_schema_as_declared():
    from intelli_assets.records import records_schema_markdown
    from intelli_assets_tests.conftest import PROJECT_ROOT

    assert records_schema_markdown() in (PROJECT_ROOT / "README.md").read_text()


def test_the_documented_lens_record_with_a_title_language_choice(tmp_path, monkeypatch):
    """Records built from Lens's own documented example (skipped without ../shared/data)."""
    home = tmp_path / "home"
    with FakeLens(total=9, token=TOKEN) as lens:  # record 0 is the documented example itself
        monkeypatch.setenv("LENS_API_URL", lens.url)
        monkeypatch.setenv("LENS_API_TOKEN", TOKEN)
        query = write_query(tmp_path, "antigen")
        bad = intelli("run", str(query), "--title-language", "german", home=home)
        assert bad.returncode == 2 and "two-letter language code" in bad.stderr
        proc = intelli("run", str(query), "--title-language", "de", "--charts", "top_patent_countries", "--json",
                       home=home)
    assert proc.returncode == 0, proc.stderr
    key = json.loads(proc.stdout)["partition"]
    records = pq.read_table(dataset_dir(home, key) / "records.parquet").to_pylist()
    example = next(r for r in records if r["publication_number"] == "EP2471949A1")
    assert example["title_language"] == "de" and example["title"].startswith("Verfahren zur Identifizierung")
    assert example["applicants"] == ["PROGENIKA BIOPHARMA SA"] and example["applicant_countries"] == ["ES"]
    assert example["family_id"] == "212482337" and example["legal_status"] == "active"
    assert str(example["family_earliest_publication_date"]) == "2012-07-04"


def test_ctrl_c_during_a_lens_fetch_stops_it_at_the_next_page_and_keeps_what_came(families, tmp_path, monkeypatch):
    home = tmp_path / "home"
    with FakeLens(records=list(lens_records_of(families)), token=TOKEN, max_size=20, page_delay=0.5) as lens:
        monkeypatch.setenv("LENS_API_URL", lens.url)
        monkeypatch.setenv("LENS_API_TOKEN", TOKEN)
        query = write_query(tmp_path, "slow", page_size=20)
        proc = start_intelli("run", str(query), "--json", home=home)
        pages = lambda: list((home / "artifacts").glob("*/raw/fetches/*/page-*.json"))  # noqa: E731
        wait_for(lambda: len(pages()) >= 2, timeout=120, message="no pages came")
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 130, err
        assert json.loads(out)["status"] == "cancelled"
        (fetch,) = {p.parent for p in pages()}
        summary = json.loads((fetch / "fetch.json").read_text())
        assert summary["status"] == "cancelled" and summary["pages"] == len(pages()) < 19  # not fetched to the end
        assert not (fetch.parent.parent / "latest-fetch.json").exists()  # never read as complete
        assert not list((home / "artifacts").glob("*/dataset/manifest.json"))
        lens.page_delay = 0
        again = intelli("run", str(query), "--json", "--charts", "top_patent_countries", home=home)
    assert again.returncode == 0, again.stderr
