"""The landscape report (reports/landscape, `intelli report`) on real renders: a Filters
workbook (the generated sample and, when ../shared/data has it, a real export) and a
record-level results list made here. The PDF is read back with pypdf, the workbook with
openpyxl, the HTML is drawn by the system Chromium through Playwright with every non-file
request refused; a chart that failed or was never drawn must be listed with its reason."""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import subprocess
import sys
import zipfile
from collections import Counter
from itertools import takewhile
from pathlib import Path

import dagster as dg
import openpyxl
import pandas as pd
import pytest

from intelli_assets.charts import CHARTS, charts_fed_by
from intelli_assets.cli import main
from intelli_assets.rendering import FigureRenderer
from intelli_assets.rendering.browser import ChromiumPipe, find_chromium
from intelli_assets.report import NOT_RENDERED, chart_title
from intelli_assets.report.model import figure_from_html
from intelli_assets.report.page import PAGE_WIDTH, PRINT_LAYOUT_WIDTH
from intelli_assets.sample_records import sample_families, write_results_list_csv
from intelli_assets.style import Style
from intelli_assets_tests.conftest import REAL_WORKBOOKS, real_workbook
from intelli_assets_tests.fake_openai import FakeOpenAI
from intelli_assets_tests.servers import prepare_home

pypdf = pytest.importorskip("pypdf", reason="pypdf is not installed (scripts/install.sh --test)")
REPORT_KEY = dg.AssetKey(["reports", "landscape"])
CHROMIUM_ARGS = ["--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-quic", "--no-first-run"]
RASTER_TRACES = {"heatmap", "histogram2d", "image"}  # plotly.js draws these as a bitmap inside its SVG
SKIPPED = ("cpc_treemap", "top_patent_inventors")  # the records dataset: one fails, one is never drawn


def intelli(home: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(Path(sys.executable).parent / "intelli"), *args], capture_output=True, text=True,
                          timeout=600, env={**os.environ, "DAGSTER_HOME": str(home), **env})


def rendered(home: Path, source: Path, *charts: str, **env: str) -> tuple[str, dict]:
    """`intelli run` in its own process: (partition, chart -> status)."""
    proc = intelli(home, "run", str(source), "--json", *(("--charts", ",".join(charts)) if charts else ()), **env)
    out = json.loads(proc.stdout)
    return out["partition"], {key: chart["status"] for key, chart in out["charts"].items()}


def report(home: Path, monkeypatch, capsys, *args: str) -> tuple[int, dict | str, str]:
    """`intelli report ARGS` in this process: (exit code, its JSON or text, stderr)."""
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.delenv("INTELLI_ARTIFACTS_DIR", raising=False)
    capsys.readouterr()
    code = main(["report", *args])
    out, err = capsys.readouterr()
    return code, json.loads(out) if "--json" in args else out, err


def facets(home: Path, partition: str) -> dict[str, pd.Series]:
    table = pd.read_parquet(home / "artifacts" / partition / "dataset" / "facets.parquet")
    return {name: rows.groupby("value", sort=False)["count"].sum().sort_values(ascending=False, kind="stable")
            for name, rows in table.groupby("facet")}


def pdf_pages(path: Path) -> list[str]:
    return [page.extract_text() for page in pypdf.PdfReader(path).pages]


def numbers(value: object) -> Counter:
    """Every number in a JSON value (booleans are not numbers here)."""
    if isinstance(value, dict | list):
        return sum((numbers(v) for v in (value.values() if isinstance(value, dict) else value)), Counter())
    return Counter([float(value)]) if isinstance(value, int | float) and not isinstance(value, bool) else Counter()


def same_numbers(sheet, data: Counter, what: str) -> None:
    """A chart's sheet (below its title lines) holds the same numbers: integers exactly, floats
    to the 16 significant digits a workbook keeps."""
    got = sorted(float(v) for row in sheet.iter_rows(min_row=3, values_only=True) for v in row
                 if isinstance(v, int | float) and not isinstance(v, bool))
    want = sorted(data.elements())
    assert len(got) == len(want), what
    for a, b in zip(got, want):
        assert math.isclose(a, b, rel_tol=1e-15, abs_tol=0), (what, a, b)


def sheet_table(sheet, title: str) -> list[dict]:
    """The table titled `title` in a sheet, as records."""
    rows = list(sheet.iter_rows(values_only=True))
    start = next(i for i, row in enumerate(rows) if row[0] == title and i >= 2)
    header = [h for h in rows[start + 1] if h is not None]
    return [dict(zip(header, row)) for row in takewhile(lambda r: any(v is not None for v in r), rows[start + 2:])]


def check_report(result: dict, home: Path, partition: str, statuses: dict, language: str,
                 has_records: bool = True) -> dict:
    """What every report must hold; returns the materialization's metadata. A report of every
    chart covers those its dataset can feed: a Filters workbook's leaves out the record-level ones."""
    included = [k for k in CHARTS if statuses.get(k) == "success"]
    assert result["status"] == "success" and result["charts_included"] == included
    assert set(result["charts_missing"]) == set(charts_fed_by(CHARTS, has_records)) - set(included)
    folder = Path(result["folder"])
    assert folder.parent == home / "artifacts" / partition / "reports" / "landscape" and folder.name == result["run_id"]
    files = {name: Path(path) for name, path in result["files"].items()}
    assert set(files) == {"html", "pdf", "xlsx", "zip"} and all(p.parent == folder and p.is_file() for p in files.values())

    html = files["html"].read_text(encoding="utf-8")  # one file: plotly.js once, every figure inline, no URL
    assert html.count("* plotly.js v") == 1 and len(re.findall(r"<script\b[^>]*\bsrc=", html)) == 0
    page = html[:html.index("<script")] + html[html.index("</script>"):]  # the page without plotly.js's own code
    assert not re.search(r"https?://|//cdn", page) and "<link" not in page
    for key in included:
        assert f'id="chart-{key}"' in html and f'id="plot-{key}"' in html

    pages = pdf_pages(files["pdf"])
    assert len(pages) == result["pages"] == 2 + len(included) + (1 if result["charts_missing"] else 0)
    for n, key in enumerate(included, 1):  # one page per chart: its heading and its render line together
        page = pages[1 + n]
        assert f"{n}. {chart_title(key, language, CHARTS[key].description)}" in page
        assert f"charts/{key}" in page
    renders = result_renders(home, partition)
    raster = {2 + n for n, key in enumerate(included, 1) if {trace.get("type") for trace in figure_from_html(
        next((home / "artifacts" / partition / key).glob(f"{renders[key]}/chart.html")).read_bytes())["data"]}
        & RASTER_TRACES}
    for i, page in enumerate(pages, 1):  # the footer; charts as vectors (no image but what plotly rasterises)
        assert re.search(rf"(Page|Página) {i} (of|de) {len(pages)}", page)
        assert i in raster or not pypdf.PdfReader(files["pdf"]).pages[i - 1].images, i
    book = openpyxl.load_workbook(files["xlsx"])
    assert book.sheetnames[1:] == included
    for key in included:
        data = json.loads(next((home / "artifacts" / partition / key).glob(f"{renders[key]}/chart_data.json")).read_text())
        same_numbers(book[key], numbers(data), key)
    with zipfile.ZipFile(files["zip"]) as archive:
        names = set(archive.namelist())
        assert {"report.html", "report.pdf", "report-data.xlsx"} <= names
        for key in included:
            assert {f"charts/{key}/chart.png", f"charts/{key}/chart.svg", f"charts/{key}/chart_data.json"} <= names
    with dg.DagsterInstance.from_config(str(home)) as instance:
        record = instance.fetch_materializations(dg.AssetRecordsFilter(
            asset_key=REPORT_KEY, asset_partitions=[partition]), limit=1).records[0]
        metadata = {k: v.value for k, v in record.asset_materialization.metadata.items()}
    assert record.run_id == result["run_id"] and metadata["page_count"] == len(pages)
    assert metadata["charts_included"] == included and metadata["pdf_printed_by"] == "the run's renderer"
    assert {metadata[f"{name}_path"] for name in files} == {str(p) for p in files.values()}
    return metadata


def result_renders(home: Path, partition: str) -> dict[str, str]:
    """Each chart's latest render (params hash), from the instance."""
    from intelli_assets.defs.descriptions.assets import latest_render

    with dg.DagsterInstance.from_config(str(home)) as instance:
        return {key: r.params_hash for key in CHARTS if (r := latest_render(instance, partition, key)) is not None}


# --- a Filters workbook -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def filters_home(tmp_path_factory, sample_workbook) -> tuple[Path, str, dict]:
    home = prepare_home(tmp_path_factory.mktemp("report-filters") / "home")
    partition, statuses = rendered(home, sample_workbook)
    return home, partition, statuses


@pytest.fixture(scope="module")
def filters_report(filters_home) -> dict:
    """The sample workbook's report, in English, made by the `intelli` console script."""
    home, partition, _ = filters_home
    proc = intelli(home, "report", partition, "--json", "--language", "en")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_the_report_is_an_opt_in_asset_of_its_own():
    from intelli_assets.definitions import defs
    from intelli_assets.defs.jobs import MAIN_JOB_NAME

    asset = defs.resolve_assets_def(REPORT_KEY)
    assert asset.group_names_by_key[REPORT_KEY] == "reports" and asset.partitions_def.name == "datasets"
    assert {dg.AssetKey(["charts", key]) for key in CHARTS} <= asset.asset_deps[REPORT_KEY]
    assert asset.op.description and "renderer" in asset.required_resource_keys
    assert REPORT_KEY not in defs.resolve_job_def(MAIN_JOB_NAME).asset_layer.selected_asset_keys
    fields = asset.op.config_schema.config_type.fields
    assert set(fields) == {"language", "title", "charts", "include_descriptions"}


def test_the_report_of_a_filters_workbook(filters_home, filters_report, monkeypatch):
    home, partition, statuses = filters_home
    monkeypatch.setenv("DAGSTER_HOME", str(home))  # the instance's dagster.yaml reads it
    result = filters_report
    check_report(result, home, partition, statuses, "en", has_records=False)

    counts = facets(home, partition)
    countries = counts["countries"]
    manifest = json.loads((home / "artifacts" / partition / "dataset" / "manifest.json").read_text())
    forecast = json.loads(next((home / "artifacts" / partition / "patent_forecast").glob("*/chart_data.json")).read_text())
    pages = pdf_pages(Path(result["files"]["pdf"]))
    figures = " ".join(next(page for page in pages if "Key figures" in page and "SHARE OF EC" in page).split())
    total, families = int(countries.sum()), manifest["results_count"]  # shares of offices are of all families
    for expected in (f"{families:,}", f"{total:,}", f"{forecast['cagr_rate']:.2f}%",
                     f"{countries.index[0]}", f"{countries.iloc[0]} of {families} families",
                     f"{100 * countries['EC'] / families:.1f}%", f"{countries['EC']} of {families} families"):
        assert expected in figures, expected
    assert counts["applicants"].index[0].lower() in figures.lower()
    years = sorted(int(y) for y, n in counts["publication_year"].items() if n > 0)
    assert f"{years[0]}–{years[-1]}" in pages[0]  # the cover's date range
    assert "Source file" in pages[0] and manifest["source"]["original_name"] in pages[0]
    assert manifest["query"].split()[0] in pages[0] and "Counting rule" in pages[0]

    book = openpyxl.load_workbook(result["files"]["xlsx"])  # a table read back equals chart_data
    evolution = json.loads(next((home / "artifacts" / partition / "patent_evolution").glob(
        "*/chart_data.json")).read_text())
    assert sheet_table(book["patent_evolution"], "series") == evolution["series"]
    summary = {row[0]: row[1] for row in book["Summary"].iter_rows(values_only=True) if row[0]}
    assert summary["key_figures.families"] == manifest["results_count"] and summary["partition"] == partition
    assert {r["facet"]: r["total"] for r in sheet_table(book["Summary"], "facets")} == {
        name: info["total"] for name, info in manifest["summary_stats"]["facets"].items()}


def test_a_filters_report_of_record_level_charts_only_says_they_cannot_be_drawn(filters_home, monkeypatch, capsys):
    home, partition, _ = filters_home
    code, _, err = report(home, monkeypatch, capsys, partition, "--charts", "priority_flows,applicant_year_heatmap")
    assert code == 2 and err.count("\n") == 1 and "run `intelli run" not in err  # drawing first would not help
    assert "chart 'priority_flows' needs one row per publication" in err and "'applicant_year_heatmap'" in err


def test_the_report_html_draws_offline_in_chromium(filters_report, tmp_path, monkeypatch):
    playwright_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    monkeypatch.setenv("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    html = Path(filters_report["files"]["html"])
    outside, errors = [], []
    with playwright_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=find_chromium(), headless=True,
                                    args=[*CHROMIUM_ARGS, *(["--no-sandbox"] if os.geteuid() == 0 else [])])
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.route("**/*", lambda route: route.continue_() if route.request.url.startswith("file://")
                          else (outside.append(route.request.url), route.abort()))  # files only; note the rest
            page = context.new_page()
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(html.as_uri())
            page.wait_for_function("document.body.getAttribute('data-drawn') !== null", timeout=90_000)
            drawn = page.evaluate("""() => [...document.querySelectorAll('.js-plotly-plot')].map(div => ({
                id: div.id, svgs: div.querySelectorAll('.main-svg').length,
                shapes: div.querySelectorAll('.main-svg path').length, width: div.getBoundingClientRect().width}))""")
            page.screenshot(path=tmp_path / "report.png", full_page=True)
            printed = page.evaluate("window.reportForPrint().then(() => [...document.querySelectorAll("
                                    "'.js-plotly-plot')].map(div => [div._fullLayout.width, "
                                    "div.getBoundingClientRect().width]))")
        finally:
            browser.close()
    included = filters_report["charts_included"]
    assert outside == [] and errors == []
    assert [d["id"] for d in drawn] == [f"plot-{key}" for key in included]
    assert sum(1 for d in drawn if d["svgs"] >= 1) == len(included)  # every plot drew its main-svg...
    assert all(d["shapes"] > 10 and d["width"] > 900 for d in drawn)  # ...with its marks, across the page
    for layout_width, shown in printed:  # laid out again for paper, shrunk to the printable width
        assert layout_width == PRINT_LAYOUT_WIDTH and abs(shown - PAGE_WIDTH) < 2


# --- a real Filters export ------------------------------------------------------------------------------

@pytest.mark.parametrize("name", REAL_WORKBOOKS)
def test_the_report_of_a_real_workbook(name, tmp_path, monkeypatch, capsys):
    source = real_workbook(name)
    home = prepare_home(tmp_path / "home")
    partition, statuses = rendered(home, source)
    code, result, err = report(home, monkeypatch, capsys, partition, "--json", "--language", "en")
    assert code == 0, err
    check_report(result, home, partition, statuses, "en", has_records=False)
    countries = facets(home, partition)["countries"]
    manifest = json.loads((home / "artifacts" / partition / "dataset" / "manifest.json").read_text())
    figures = next(p for p in pdf_pages(Path(result["files"]["pdf"])) if "Key figures" in p)
    for expected in (f"PATENT FAMILIES\n{manifest['results_count']:,}", f"PUBLICATIONS\n{int(countries.sum()):,}",
                     # the countries sheet counts families: its share is of the families
                     f"TOP JURISDICTION\n{countries.index[0]}\n{countries.iloc[0]:,} of {manifest['results_count']:,} "
                     "families"):
        assert expected in figures, (expected, figures)


# --- a record-level dataset: a failed chart, a chart never drawn, descriptions --------------------------

@pytest.fixture(scope="module")
def records_home(tmp_path_factory) -> tuple[Path, str, list, dict]:
    """A results list rendered but for two charts: cpc_treemap fails (no browser can start),
    top_patent_inventors is never asked for."""
    folder = tmp_path_factory.mktemp("report-records")
    families = sample_families(150, seed=11)
    source = write_results_list_csv(folder / "soil-search.csv", families)
    home = prepare_home(folder / "home")
    partition, statuses = rendered(home, source, *[k for k in CHARTS if k not in SKIPPED])
    _, failed = rendered(home, source, "cpc_treemap", BROWSER_PATH="/bin/false")
    assert failed == {"cpc_treemap": "failed"}
    return home, partition, families, {**statuses, **failed}


def test_the_report_of_a_results_list_names_what_is_missing_and_why(records_home, monkeypatch, capsys):
    home, partition, families, statuses = records_home
    code, result, err = report(home, monkeypatch, capsys, partition, "--json")  # Spanish, the default
    assert code == 0, err
    check_report(result, home, partition, statuses, "es")
    missing = result["charts_missing"]
    assert missing["top_patent_inventors"] == NOT_RENDERED
    assert missing["cpc_treemap"].startswith("charts/cpc_treemap's last render failed (run ")
    assert "rendering failed: " in missing["cpc_treemap"]
    pages = pdf_pages(Path(result["files"]["pdf"]))
    listed = " ".join(pages[-1].split())
    assert "Gráficos faltantes" in listed and "charts/top_patent_inventors): aún no se ha dibujado" in listed
    assert "charts/cpc_treemap's last render failed (run" in listed and "rendering failed:" in listed
    html = Path(result["files"]["html"]).read_text(encoding="utf-8")
    assert 'id="missing"' in html and "charts/cpc_treemap&#x27;s last render failed" in html

    dates = [p.date for f in families for p in f.publications]  # the key figures, counted here
    figures = " ".join(next(p for p in pages if "Cifras clave" in p and "FAMILIAS" in p).split())
    publications = sum(len(f.publications) for f in families)
    for expected in (f"FAMILIAS DE PATENTES {len(families)}", f"PUBLICACIONES {publications}",
                     f"{min(dates).year}–{max(dates).year} ({max(dates).year - min(dates).year + 1} años)"):
        assert expected in figures, expected
    assert f"{min(dates).isoformat()} – {max(dates).isoformat()}" in " ".join(pages[0].split())


def test_a_new_render_a_failed_attempt_and_descriptions_in_the_next_report(records_home, monkeypatch, capsys):
    home, partition, _, _ = records_home
    chart = "top_patent_countries"
    code, first, _ = report(home, monkeypatch, capsys, partition, "--json", "--charts", chart)
    assert code == 0 and first["charts_included"] == [chart] and first["charts_missing"] == {}
    source = next((home / "artifacts" / partition / "raw").glob("*.csv"))
    assert intelli(home, "run", str(source), "--charts", chart, "--set", "top_n=5").returncode == 0  # new settings
    with FakeOpenAI() as ai:  # a description of that render, from an OpenAI-compatible stand-in
        described = intelli(home, "describe", partition, "--chart", chart, "--model", "vision", "--json",
                            OPENAI_BASE_URL=ai.url, OPENAI_API_KEY=ai.api_key)
    text = json.loads(described.stdout)["text"]
    assert described.returncode == 0 and text
    _, failed = rendered(home, source, chart, BROWSER_PATH="/bin/false")  # then a failed attempt
    assert failed == {chart: "failed"}

    code, second, err = report(home, monkeypatch, capsys, partition, "--json", "--charts", chart, "--language", "en",
                               "--title", "Soil sensors: landscape")
    assert code == 0, err
    assert Path(first["folder"]).is_dir() and Path(second["folder"]) != Path(first["folder"])  # earlier kept
    assert second["charts_included"] == [chart] and "last render failed" in second["charts_stale"][chart]
    pages = " ".join(" ".join(pdf_pages(Path(second["files"]["pdf"]))).split())
    assert "Soil sensors: landscape" in pages and text.split(":")[0] in pages and "AI-generated text (vision" in pages
    assert "The latest attempt to draw this chart failed" in pages
    book = openpyxl.load_workbook(second["files"]["xlsx"])
    fields = {row["field"]: row["value"] for row in sheet_table(book[chart], "fields")}
    assert fields["meta.params.top_n"] == 5 and book[chart]["A2"].value.startswith(f"charts/{chart} · render ")
    with zipfile.ZipFile(second["files"]["zip"]) as archive:
        assert text.split(":")[0] in archive.read(f"charts/{chart}/description.md").decode()
        data = json.loads(archive.read(f"charts/{chart}/chart_data.json"))
    assert data["meta"]["params"]["top_n"] == 5  # the latest render, not the first one
    code, plain, _ = report(home, monkeypatch, capsys, partition, "--json", "--charts", chart, "--no-descriptions")
    html = Path(plain["files"]["html"]).read_text(encoding="utf-8")
    assert code == 0 and 'class="description"' not in html and text.split(":")[0] not in html


def test_intelli_report_refuses_in_one_sentence(records_home, monkeypatch, capsys):
    home, partition, _, _ = records_home
    code, out, err = report(home, monkeypatch, capsys, "no-such-dataset-0123456789", "--json")
    assert code == 2 and out["status"] == "invalid" and "no dataset partition 'no-such-dataset-0123456789'" in err
    code, _, err = report(home, monkeypatch, capsys, partition, "--charts", "pie,cpc_treemap")
    assert code == 2 and "unknown chart 'pie'" in err and err.count("\n") == 1
    code, _, err = report(home, monkeypatch, capsys, partition, "--charts", "top_patent_inventors")
    assert code == 2 and f"nothing is rendered for partition {partition} yet" in err and err.count("\n") == 1
    with dg.DagsterInstance.from_config(str(home)) as instance:
        instance.add_dynamic_partitions("datasets", ["empty-0123456789"])
    code, out, err = report(home, monkeypatch, capsys, "empty-0123456789", "--json")
    assert code == 2 and out["status"] == "invalid" and "nothing is rendered for partition empty-0123456789" in err

    reports = home / "artifacts" / partition / "reports" / "landscape"
    before = sorted(reports.iterdir()) if reports.exists() else []
    monkeypatch.setenv("BROWSER_PATH", "/bin/false")  # no browser can print: the run fails, and leaves nothing
    code, out, err = report(home, monkeypatch, capsys, partition, "--json", "--charts", "top_patent_countries")
    assert code == 1 and out["status"] == "failed" and out["files"] == {}
    assert out["error"].startswith("the report could not be written: report.pdf could not be printed: ")
    assert (sorted(reports.iterdir()) if reports.exists() else []) == before


# --- the PDF comes from the renderer's own browser -----------------------------------------------------

def test_print_pdf_reuses_the_warm_browser(tmp_path, sample_dataset, monkeypatch):
    starts: list[int] = []
    original = ChromiumPipe.start
    monkeypatch.setattr(ChromiumPipe, "start", lambda self: (starts.append(1), original(self))[1])
    page = tmp_path / "page.html"
    page.write_text("<!DOCTYPE html><html><body><h1>Printed by the warm browser</h1>"
                    "<script>window.ready = new Promise(r => setTimeout(() => r(true), 50));</script></body></html>")
    chart = CHARTS["top_patent_countries"].run(sample_dataset, {}, Style())
    with FigureRenderer() as renderer:
        renderer.render(chart.figure, ["svg"])
        pid = renderer.browser_pid
        pdf = renderer.print_pdf(page, "window.ready", {"paperWidth": 8.27, "paperHeight": 11.69})
        again = renderer.render(chart.figure, ["png"])  # the render page is untouched
        assert renderer.browser_pid == pid and starts == [1]
    assert pdf.startswith(b"%PDF-") and again["png"][:4] == b"\x89PNG"
    (tmp_path / "page.pdf").write_bytes(pdf)
    assert "Printed by the warm browser" in pdf_pages(tmp_path / "page.pdf")[0]


# --- the parts without a browser ---------------------------------------------------------------------

def test_any_chart_data_shape_becomes_tables_with_every_number():
    from intelli_assets.report.xlsx import chart_tables

    data = {"type": "heatmap", "x": ["2020", "2021"], "y": ["A", "B", "C"], "z": [[1, 2], [3, 4], [5, 6.25]],
            "links": [{"source": "CN", "target": "EP", "value": 7, "share": {"of_total": 0.5}}],
            "families": [{"rank": 1, "applicants": ["ACME", "FOO"]}, {"rank": 2, "applicants": []}],
            "series": [{"name": "n", "data": [1, 2, 3], "labels": ["a", "b", "c"]}],
            "totals": {"families": 150, "nested": {"deep": 2.5}}, "warnings": [], "flag": True}
    fields, tables = chart_tables(data)
    by_title = {table.title: table for table in tables}
    assert by_title["z"].header == ["y \\ x", "2020", "2021"]  # a grid is headed by the lists naming it
    assert by_title["z"].rows == [["A", 1, 2], ["B", 3, 4], ["C", 5, 6.25]] and by_title["x"].rows == [["2020"], ["2021"]]
    assert by_title["links"].header == ["source", "target", "value", "share.of_total"]
    assert by_title["families"].rows == [[1, "ACME; FOO"], [2, ""]]  # one row per record, names in one cell
    assert by_title["series[0]"].header == ["data", "labels"] and by_title["series[0]"].rows[2] == [3, "c"]
    assert dict(fields) == {"type": "heatmap", "series[0].name": "n", "totals.families": 150,
                            "totals.nested.deep": 2.5, "warnings": None, "flag": True}
    assert numbers([t.rows for t in tables]) + numbers([v for _, v in fields]) == numbers(data)


def test_a_changed_or_missing_render_file_is_refused(tmp_path):
    from intelli_assets.report import RenderChanged, load_render

    files = {}
    for fmt, name, data in (("chart_data", "chart_data.json", b'{"series": [1, 2]}'), ("png", "chart.png", b"png")):
        (tmp_path / name).write_bytes(data)
        files[fmt] = {"path": str(tmp_path / name), "sha256": hashlib.sha256(data).hexdigest()}
    chart = load_render("x", "X", files, params_hash="abc", run_id="r", rendered_at=None)
    assert chart.included and chart.chart_data == {"series": [1, 2]} and chart.figure is None
    for change, problem in ((lambda f: f.write_bytes(b"changed"), "has changed since it was rendered"),
                            (Path.unlink, "is missing")):
        change(tmp_path / "chart.png")
        with pytest.raises(RenderChanged, match=f"chart.png of charts/x {problem}"):
            load_render("x", "X", files, params_hash="abc", run_id="r", rendered_at=None)
