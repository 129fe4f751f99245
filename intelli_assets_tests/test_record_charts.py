"""The record-level charts and the map: exact counts against independent counting (families
or publications, as each chart says), the one-sentence failure on a Filters workbook, the map
of a Filters workbook with EP and WO beside it, real renders in Chromium, and no request to
any host but the package's own files when a map is drawn (renderer page and HTML)."""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from pathlib import Path

import jsonschema
import pytest

from intelli_assets.charts import CHARTS, RecordsRequiredError, chart_data_schema, charts_fed_by, get_chart
from intelli_assets.charts.worldmap import outlined_countries
from intelli_assets.rendering import PACKAGE_PLOTLY_JS, FigureRenderer, figure_html
from intelli_assets.rendering.browser import ChromiumPipe
from intelli_assets.rendering.renderer import TOPOJSON_URL
from intelli_assets.style import Style
from intelli_assets_tests.record_families import GROUP, Fam, dataset_of, realistic_families
from intelli_assets_tests.waiting import wait_for

RECORD_CHARTS = sorted(k for k, spec in CHARTS.items() if spec.needs_records)


@pytest.fixture(scope="module")
def families() -> list[Fam]:
    return realistic_families()


@pytest.fixture(scope="module")
def dataset(families):
    return dataset_of(families)


def run(key: str, dataset, language: str = "en", **params) -> dict:
    chart = get_chart(key).run(dataset, params, Style(language=language))
    jsonschema.validate(chart.chart_data, chart_data_schema(key))
    return chart.chart_data


def ranked(counter: Counter) -> list[str]:
    return sorted(counter, key=lambda v: (-counter[v], v))


def test_the_registry_has_the_seven_new_charts_and_what_a_filters_workbook_feeds():
    assert RECORD_CHARTS == ["applicant_year_heatmap", "family_size_distribution", "legal_status_by_year",
                             "most_cited_families", "priority_flows", "technology_jurisdiction_matrix"]
    assert not CHARTS["jurisdiction_map"].needs_records and len(CHARTS) == 15
    assert charts_fed_by(CHARTS, has_records=False) == [k for k in CHARTS if k not in RECORD_CHARTS]
    assert charts_fed_by(CHARTS, has_records=True) == list(CHARTS)


def test_applicant_year_heatmap_counts_each_family_once_per_applicant_in_its_first_filing_year(families, dataset):
    data = run("applicant_year_heatmap", dataset, top_n=12)
    per_applicant = Counter(a for f in families for a in set(f.applicants))
    top = ranked(per_applicant)[:12]
    cells = Counter((a, f.first_filing_year) for f in families for a in set(f.applicants) if a in top)
    years = sorted({y for _, y in cells})
    assert data["counting"] == "families" and data["applicants"] == top
    assert data["applicant_families"] == [per_applicant[a] for a in top]
    assert data["years"] == list(range(max(years[0], years[-1] - 24), years[-1] + 1))
    assert data["z"] == [[cells[(a, y)] for y in data["years"]] for a in top]
    by_publication = {f.key for f in families if f.priority_date is None and set(f.applicants) & set(top)}
    assert data["families_dated_by_publication"] == len(by_publication) == 1  # one of the two without a priority date
    assert "AT&T <LABS> INC" in top and "At&T <Labs> Inc" in data["labels"]  # shown as text, never as markup


def test_technology_jurisdiction_matrix_counts_families_per_subclass_and_office(families, dataset):
    data = run("technology_jurisdiction_matrix", dataset)
    techs = Counter(s for f in families for s in f.cpc_subclasses)
    offices = Counter(j for f in families for j in f.jurisdictions)
    assert data["counting"] == "families"
    assert data["technologies"] == ranked(techs)[:15] and data["jurisdictions"] == ranked(offices)[:12]
    assert data["technology_families"] == [techs[t] for t in data["technologies"]]
    expected = [[sum(1 for f in families if t in f.cpc_subclasses and j in f.jurisdictions)
                 for j in data["jurisdictions"]] for t in data["technologies"]]
    assert data["z"] == expected and data["families_with_cpc"] == len(families)


def test_priority_flows_link_families_from_priority_country_to_filing_jurisdiction(families, dataset):
    data = run("priority_flows", dataset, top_n=5, top_jurisdictions=6)
    with_priority = [f for f in families if f.priority_countries]
    top_left = ranked(Counter(c for f in with_priority for c in set(f.priority_countries)))[:5]
    top_right = ranked(Counter(j for f in with_priority for j in f.jurisdictions))[:6]
    links: Counter = Counter()
    left: dict[str, set] = defaultdict(set)
    right: dict[str, set] = defaultdict(set)
    for f in with_priority:
        sources = {c if c in top_left else "Others" for c in f.priority_countries}
        targets = {j if j in top_right else "Others" for j in f.jurisdictions}
        links.update({(s, t) for s in sources for t in targets})
        for s in sources:
            left[s].add(f.key)
        for t in targets:
            right[t].add(f.key)
    assert data["counting"] == "families" and data["has_priority_data"]
    assert {(link["source"], link["target"]): link["families"] for link in data["links"]} == dict(links)
    assert [s["code"] for s in data["sources"]] == [*top_left, "Others"]
    assert {s["code"]: s["families"] for s in data["sources"]} == {k: len(v) for k, v in left.items()}
    assert {t["code"]: t["families"] for t in data["targets"]} == {k: len(v) for k, v in right.items()}
    assert data["families_without_priority"] == 2 and data["families"] == len(families)


def test_priority_flows_say_so_when_the_source_names_no_priority_country(families):
    data = run("priority_flows", dataset_of(families, with_priorities=False))
    assert not data["has_priority_data"] and data["links"] == []
    assert data["message"] == f"This source names no priority countries: none of its {len(families)} families " \
                              "has one (a results list has them when it includes the 'Priority numbers' column)."


def test_family_size_distribution_counts_families_by_reported_or_counted_size(families, dataset):
    data = run("family_size_distribution", dataset, max_size=10)
    sizes = Counter(f.family_size if f.family_size is not None else len(f.pubs) for f in families)
    series = {s["size"]: s["families"] for s in data["series"]}
    assert data["counting"] == "families" and data["total_families"] == len(families)
    assert series["11+"] == sum(n for size, n in sizes.items() if size > 10)
    assert {k: v for k, v in series.items() if k != "11+"} == {str(s): sizes[s] for s in range(1, 11)}
    reported = sum(f.family_size is not None for f in families)
    assert data["size_basis"] == {"source": reported, "records_in_dataset": len(families) - reported}


def test_legal_status_by_year_counts_each_publication_under_its_own_status(families, dataset):
    data = run("legal_status_by_year", dataset)
    pubs = [p for f in families for p in f.pubs]
    counts = Counter((GROUP[p.status.lower()], p.date.year) for p in pubs if p.date)
    last = max(y for _, y in counts)
    first = max(min(y for _, y in counts), last - 24)
    assert data["counting"] == "publications" and data["years"] == list(range(first, last + 1))
    assert {s["status"]: s["data"] for s in data["series"]} == {
        g: [counts[(g, y)] for y in data["years"]] for g in ("active", "pending", "inactive", "unknown")}
    assert data["publications_without_date"] == 1
    assert data["publications_before_window"] == sum(n for (_, y), n in counts.items() if y < first)
    assert data["statuses"]["patented"] == "active" and data["statuses"]["ceased?"] == "unknown"
    assert any("'ceased?'" in w for w in data["warnings"])  # an unknown word is said, not hidden


def test_most_cited_families_rank_each_family_once_by_its_most_cited_member(families, dataset):
    data = run("most_cited_families", dataset, top_n=10)
    expected = []
    for f in families:
        counted = [p for p in f.pubs if p.cited_by is not None]
        if counted:
            best = sorted(counted, key=lambda p: (-p.cited_by, p.number))[0]
            expected.append((-best.cited_by, f.first_filing_year, best.number, best.cited_by,
                             sum(p.cited_by for p in counted), len(f.pubs)))
    expected.sort()
    assert data["counting"] == "families" and data["has_citation_data"]
    assert [(r["publication_number"], r["cited_by"], r["cited_by_members_sum"], r["publications"])
            for r in data["families"]] == [(e[2], e[3], e[4], e[5]) for e in expected[:10]]
    assert data["families_with_citation_data"] == len(expected) < len(families)
    assert [r["rank"] for r in data["families"]] == list(range(1, 11))


def test_most_cited_families_say_clearly_when_the_source_has_no_citation_data(families):
    data = run("most_cited_families", dataset_of(families, with_citations=False), language="es")
    assert not data["has_citation_data"] and data["families"] == []
    publications = sum(len(f.pubs) for f in families)
    assert data["message"] == data["warnings"][0] == (
        "Esta fuente no tiene datos de citas: los recuentos «citada por» vienen de Lens.org (o de la columna "
        f"«Cited by» de una lista de resultados), y ninguna de sus {publications} publicaciones tiene uno.")


@pytest.mark.parametrize("key", RECORD_CHARTS)
def test_a_record_chart_on_a_filters_workbook_fails_with_one_clear_sentence(key, sample_dataset):
    with pytest.raises(RecordsRequiredError) as failure:
        get_chart(key).run(sample_dataset, {}, Style())
    message = str(failure.value)
    assert message == (f"chart {key!r} needs one row per publication (an Espacenet results list or a Lens.org "
                       f"query), and dataset ? is a Filters workbook, which holds only pre-aggregated counts.")
    assert message.count(". ") == 0 and message.endswith(".")  # one sentence


def test_the_map_of_a_filters_workbook_lists_ep_and_wo_beside_it(sample_dataset):
    data = run("jurisdiction_map", sample_dataset)
    facet = dict(zip(sample_dataset.facet("countries")["value"], sample_dataset.facet("countries")["count"]))
    assert data["counting"] == "families"  # Espacenet's "Countries (family)"
    assert [(a["code"], a["count"], a["kind"]) for a in data["beside_map"]] == [
        ("WO", facet["WO"], "international"), ("EP", facet["EP"], "regional")]
    drawn = {c["code"]: c["count"] for c in data["countries"]}
    assert drawn == {code: int(n) for code, n in facet.items() if code not in ("EP", "WO")}
    assert all(c["drawn_as"] == "area" for c in data["countries"])
    assert data["highlight_country"] == "EC" and data["highlight_count"] == facet["EC"] == 7


def test_the_map_of_records_counts_families_per_office_and_dots_small_countries(families, dataset):
    data = run("jurisdiction_map", dataset)
    expected = Counter(j for f in families for j in f.jurisdictions)
    shown = {c["code"]: c["count"] for c in data["countries"]} | {a["code"]: a["count"] for a in data["beside_map"]}
    assert shown == dict(expected) and data["counting"] == "families"
    assert {a["code"] for a in data["beside_map"]} == {"WO", "EP", "EA", "GC", "AP"} & set(expected)
    dots = {c["code"] for c in data["countries"] if c["drawn_as"] == "dot"}
    assert dots == {"SG", "HK"} & set(expected) and not {"SGP", "HKG"} & outlined_countries()


RENDER_LABELS = {
    "applicant_year_heatmap": ["Huawei Tech Co Ltd", "At&amp;T &#60;Labs&#62; Inc", "First filing year"],
    "technology_jurisdiction_matrix": ["G01N", "CPC subclass", "WO"],
    "priority_flows": ["Priority country", "Filing jurisdiction", "Others"],
    "family_size_distribution": ["11+", "Family size (members)"],
    "legal_status_by_year": ["Active", "Pending", "Inactive", "Unknown", "Publication year"],
    "most_cited_families": ["Most cited member", "Cited by"],
    "jurisdiction_map": ["WO · PCT", "EP · EPO", "Number of families"],
}


@pytest.fixture(scope="module")
def record_renderer():
    with FigureRenderer() as r:
        yield r


@pytest.mark.slow
@pytest.mark.parametrize("key", [*RECORD_CHARTS, "jurisdiction_map"])
def test_every_record_chart_renders_in_chromium(key, dataset, record_renderer, tmp_path):
    chart = get_chart(key).run(dataset, {"max_size": 10} if key == "family_size_distribution" else {},
                               Style(language="en"))
    out = record_renderer.render(chart.figure, ["png", "svg"])
    assert out["png"][:4] == b"\x89PNG" and len(out["png"]) > 20_000
    size = (int.from_bytes(out["png"][16:20], "big"), int.from_bytes(out["png"][20:24], "big"))
    assert size == (chart.width, chart.height)
    svg = out["svg"].decode()
    for text in RENDER_LABELS[key]:
        assert text in svg, (key, text)
    if key == "most_cited_families":
        first = chart.chart_data["families"][0]["publication_number"]
        assert first in svg
    (tmp_path / f"{key}.png").write_bytes(out["png"])


@pytest.mark.slow
def test_the_partial_bundle_draws_the_new_charts_exactly_as_the_full_plotly_js(dataset, record_renderer):
    figures = [get_chart(key).run(dataset, {}, Style(language=lang)).figure
               for key in [*RECORD_CHARTS, "jurisdiction_map"] for lang in ("es", "en")]
    with FigureRenderer(plotly_js=PACKAGE_PLOTLY_JS) as full:
        expected = [full.render(fig, ["png"])["png"] for fig in figures]
    assert [record_renderer.render(fig, ["png"])["png"] for fig in figures] == expected


REQUESTS_HOOK = """
window.__requests = [];
(function () {
  const open = XMLHttpRequest.prototype.open;
  XMLHttpRequest.prototype.open = function (method, url) {
    window.__requests.push(new URL(String(url), document.baseURI).href);
    return open.apply(this, arguments);
  };
  const fetch0 = window.fetch;
  window.fetch = function (input) {
    window.__requests.push(new URL(String(input && input.url || input), document.baseURI).href);
    return fetch0.apply(this, arguments);
  };
})();
"""
REQUESTED = ("JSON.stringify([...(window.__requests || ['the request hook did not run']), "
             "...performance.getEntriesByType('resource').map(e => e.name)])")


@pytest.mark.slow
def test_drawing_a_map_requests_nothing_but_the_packages_own_outlines(sample_dataset):
    """In the renderer's page: the map's outlines are read from the package's folder (a
    file: URL), and nothing else is requested; a map whose outlines we do not ship is looked
    for beside the page (the bundle's default), never on a CDN."""
    chart = get_chart("jurisdiction_map").run(sample_dataset, {}, Style())
    with FigureRenderer() as renderer:  # its own page: no outlines cached yet
        renderer.start()
        renderer._evaluate(REQUESTS_HOOK)
        out = renderer.render(chart.figure, ["svg"])
        requested = json.loads(renderer._evaluate(REQUESTED))
        assert TOPOJSON_URL + "world_110m.json" in requested
        assert all(url.startswith("file:///") for url in requested), requested
        drawn = out["svg"].decode().count('class="choroplethlocation"')
        assert drawn == len(chart.chart_data["countries"]) + 1  # each country, and EC once more: its outline
        # a control: the hook does see requests, and an outline we do not ship is not fetched from a CDN
        renderer._evaluate("window.__requests = []; Plotly.toImage({data: [{type: 'choropleth', locations: ['TX'], "
                           "locationmode: 'USA-states', z: [1]}], layout: {geo: {scope: 'usa'}}}, "
                           "{format: 'svg'}).catch(() => null)")
        requested = wait_for(lambda: json.loads(renderer._evaluate("JSON.stringify(window.__requests)")),
                             timeout=30, message="no request was seen")
    assert requested == [requested[0]] and re.fullmatch(r"file:///.*/topojson/usa_110m\.json", requested[0])


@pytest.mark.slow
def test_the_maps_html_draws_offline_from_its_inline_outlines(dataset, tmp_path):
    html = figure_html(get_chart("jurisdiction_map").run(dataset, {}, Style()).figure)
    assert not re.findall(rb"<script[^>]*\bsrc=", html)
    assert b"https://cdn.plot.ly" not in html and b"window.PlotlyGeoAssets" in html
    page = tmp_path / "chart.html"
    page.write_bytes(html)
    browser = ChromiumPipe()
    browser.start()
    try:
        session = browser.open_page()
        browser.send("Page.enable", session_id=session)
        browser.send("Page.addScriptToEvaluateOnNewDocument", {"source": REQUESTS_HOOK}, session)
        browser.send("Page.navigate", {"url": page.as_uri()}, session)

        def countries_drawn() -> int:
            reply = browser.send("Runtime.evaluate", {"expression": (
                "document.querySelectorAll('.choroplethlocation').length"), "returnByValue": True}, session)
            return reply["result"].get("value") or 0

        assert wait_for(countries_drawn, timeout=30, message="the map's HTML drew no country") > 20
        reply = browser.send("Runtime.evaluate", {"expression": REQUESTED, "returnByValue": True}, session)
    finally:
        browser.close()
    assert json.loads(reply["result"]["value"]) == []  # not even a local file: the outlines are inline


@pytest.mark.slow
def test_all_on_a_filters_workbook_draws_what_it_can_and_a_named_record_chart_fails(sample_workbook, tmp_path):
    from intelli_assets_tests.test_cli import intelli

    home = tmp_path / "home"
    proc = intelli("run", str(sample_workbook), "--charts", "applicant_year_heatmap,jurisdiction_map", "--json",
                   home=home)
    assert proc.returncode == 1, proc.stderr  # a chart failed; the other was drawn
    report = json.loads(proc.stdout)
    assert report["charts"]["jurisdiction_map"]["status"] == "success"
    heatmap = report["charts"]["applicant_year_heatmap"]
    assert heatmap["status"] == "failed" and heatmap["error"] == (
        f"chart 'applicant_year_heatmap' needs one row per publication (an Espacenet results list or a Lens.org "
        f"query), and dataset {report['partition']} is a Filters workbook, which holds only pre-aggregated counts.")
    data = json.loads(Path(report["charts"]["jurisdiction_map"]["files"]["chart_data"]).read_text())
    assert [a["code"] for a in data["beside_map"]] == ["WO", "EP"]


@pytest.mark.slow
def test_a_run_of_every_chart_on_a_filters_workbook_skips_the_record_charts_and_says_why(sample_workbook,
                                                                                         dagster_home):
    """The main job as the UI's "Materialize all" runs it (every chart selected) on a Filters
    workbook: the run succeeds, the charts it can feed are drawn, and each record-level chart
    is skipped with the one sentence, never failed."""
    import dagster as dg

    from intelli_assets.launch import open_instance, run_workbook

    instance = open_instance()
    report = run_workbook(sample_workbook, list(CHARTS), {"language": "en"}, instance)
    assert instance.get_run_by_id(report.run_id).status == dg.DagsterRunStatus.SUCCESS
    fed = charts_fed_by(CHARTS, has_records=False)
    assert {k for k, c in report.charts.items() if c["status"] == "success"} == set(fed)
    for key in RECORD_CHARTS:
        records = instance.fetch_observations(dg.AssetRecordsFilter(
            asset_key=dg.AssetKey(["charts", key]), asset_partitions=[report.partition]), limit=5).records
        metadata = records[0].event_log_entry.dagster_event.asset_observation_data.asset_observation.metadata
        assert metadata["event"].value == "skipped"
        assert metadata["message"].value == (
            f"chart {key!r} needs one row per publication (an Espacenet results list or a Lens.org query), and "
            f"dataset {report.partition} is a Filters workbook, which holds only pre-aggregated counts.")
        assert not instance.fetch_materializations(dg.AssetKey(["charts", key]), limit=1).records
        assert report.charts[key]["status"] == "not_applicable"  # `intelli status` does not count them
        assert report.charts[key]["error"].startswith(f"chart {key!r} needs one row per publication")
    assert report.status == "success"
