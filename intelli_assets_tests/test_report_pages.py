"""The landscape report's pages without a Dagster run: charts built here, their renders written
as a run would (chart.html, chart_data.json), read back by `load_render`, made into a report
and printed by a real Chromium. What the PDF holds is read back with pypdf: every row of a
table, key figures that say their unit and agree with each other and with the charts."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
from pathlib import Path

import pytest

from intelli_assets.charts import get_chart
from intelli_assets.rendering import FigureRenderer, figure_html
from intelli_assets.report import Report, load_render, make_report, write_report
from intelli_assets.report.html import key_figures
from intelli_assets.style import Style
from intelli_assets_tests.record_families import dataset_of, realistic_families

pypdf = pytest.importorskip("pypdf", reason="pypdf is not installed (scripts/install.sh --test)")


@pytest.fixture(scope="module")
def records():
    return dataset_of(realistic_families())


@pytest.fixture(scope="module")
def printer():
    with FigureRenderer() as renderer:
        yield renderer


def render(folder: Path, key: str, dataset, params: dict | None = None, language: str = "en"):
    """A chart drawn and stored as a run stores it, then read back as the report reads it."""
    chart = get_chart(key).run(dataset, params or {}, Style(language=language))
    folder = folder / key
    folder.mkdir(parents=True)
    (folder / "chart.html").write_bytes(figure_html(chart.figure))
    (folder / "chart_data.json").write_text(json.dumps(chart.chart_data), encoding="utf-8")
    recorded = {fmt: {"path": str(folder / name), "sha256": hashlib.sha256((folder / name).read_bytes()).hexdigest()}
                for fmt, name in (("html", "chart.html"), ("chart_data", "chart_data.json"))}
    return load_render(key, key, recorded, params_hash="0123abcd", run_id="run", rendered_at=None)


def printed(report: Report, folder: Path, printer: FigureRenderer) -> list[str]:
    """The report written, its PDF's pages as text (whitespace runs made single spaces)."""
    files = write_report(report, folder / "report", printer.print_pdf)
    return [" ".join(page.extract_text().split()) for page in pypdf.PdfReader(files.pdf).pages]


def card_text(report: Report) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", key_figures(report)).split())


# --- 1. a table keeps every row on paper ------------------------------------------------------------

@pytest.mark.parametrize("top_n", [15, 50])
def test_every_row_and_header_of_the_most_cited_table_is_in_the_pdf(records, printer, tmp_path, top_n):
    chart = render(tmp_path, "most_cited_families", records, {"top_n": top_n})
    rows = chart.chart_data["families"]
    assert len(rows) == top_n
    pages = printed(make_report("p", records, [chart], language="en"), tmp_path, printer)
    page = next(p for p in pages if "· charts/most_cited_families" in p)  # the chart's own page
    for row in rows:
        assert row["publication_number"] in page, row
    cells = page.split()
    assert [n for n in cells if re.fullmatch(r"[A-Z]{2}\d{7}[A-Z]\d?", n)] == [r["publication_number"] for r in rows]
    for header in chart.chart_data["columns"]:  # whole, not clipped at the column's edge ("Publicatio")
        assert header in page, header


# --- 2. key figures say their unit, and share of the families ---------------------------------------

def test_filters_key_figures_share_of_families_and_name_espacenets_own_counts(sample_dataset):
    report = make_report("p", sample_dataset, [], language="en")
    figures, manifest = report.figures, sample_dataset.manifest
    countries = sample_dataset.facet("countries").groupby("value")["count"].sum().sort_values(ascending=False)
    families = manifest["results_count"]
    assert figures.families == families and figures.top_jurisdiction.total == families
    assert figures.top_jurisdiction.unit == "families" and figures.highlight.unit == "families"
    assert figures.highlight.count == countries["EC"] == 7 and figures.highlight.total == families
    applicants = sample_dataset.facet("applicants").groupby("value")["count"].sum()
    assert figures.top_applicant.unit == "publications" and figures.top_applicant.total is None
    text = card_text(report)
    top = countries.index[0]
    assert f"{top} {countries[top]} of {families} families ({100 * countries[top] / families:.1f}%)" in text
    assert f"{100 * 7 / families:.1f}% 7 of {families} families" in text
    assert f"{applicants.max()} publications as Espacenet counts them" in text
    assert f"of {int(countries.sum())} publications" not in text and "publications (" not in text


def test_record_key_figures_share_of_the_families_the_cards_state(records):
    report = make_report("p", records, [], language="es")
    f = report.figures
    families = records.manifest["records"]["families"]
    assert f.top_applicant.total == f.top_jurisdiction.total == f.highlight.total == families
    applicants = records.facet("applicants").groupby("value")["count"].sum()
    assert f.top_applicant.count == applicants.max() and f.top_applicant.unit == "families"
    text = card_text(report)
    assert f"FAMILIAS DE PATENTES {families}".lower() in text.lower()
    assert f"{applicants.max()} de {families} familias" in text
    assert "publicaciones (" not in text


# --- 3. the CAGR is the forecast chart's ------------------------------------------------------------

def test_the_cagr_is_the_forecast_renders_own_and_says_it_counts_families(records, tmp_path):
    evolution = render(tmp_path, "patent_evolution", records, {"cutoff_year": 2019})
    forecast = render(tmp_path, "patent_forecast", records, {"cutoff_year": 2023})
    data = forecast.chart_data
    report = make_report("p", records, [evolution, forecast], language="en")
    f = report.figures
    assert (f.cagr_percent, f.cagr_start, f.cagr_end) == (data["cagr_rate"], data["cagr_period"]["start"],
                                                          data["cagr_period"]["end"])
    assert data["cagr_period"]["end"] == 2023 and f.cagr_unit == "families"
    text = card_text(report)
    assert (f"{data['cagr_rate']:.2f}% families per year of first publication, {f.cagr_start}–2023 "
            "(as the forecast)") in text


# --- 4. and 5. the map: drawn with offices only, and its side panel readable on paper ---------------

def offices_only(dataset):
    """The dataset with only its EP and WO publications (no country has any)."""
    from intelli_assets.dataset import Dataset

    facets = dataset.facets
    keep = (facets["facet"] != "countries") | facets["value"].isin(["EP", "WO"])
    return Dataset(facets[keep].reset_index(drop=True), dataset.manifest, dataset.records)


def test_a_map_of_regional_offices_only_draws_the_world_and_says_why_it_is_grey(sample_dataset, printer):
    dataset = offices_only(sample_dataset)
    chart = get_chart("jurisdiction_map").run(dataset, {}, Style(language="en"))
    assert chart.chart_data["countries"] == [] and {a["code"] for a in chart.chart_data["beside_map"]} == {"EP", "WO"}
    assert [t.type for t in chart.figure.data] == ["choropleth", "bar"]
    notes = " ".join(a.text for a in chart.figure.layout.annotations)
    assert "No country has publications: all of them are at regional or international offices" in notes
    svg = printer.render(chart.figure, ["svg"])["svg"].decode()
    assert len(re.findall(r'class="[^"]*\bland\b', svg)) >= 1 and "countries" in svg  # the world is drawn
    assert "EP · EPO" in svg and "WO · PCT" in svg


def test_the_maps_office_labels_clear_the_map_at_print_width(records, tmp_path):
    playwright_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    from intelli_assets.rendering.browser import find_chromium

    chart = render(tmp_path, "jurisdiction_map", records)
    assert {"EA", "GC", "AP"} <= {a["code"] for a in chart.chart_data["beside_map"]}
    files = write_report(make_report("p", records, [chart], language="en"), tmp_path / "report",
                         lambda *_: b"%PDF-1.4 not printed here")
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=find_chromium(), headless=True, args=["--no-sandbox"] if os.geteuid() == 0 else [])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(files.html.as_uri())
            page.wait_for_function("document.body.getAttribute('data-drawn') !== null", timeout=90_000)
            box = page.evaluate("""() => window.reportForPrint().then(() => {
              const div = document.getElementById('plot-jurisdiction_map');
              const edges = e => { const b = e.getBoundingClientRect(); return [b.left, b.right]; };
              return {width: div._fullLayout.width, map: edges(div.querySelector('.geolayer .geo .bg')),
                      labels: [...div.querySelectorAll('.ytick text')].map(e => [e.textContent, ...edges(e)])};
            })""")
        finally:
            browser.close()
    assert box["width"] == 820 and len(box["labels"]) == len(chart.chart_data["beside_map"])
    for text, left, _ in box["labels"]:  # every label starts right of the map, which is drawn over it
        assert left >= box["map"][1] + 2, (text, left, box["map"])


# --- 7. a stop signal cancels the report; a killed one's staging folder is cleaned up ------------------

def test_a_killed_reports_staging_folder_is_removed_and_a_live_ones_kept(records, tmp_path):
    import subprocess

    chart = render(tmp_path, "top_patent_countries", records)
    parent = tmp_path / "landscape"
    gone = subprocess.Popen(["true"])
    gone.wait()  # a pid no process has now
    dead, live = parent / f".run-a.staging-{gone.pid}", parent / f".run-b.staging-{os.getppid()}"
    for folder in (dead, live):
        (folder / "sub").mkdir(parents=True)
        (folder / "report.html").write_text("half")
    files = write_report(make_report("p", records, [chart], language="en"), parent / "run-c", lambda *_: b"%PDF-1.4")
    assert files.folder.is_dir() and not dead.exists() and live.is_dir()


def test_a_check_that_stops_the_report_leaves_nothing(records, tmp_path):
    chart = render(tmp_path, "top_patent_countries", records)
    calls = []

    def cancelled() -> None:
        calls.append(1)
        if len(calls) == 2:  # once the PDF is printed
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_report(make_report("p", records, [chart], language="en"), tmp_path / "rep" / "run",
                     lambda *_: b"%PDF-1.4", cancelled)
    assert len(calls) == 2 and list((tmp_path / "rep").iterdir()) == []


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_one_stop_signal_cancels_intelli_report(tmp_path, monkeypatch, signum):
    import subprocess
    import sys
    import time

    from intelli_assets.sample_records import sample_families, write_results_list_csv
    from intelli_assets_tests.servers import prepare_home

    home = prepare_home(tmp_path / "home")
    source = write_results_list_csv(tmp_path / "soil.csv", sample_families(40, seed=5))
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    intelli = str(Path(sys.executable).parent / "intelli")
    ran = subprocess.run([intelli, "run", str(source), "--json", "--charts", "top_patent_countries"], env=env,
                         capture_output=True, text=True, timeout=600)
    partition = json.loads(ran.stdout)["partition"]
    reports = home / "artifacts" / partition / "reports" / "landscape"
    proc = subprocess.Popen([intelli, "report", partition, "--json", "--charts", "top_patent_countries"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (reports.is_dir() and any(".staging-" in p.name for p in reports.iterdir())):
        assert proc.poll() is None and time.monotonic() < deadline, "the report never started writing"
        time.sleep(0.02)
    proc.send_signal(signum)  # once, while the report is being written
    out, err = proc.communicate(timeout=120)
    result = json.loads(out)
    assert proc.returncode == 128 + signum, err
    assert result["status"] == "cancelled" and result["files"] == {}
    assert list(reports.iterdir()) == []  # no report, no staging folder
    monkeypatch.setenv("DAGSTER_HOME", str(home))  # its dagster.yaml reads it
    with __import__("dagster").DagsterInstance.from_config(str(home)) as instance:
        assert instance.get_run_by_id(result["run_id"]).status.value == "CANCELED"


# --- 8. report-data.xlsx: a family per row, a grid with its labels ------------------------------------

def test_the_workbook_lists_one_family_per_row_and_labels_the_heatmap_grid(records, tmp_path):
    import openpyxl

    charts = [render(tmp_path, key, records) for key in ("most_cited_families", "applicant_year_heatmap")]
    files = write_report(make_report("p", records, charts, language="en"), tmp_path / "report",
                         lambda *_: b"%PDF-1.4")
    book = openpyxl.load_workbook(files.xlsx)

    def table(sheet, title: str) -> list[tuple]:
        rows = list(sheet.iter_rows(values_only=True))
        start = next(i for i, row in enumerate(rows) if row[0] == title and i >= 2)
        out = []
        for row in rows[start + 1:]:
            if all(v is None for v in row):
                break
            out.append(row)
        return out

    cited = charts[0].chart_data["families"]
    rows = table(book["most_cited_families"], "families")
    header = list(rows[0])
    assert header[:5] == ["rank", "family_id", "publication_number", "title", "applicants"]
    assert len(rows) == 1 + len(cited)
    for row, family in zip(rows[1:], cited):
        got = dict(zip(header, row))
        assert got["publication_number"] == family["publication_number"] and got["cited_by"] == family["cited_by"]
        assert got["applicants"] == "; ".join(family["applicants"])
    data = charts[1].chart_data
    grid = table(book["applicant_year_heatmap"], "z")
    assert list(grid[0])[:1 + len(data["years"])] == ["applicants \\ years", *map(str, data["years"])]
    assert [r[0] for r in grid[1:]] == data["applicants"]
    assert [list(r[1:1 + len(data["years"])]) for r in grid[1:]] == data["z"]
