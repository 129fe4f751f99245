"""Inputs a hostile probe found mishandled: silent row loss, zero totals, unhelpful messages,
silently dropped years, and labels that were cased, counted or rendered wrongly."""

from __future__ import annotations

import re
from xml.etree import ElementTree

import jsonschema
import pandas as pd
import pytest
from openpyxl import Workbook

from intelli_assets.charts import chart_data_schema, get_chart
from intelli_assets.charts.bars import display_name
from intelli_assets.dataset import Dataset, build_manifest
from intelli_assets.errors import IntelliError, InvalidSourceError
from intelli_assets.espacenet import inspect_workbook, read_filters_workbook
from intelli_assets.sources import SourceData, source_kind
from intelli_assets.style import Style
from intelli_assets_tests.bad_inputs import BAD_INPUTS, countries_workbook, results_list, results_list_csv
from intelli_assets_tests.conftest import dataset_from, real_workbook

CUTOFF = 2024
TIME_SERIES = ["patent_evolution", "patent_cumulative", "patent_trends_cumulative", "patent_forecast"]


def facets_frame(facet: str, rows: list[tuple[str, int]], sheet: str = "sheet") -> pd.DataFrame:
    return pd.DataFrame({"facet": facet, "value": [str(r[0]) for r in rows], "count": [r[1] for r in rows],
                         "by_family": False, "truncated": False, "source_sheet": sheet})


def dataset_of(*frames: pd.DataFrame) -> Dataset:
    """A dataset with a real manifest, as patent_dataset builds it (the reader is bypassed)."""
    facets = pd.concat(frames, ignore_index=True)
    manifest = build_manifest(facets, SourceData("espacenet_excel", facets), {"source_type": "espacenet_excel"})
    manifest["partition_key"] = "probe"
    return Dataset(facets, manifest)


def notes_of(chart) -> str:
    return " ".join(a.text for a in chart.figure.layout.annotations).replace("<br>", " ")


def problems_of(path) -> list[str]:
    _, report = inspect_workbook(path)
    assert not report.ok
    return report.problems()


# 1. a count without a label is an error, not a silently dropped row ---------------------------


def test_count_without_label_is_an_error_with_excel_row_numbers(tmp_path):
    """Title rows above the header, a fully blank row (still skipped) and a merged label cell:
    the rows named are the ones Excel shows."""
    wb = Workbook()
    ws = wb.active
    ws.title = "Countries (family)"
    for row in (["Espacenet export"], [None], ["Countries (family)", "Number of documents"],
                ["CN", 30], [None, 5], ["US", 12], [None, None], ["EP", 7], [None, 7]):
        ws.append(row)  # sheet rows 1-9
    ws.merge_cells("A8:A9")  # the merged cell keeps its value in A8 only
    path = tmp_path / "merged.xlsx"
    wb.save(path)
    assert problems_of(path) == [
        "sheet 'Countries (family)': column 'Countries (family)' is empty in rows 5, 9 that have a count "
        "(12 documents in all); fill in the labels (merged cells?)"
    ]
    with pytest.raises(InvalidSourceError, match="is empty in rows 5, 9"):
        read_filters_workbook(path)


def test_count_without_label_right_under_the_header(tmp_path):
    path = BAD_INPUTS["unlabeled_counts"][0](tmp_path)
    assert problems_of(path) == [
        "sheet 'Countries (family)': column 'Countries (family)' is empty in row 3 that has a count "
        "(12 documents); fill in the labels (merged cells?)"
    ]


def test_fully_blank_rows_are_still_skipped(tmp_path):
    path = countries_workbook(tmp_path / "gaps.xlsx", [("CN", 30), (None, None), ("US", 12), ("   ", None)])
    facets, report = read_filters_workbook(path)
    assert report.ok and dict(zip(facets["value"], facets["count"])) == {"CN": 30, "US": 12}


# 2. zero totals: rejected when read, and never a ZeroDivisionError in a chart ---------------------


def test_all_zero_sheet_is_an_error_even_beside_good_sheets(tmp_path):
    wb = Workbook()
    wb.active.title = "Countries (family)"
    for row in (["Countries (family)", "Number of documents"], ["CN", 0], ["US", 0]):
        wb.active.append(row)
    applicants = wb.create_sheet("Applicants")
    for row in (["Applicants", "Number of documents"], ["UNIV QUITO", 3]):
        applicants.append(row)
    path = tmp_path / "zeros.xlsx"
    wb.save(path)
    assert problems_of(path) == [
        "sheet 'Countries (family)': every count in column 'Number of documents' is 0: the sheet holds no documents"
    ]


def test_every_sheet_empty_or_zero_is_invalid(tmp_path):
    wb = Workbook()
    wb.active.title = "Countries (family)"
    for row in (["Countries (family)", "Number of documents"], ["CN", 0]):
        wb.active.append(row)
    wb.create_sheet("Applicants").append(["Applicants", "Number of documents"])  # header, no rows
    path = tmp_path / "nothing.xlsx"
    wb.save(path)
    problems = problems_of(path)
    assert problems[-1] == "every expected sheet is empty or holds only zero counts: the export holds no documents"
    assert len(problems) == 2


@pytest.mark.parametrize("key, facet", [("top_patent_countries", "countries"),
                                        ("top_patent_applicants", "applicants"),
                                        ("top_patent_inventors", "inventors"),
                                        ("cpc_treemap", "cpc_subgroups"),
                                        *((key, "publication_year") for key in TIME_SERIES)])
def test_zero_total_reaching_a_chart_is_a_clear_error(key, facet):
    values = ("2019", "2020") if facet == "publication_year" else ("A", "B")
    dataset = dataset_of(facets_frame(facet, [(v, 0) for v in values]))
    with pytest.raises(IntelliError, match=f"every count in the '{facet}' facet is 0"):
        get_chart(key).run(dataset, {}, Style())


# 3a. cell values as the user sees them -------------------------------------------------------------


@pytest.mark.parametrize("cell, shown", [(-5, "row 3 has -5"), (3.5, "row 3 has 3.5"), ("many", "row 3 has 'many'"),
                                         (None, "row 3 has an empty cell")])
def test_bad_count_is_quoted_as_excel_shows_it(cell, shown, tmp_path):
    path = countries_workbook(tmp_path / "bad.xlsx", [("CN", 12), ("US", cell), ("EP", 1.0)])
    (problem,) = problems_of(path)
    assert shown in problem and "np." not in problem


@pytest.mark.parametrize("cell, shown", [(1750, "row 3 has 1750"), (2019.5, "row 3 has 2019.5"),
                                         ("twenty", "row 3 has 'twenty'")])
def test_bad_year_is_quoted_as_excel_shows_it(cell, shown, tmp_path):
    wb = Workbook()
    wb.active.title = "Earliest publication date (fam"
    for row in (["Earliest publication date (family)", "Number of documents"], [2019, 3], [cell, 4]):
        wb.active.append(row)
    path = tmp_path / "years.xlsx"
    wb.save(path)
    (problem,) = problems_of(path)
    assert shown in problem and "np." not in problem


# 3b. a formula without a saved value is named as the cause ----------------------------------------


def test_formula_without_cached_value_is_named(tmp_path):
    (problem,) = problems_of(BAD_INPUTS["formula_without_value"][0](tmp_path))
    assert problem == (
        "sheet 'Countries (family)': column 'Number of documents' must hold non-negative whole numbers; "
        "row 4 has a formula (=SUM(B2:B3)) with no saved value; open and save the workbook in Excel "
        "(or LibreOffice) so its values are stored"
    )


def test_formula_is_found_below_title_rows(tmp_path):
    wb = Workbook()
    wb.active.title = "Applicants"
    for row in (["Espacenet export"], ["Applicants", "Number of documents"], ["UNIV QUITO", 5],
                ["INIAP", "=B3*2"]):
        wb.active.append(row)
    path = tmp_path / "formula-low.xlsx"
    wb.save(path)
    (problem,) = problems_of(path)
    assert "row 4 has a formula (=B3*2) with no saved value" in problem


def test_label_formula_without_cached_value_is_named(tmp_path):
    """A year computed by a formula nobody saved reads as an empty label beside its count."""
    wb = Workbook()
    wb.active.title = "Earliest publication date (fam"
    for row in (["Earliest publication date (family)", "Number of documents"], [2019, 3], ["=A2+1", 4]):
        wb.active.append(row)
    path = tmp_path / "year-formula.xlsx"
    wb.save(path)
    (problem,) = problems_of(path)
    assert problem == (
        "sheet 'Earliest publication date (fam': column 'Earliest publication date (family)' is empty in row 3 "
        "that has a count (4 documents); row 3 has a formula (=A2+1) with no saved value; open and save the "
        "workbook in Excel (or LibreOffice) so its values are stored"
    )


# 3c. encrypted workbooks and renamed .xls files ---------------------------------------------------


@pytest.mark.parametrize("case, message", [
    ("encrypted", "the workbook is password-protected (encrypted); remove the password in Excel "
                  "(File > Info > Protect Workbook) and export again"),
    ("xls_renamed", "an old binary .xls workbook saved with an .xlsx name"),
])
def test_ole2_files_with_an_xlsx_name(case, message, tmp_path):
    with pytest.raises(InvalidSourceError) as err:
        read_filters_workbook(BAD_INPUTS[case][0](tmp_path))
    assert message in err.value.problems[0]
    assert "zip archive" not in str(err.value)


# 3d. results lists are recognised, as .xlsx and as .csv ------------------------------------------

RESULTS_LIST_MESSAGE = (
    "this is an Espacenet results list (one row per publication), not a Filters export; read it as a "
    "results list (`intelli run` and the inbox tell the two apart)"
)


def test_results_list_is_recognised_by_the_filters_reader(tmp_path):
    with pytest.raises(InvalidSourceError) as err:
        read_filters_workbook(results_list(tmp_path))
    assert err.value.problems == [RESULTS_LIST_MESSAGE]
    assert source_kind(results_list(tmp_path)) == source_kind(results_list_csv(tmp_path)) == "espacenet_results_list"


def test_results_list_header_in_the_first_row(tmp_path):
    wb = Workbook()
    wb.active.title = "Results"
    wb.active.append(["Title", "Publication number", "Applicants"])
    wb.active.append(["A plant", "EP1234567", "UNIV QUITO"])
    path = tmp_path / "bare-results.xlsx"
    wb.save(path)
    assert problems_of(path) == [RESULTS_LIST_MESSAGE]


def test_unknown_workbook_and_other_csv_keep_their_messages(tmp_path):
    (problem,) = problems_of(BAD_INPUTS["no_expected_sheets"][0](tmp_path))
    assert problem.startswith("none of the expected sheets were found (expected any of: Countries (family), ")
    assert problem.endswith("; found: 'Sheet1')")  # the sheets that are there (it said 'none')
    other = tmp_path / "numbers.csv"
    other.write_text("a;b\n1;2\n")
    with pytest.raises(InvalidSourceError, match="unsupported file type '.csv'"):
        read_filters_workbook(other)


# 4. years outside the window are reported, and cumulative totals start from them ---------------

YEARS = [("1990", 5), ("2003", 7), ("2010", 4), ("2012", 2), ("2020", 6), ("2025", 3), ("2026", 28)]
WINDOW = {"start": 2005, "end": 2024, "cutoff_year": 2024, "years_before": [1990, 2003], "publications_before": 12,
          "years_after": [2025, 2026], "publications_after": 31}


@pytest.mark.parametrize("key", TIME_SERIES)
def test_years_outside_the_window_are_counted_in_a_footnote_and_chart_data(key):
    dataset = dataset_of(facets_frame("publication_year", YEARS))
    en = get_chart(key).run(dataset, {"cutoff_year": CUTOFF}, Style(language="en"))
    assert en.chart_data["window"] == WINDOW
    assert ("Shown: 2005-2024. Not shown: 12 publications before 2005 and 31 after 2024 (the cutoff year)."
            in notes_of(en))
    jsonschema.validate(en.chart_data, chart_data_schema(key))
    broken = {**en.chart_data, "window": {k: v for k, v in WINDOW.items() if k != "publications_after"}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, chart_data_schema(key))
    es = get_chart(key).run(dataset, {"cutoff_year": CUTOFF}, Style(language="es"))
    assert ("Se muestran 2005-2024. No se muestran: 12 publicaciones anteriores a 2005 y 31 posteriores a 2024 "
            "(el año de corte)." in notes_of(es))


def test_no_window_footnote_when_every_year_is_shown():
    dataset = dataset_of(facets_frame("publication_year", [("2010", 4), ("2011", 1)]))
    chart = get_chart("patent_evolution").run(dataset, {"cutoff_year": CUTOFF}, Style(language="en"))
    assert "Not shown" not in notes_of(chart)
    assert chart.chart_data["window"] == {"start": 2005, "end": 2024, "cutoff_year": 2024, "years_before": None,
                                          "publications_before": 0, "years_after": None, "publications_after": 0}


@pytest.mark.parametrize("key", ["patent_cumulative", "patent_trends_cumulative"])
def test_cumulative_starts_from_the_running_total_before_the_window(key):
    dataset = dataset_of(facets_frame("publication_year", YEARS))
    chart = get_chart(key).run(dataset, {"cutoff_year": CUTOFF}, Style())
    data = chart.chart_data
    assert data["cumulative_before_window"] == 12
    assert [(p["year"], p["annual_publications"], p["cumulative_publications"]) for p in data["series"]][:3] == \
        [(2010, 4, 16), (2011, 0, 16), (2012, 2, 18)]
    assert data["series"][-1] == {"year": 2020, "annual_publications": 6, "cumulative_publications": 24}
    assert data["total_cumulative"] == 24
    cumulative_trace = chart.figure.data[-1]
    assert list(cumulative_trace.y)[0] == 16 and list(cumulative_trace.y)[-1] == 24


def test_forecast_fits_only_the_window():
    dataset = dataset_of(facets_frame("publication_year", YEARS))
    data = get_chart("patent_forecast").run(dataset, {"cutoff_year": CUTOFF}, Style()).chart_data
    assert [p["publications"] for p in data["historical_series"]] == [4, 0, 2, 0, 0, 0, 0, 0, 0, 0, 6]


# 5. the truncation note quotes Espacenet's cap -------------------------------------------------


def test_truncation_note_quotes_the_cap_not_the_row_count():
    rows = [(f"INVENTOR {i:04d}", 2 if i < 10 else 1) for i in range(1003)]  # an edited sheet, over the cap
    frame = facets_frame("inventors", rows, "Inventors").assign(truncated=True)
    dataset = dataset_of(frame)
    assert dataset.manifest["summary_stats"]["facets"]["inventors"]["row_cap"] == 1000
    chart = get_chart("top_patent_inventors").run(dataset, {}, Style(language="en"))
    assert "Espacenet cut this list at 1000 rows" in notes_of(chart)
    assert "1003" not in notes_of(chart)


def test_truncation_note_on_a_real_export_quotes_the_cap():
    """The real CPC subgroups sheet holds 151 rows (Espacenet's cap of 150 plus one)."""
    dataset = dataset_from(real_workbook("Filters_20250331_1141"))
    assert dataset.manifest["summary_stats"]["facets"]["cpc_subgroups"]["rows"] == 151
    chart = get_chart("cpc_treemap").run(dataset, {}, Style(language="en"))
    assert "Note: Espacenet cut this list at 150 rows." in notes_of(chart)


# 6a. names keep their acronyms -----------------------------------------------------------------


@pytest.mark.parametrize("raw, shown", [
    ("INIAP", "INIAP"),
    ("UNIV TONGJI", "Univ Tongji"),
    ("ZHEJIANG CO LTD", "Zhejiang Co Ltd"),
    ("GARCIA ANA", "Garcia Ana"),
    ("LG ELECTRONICS INC", "LG Electronics Inc"),
    ("3M INNOVATIVE PROPERTIES CO", "3M Innovative Properties Co"),
    ("O'BRIEN PATRICK", "O'Brien Patrick"),
    ("DUPONT'S LAB", "Dupont's Lab"),
    ("UNIV TONGJI [CN]", "Univ Tongji [CN]"),
    ("ESPOL ESCUELA SUPERIOR POLITECNICA", "ESPOL Escuela Superior\nPolitecnica"),
    ("ESPOL", "ESPOL"),
    ("BAYER AG", "Bayer AG"),
    ("SIEMENS GMBH", "Siemens GmbH"),
    ("JEAN-PIERRE DURAND", "Jean-Pierre Durand"),
    ("ST JUDE MEDICAL", "St Jude Medical"),
    ("McDonald RONALD", "McDonald Ronald"),  # already cased in the source: kept
    ("CHINA CONSTR 8TH ENG DIVISION", "China Constr 8th Eng Division"),
    ("NESTLE SA", "Nestle SA"),
    ("CHOI SA RANG", "Choi Sa Rang"),  # a legal form only as the last word
    ("VYRIPHARM ENTPR LLC", "Vyripharm Entpr LLC"),
])
def test_display_name_keeps_acronyms(raw, shown):
    assert display_name(raw) == shown


@pytest.mark.parametrize("raw, shown", [("GE HANWEN", "Ge Hanwen"), ("NG WAI KIT", "Ng Wai Kit"),
                                        ("LIU CHANG'E", "Liu Chang'e"), ("KIM SE", "Kim Se")])
def test_people_names_are_only_title_cased(raw, shown):
    assert display_name(raw, organisation=False) == shown


def test_applicants_keep_acronyms_and_inventors_do_not():
    ds = dataset_of(facets_frame("applicants", [("LG ELECTRONICS INC", 3), ("INIAP", 2)], "Applicants"),
                    facets_frame("inventors", [("GE HANWEN", 3), ("LYU BO", 1)], "Inventors"))
    applicants = get_chart("top_patent_applicants").run(ds, {}, Style()).chart_data["series"]
    assert [s["name"] for s in applicants] == ["INIAP", "LG Electronics Inc"]
    inventors = get_chart("top_patent_inventors").run(ds, {}, Style()).chart_data["series"]
    assert [s["name"] for s in inventors] == ["Lyu Bo", "Ge Hanwen"]


# 6b. user text is never read as Plotly HTML ----------------------------------------------------


def html_dataset() -> Dataset:
    return dataset_of(
        facets_frame("applicants", [("<b>ACME</b>", 9), ("R&D LAB", 4), ("UNIV QUITO", 2)], "Applicants"),
        facets_frame("countries", [("CN", 9), ("<I>X</I>", 4)], "Countries (family)"),
        facets_frame("cpc_subgroups", [("<i>A01G</i>", 9), ("C12N1/20", 3)], "CPC subgroups"),
    )


def test_labels_are_escaped_in_the_figure_but_raw_in_chart_data():
    ds = html_dataset()
    applicants = get_chart("top_patent_applicants").run(ds, {}, Style())
    assert "&lt;b&gt;Acme&lt;/b&gt;" in applicants.figure.data[0].y
    assert "R&amp;D Lab" in applicants.figure.data[0].y
    assert "<b>Acme</b>" in [s["name"] for s in applicants.chart_data["series"]]
    countries = get_chart("top_patent_countries").run(ds, {}, Style())
    assert "&lt;I&gt;X&lt;/I&gt;" in countries.figure.data[0].y
    assert "<I>X</I>" in countries.chart_data["series"][0]["labels"]
    treemap = get_chart("cpc_treemap").run(ds, {}, Style())
    assert "&lt;i&gt;A01G&lt;/i&gt;" in treemap.figure.data[0].labels
    assert "<i>A01G</i>" in [s["name"] for s in treemap.chart_data["series"]]


def test_wrapped_long_names_are_escaped_before_the_line_break():
    ds = dataset_of(facets_frame("applicants", [("<B>VERY LONG APPLICANT NAME</B> & SONS", 3)], "Applicants"))
    (name,) = get_chart("top_patent_applicants").run(ds, {}, Style()).figure.data[0].y
    assert name == "&lt;B&gt;Very Long Applicant<br>Name&lt;/B&gt; &amp; Sons"


def test_escaped_labels_render_as_literal_text(renderer):
    """In the drawn SVG the tick label is the text '<b>Acme</b>', not a bold 'Acme'."""
    chart = get_chart("top_patent_applicants").run(html_dataset(), {}, Style())
    svg = renderer.render(chart.figure, ["svg"])["svg"].decode()
    texts = ["".join(t.itertext()) for t in ElementTree.fromstring(svg).iter("{http://www.w3.org/2000/svg}text")]
    assert "<b>Acme</b>" in texts and "R&D Lab" in texts
    assert not re.search(r"font-weight:\s*bold", svg)


# 6c. titles count what is shown ------------------------------------------------------------------


def test_countries_title_is_localized_and_counts_the_bars():
    ds = dataset_of(facets_frame("countries", [(f"C{i}", 20 - i) for i in range(13)], "Countries (family)"))
    for language, title in (("es", "Top 13 jurisdicciones de publicación"), ("en", "Top 13 publication jurisdictions")):
        chart = get_chart("top_patent_countries").run(ds, {"top_n": 15}, Style(language=language, title="auto"))
        assert chart.chart_data["title"] == title
        assert chart.figure.layout.title.text == title


@pytest.mark.parametrize("key, facet, title", [("top_patent_applicants", "applicants", "Top 3 applicants"),
                                               ("top_patent_inventors", "inventors", "Top 3 inventors"),
                                               ("cpc_treemap", "cpc_subgroups", "Top 3 CPC subgroups")])
def test_ranked_titles_count_what_is_shown(key, facet, title):
    ds = dataset_of(facets_frame(facet, [("A01", 5), ("B02", 3), ("C03", 1)]))
    chart = get_chart(key).run(ds, {}, Style(language="en", title="auto"))
    assert chart.figure.layout.title.text == title


# 6d. tiny shares are "<0.1%", never "0.0%" -------------------------------------------------------


def test_tiny_shares_are_shown_as_below_a_tenth_of_a_percent():
    ds = dataset_of(facets_frame("countries", [("CN", 5000), ("EC", 1)], "Countries (family)"),
                    facets_frame("applicants", [("BIG CO", 5000), ("SMALL CO", 1)], "Applicants"),
                    facets_frame("cpc_subgroups", [("A01G22/00", 5000), ("C12N1/20", 1)], "CPC subgroups"))
    countries = get_chart("top_patent_countries").run(ds, {}, Style()).figure.data[0]
    assert dict(zip(countries.y, countries.text))["EC"] == "1 (&lt;0.1%)"
    applicants = get_chart("top_patent_applicants").run(ds, {}, Style())
    assert dict(zip(applicants.figure.data[0].y, applicants.figure.data[0].text))["Small Co"] == "1 (&lt;0.1%)"
    assert applicants.chart_data["series"][0]["percentage"] == 0.02
    treemap = get_chart("cpc_treemap").run(ds, {}, Style()).figure.data[0]
    assert list(treemap.customdata) == ["100.0%", "&lt;0.1%"]
    assert "%{customdata}" in treemap.texttemplate and ":.1f" not in treemap.texttemplate


def test_an_implausibly_large_count_is_rejected_at_validation(tmp_path):
    """A count no export can hold (a typo, a wrong column) used to pass validation and then
    fail the dataset's blocking check after the partition was added."""
    path = countries_workbook(tmp_path / "huge.xlsx", [("CN", 12), ("US", 10**20)])
    with pytest.raises(InvalidSourceError, match=r"implausible number of documents: row 3 has 100000000000000000000 "
                                                 r"\(more than 1,000,000,000\)"):
        read_filters_workbook(path)
