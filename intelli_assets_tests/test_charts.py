"""Chart algorithms: parity with the old backend's numbers, its bugs fixed, params checked."""

from __future__ import annotations

import datetime as dt
import json

import jsonschema
import pandas as pd
import pytest

from intelli_assets.charts import CHARTS, chart_data_schema, get_chart
from intelli_assets.charts.timeseries import default_cutoff_year
from intelli_assets.dataset import Dataset
from intelli_assets.errors import ChartParamError, MissingFacetError
from intelli_assets.style import Style
from intelli_assets_tests.conftest import REAL_WORKBOOKS, SHARED_DATA, dataset_from, real_workbook

# the reference was produced on 2026-11-29, so its cutoff year is 2024
REFERENCE_CUTOFF = 2024


def run(key: str, dataset: Dataset, **params) -> dict:
    spec = get_chart(key)
    if any(p.name == "cutoff_year" for p in spec.params):
        params.setdefault("cutoff_year", REFERENCE_CUTOFF)
    return spec.run(dataset, params, Style()).chart_data


def reference(workbook: str) -> dict:
    path = SHARED_DATA / "seed-reference" / f"{workbook}.chart_data.json"
    if not path.exists():
        pytest.skip(f"reference data not available: {path}")
    return {k: v["chart_data"] for k, v in json.loads(path.read_text()).items()}


def as_set(series: list[dict]) -> set[tuple]:
    # names compared regardless of case: the casing rule changed on purpose (acronyms and legal
    # forms kept, 'Bayer AG' not 'Bayer Ag'; tested in test_data_hardening), the text did not
    return {(s["name"].casefold(), s["value"], s["percentage"]) for s in series}


@pytest.fixture(scope="module", params=REAL_WORKBOOKS)
def real(request):
    return request.param, dataset_from(real_workbook(request.param)), reference(request.param)


def test_parity_ranked_bars_and_treemap(real):
    _, dataset, ref = real
    for key in ("top_patent_applicants", "top_patent_inventors", "cpc_treemap"):
        mine = run(key, dataset)
        # the old code sorted ties unstably; compare the rows, not their tie order
        assert as_set(mine["series"]) == as_set(ref[key]["series"]), key
        assert mine["total_publications"] == ref[key]["total_publications"], key
        assert [s["value"] for s in mine["series"]] == [s["value"] for s in ref[key]["series"]], key


def test_parity_countries(real):
    _, dataset, ref = real
    mine, old = run("top_patent_countries", dataset), ref["top_patent_countries"]
    assert mine["totals"]["total_publications"] == old["totals"]["total_publications"]
    old_pairs = dict(zip(old["series"][0]["labels"], old["series"][0]["data"]))
    if old_pairs.get("Others") == 0:
        del old_pairs["Others"]  # a zero 'Others' bar carries no information: no longer drawn
    assert dict(zip(mine["series"][0]["labels"], mine["series"][0]["data"])) == old_pairs
    ranked = [v for label, v in zip(mine["series"][0]["labels"], mine["series"][0]["data"]) if label != "Others"]
    assert ranked == sorted(ranked)  # ascending: the largest bar is drawn on top
    assert mine["warnings"] == old["warnings"]


# publications before the 2005-2024 window: F1 has 1973 (2), 1989, 1990, 1994, 1998 (1 each), 1999 (2)
BEFORE_WINDOW = {"Filters_20250331_1141": 8, "Filters_20250522_1212": 0}


def test_parity_yearly_series(real):
    name, dataset, ref = real
    before = BEFORE_WINDOW[name]
    mine = run("patent_evolution", dataset)
    assert mine["series"] == ref["patent_evolution"]["series"]
    assert mine["total_publications"] == ref["patent_evolution"]["total_publications"]
    assert mine["window"]["publications_before"] == before
    for key in ("patent_cumulative", "patent_trends_cumulative"):
        mine, old = run(key, dataset), ref[key]
        assert mine["years_range"] == old["years_range"], key
        # the annual series is the old one; the running total is deliberately not: the old
        # backend restarted it at 0 in the window's first year (a listed bug), it now carries
        # the publications of the years before the window
        assert [(p["year"], p["annual_publications"]) for p in mine["series"]] == \
            [(p["year"], p["annual_publications"]) for p in old["series"]], key
        assert [p["cumulative_publications"] for p in mine["series"]] == \
            [p["cumulative_publications"] + before for p in old["series"]], key
        assert mine["cumulative_before_window"] == before
        assert mine["total_cumulative"] == old["total_cumulative"] + before


def test_parity_forecast_values_with_fixed_years(real):
    _, dataset, ref = real
    mine, old = run("patent_forecast", dataset), ref["patent_forecast"]
    assert mine["historical_series"] == old["historical_series"]
    for model in ("forecast_ets", "forecast_arima"):
        assert [p["forecast"] for p in mine[model]] == pytest.approx([p["forecast"] for p in old[model]], rel=1e-4)
    # fixed: step 1 is the year after the last data year, not cutoff + 2
    last = mine["historical_series"][-1]["year"]
    assert mine["forecast_years"] == list(range(last + 1, last + 7))
    assert old["forecast_years"][0] == REFERENCE_CUTOFF + 2 != mine["forecast_years"][0]


def test_cagr_uses_window_start_and_end(real):
    name, dataset, ref = real
    mine = run("patent_forecast", dataset)
    assert ref["patent_forecast"]["cagr_rate"] is None  # the old bug: missing for both workbooks
    series = {p["year"]: p["publications"] for p in mine["historical_series"]}
    start, end = mine["cagr_period"]["start"], mine["cagr_period"]["end"]
    assert end == max(series) and series[start] > 0
    expected = ((series[end] / series[start]) ** (1 / (end - start)) - 1) * 100
    assert mine["cagr_rate"] == pytest.approx(round(expected, 2))
    assert mine["models"]["arima"]["order"] == ([1, 1, 0] if name.endswith("1141") else [0, 1, 0])


def countries_dataset(rows: list[tuple[str, int]]) -> Dataset:
    facets = pd.DataFrame({"facet": "countries", "value": [r[0] for r in rows], "count": [r[1] for r in rows],
                           "by_family": True, "truncated": False, "source_sheet": "Countries (family)"})
    return Dataset(facets, {"partition_key": "t", "summary_stats": {"facets": {}}})


def test_highlight_country_inside_top_n_is_drawn_once():
    ds = countries_dataset([("CN", 50), ("US", 30), ("EC", 20), ("BR", 5), ("MX", 4), ("PE", 1)])
    data = run("top_patent_countries", ds, top_n=3)
    labels = data["series"][0]["labels"]
    assert labels.count("EC") == 1  # the old code appended it again
    assert labels == ["Others", "EC", "US", "CN"]
    assert sum(data["series"][0]["data"]) == data["totals"]["total_publications"] == 110
    assert (data["totals"]["ecuador_rank"], data["totals"]["ecuador_publications"]) == (3, 20)


def test_highlight_country_outside_top_n_gets_its_own_bar_and_leaves_others():
    ds = countries_dataset([("CN", 50), ("US", 30), ("BR", 5), ("MX", 4), ("EC", 2), ("PE", 1)])
    data = run("top_patent_countries", ds, top_n=2)
    pairs = dict(zip(data["series"][0]["labels"], data["series"][0]["data"]))
    assert pairs == {"Others": 10, "EC": 2, "US": 30, "CN": 50}
    assert data["totals"]["highlight_rank"] == 5


def test_other_highlight_country():
    ds = countries_dataset([("CN", 50), ("US", 30), ("BR", 5)])
    chart = get_chart("top_patent_countries").run(ds, {"top_n": 1}, Style(highlight_country="br"))
    assert chart.chart_data["totals"]["highlight_rank"] == 3
    assert chart.chart_data["totals"]["ecuador_rank"] is None
    colors = chart.figure.data[0].marker.color
    assert colors[chart.chart_data["series"][0]["labels"].index("BR")] == Style().colors.accent


def test_missing_sheet_fails_clearly_instead_of_using_another(sample_dataset):
    only_countries = Dataset(sample_dataset.facets[sample_dataset.facets["facet"] == "countries"],
                             {"partition_key": "p1"})
    with pytest.raises(MissingFacetError, match="'cpc_subgroups' facet \\(sheet 'CPC subgroups'\\)"):
        get_chart("cpc_treemap").run(only_countries, {}, Style())


def test_cutoff_year_is_computed_per_call():
    assert default_cutoff_year(dt.date(2031, 6, 1)) == 2029
    assert default_cutoff_year() == dt.date.today().year - 2


def test_explicit_cutoff_moves_the_window(sample_dataset):
    data = run("patent_evolution", sample_dataset, cutoff_year=2015)
    assert data["years_range"]["end"] == 2015 and data["cutoff_year"] == 2015


def test_empty_window_names_the_data_range(sample_dataset):
    with pytest.raises(MissingFacetError, match="no publication years in the window 1981-2000; the data covers 2004-2024"):
        run("patent_evolution", sample_dataset, cutoff_year=2000)


@pytest.mark.parametrize("value", [0, -3, True, 2.5, "ten", None, 10_000])
def test_invalid_params_fail_before_work(value, sample_dataset):
    with pytest.raises(ChartParamError, match="top_n"):
        get_chart("top_patent_countries").run(sample_dataset, {"top_n": value}, Style())


def test_unknown_param_is_named():
    with pytest.raises(ChartParamError, match="has no parameter 'top_m'"):
        get_chart("top_patent_countries").validate_params({"top_m": 3})


@pytest.mark.parametrize("field, value", [("palette", "neon"), ("language", "fr"), ("font_size", "huge"),
                                          ("highlight_country", "Ecuador"), ("width", 10)])
def test_invalid_style_is_named(field, value):
    with pytest.raises(ChartParamError, match=field):
        Style(**{field: value})


def test_fewer_rows_than_top_n_warns_instead_of_failing(sample_dataset):
    data = run("top_patent_applicants", sample_dataset, top_n=500)
    assert len(data["series"]) == 60
    assert "showing all of them" in data["warnings"][0]


def test_labels_follow_old_rules(real):
    _, dataset, _ = real
    names = [s["name"] for s in run("top_patent_applicants", dataset, top_n=40)["series"]]
    assert all(len(line) <= 30 for n in names for line in n.split("\n"))
    assert all(len(n.replace("\n", " ")) <= 40 for n in names)


@pytest.mark.parametrize("key", sorted(k for k, spec in CHARTS.items() if not spec.needs_records))
def test_chart_data_matches_its_schema(key, sample_dataset):  # record-level charts: test_record_charts.py
    chart = get_chart(key).run(sample_dataset, {}, Style(language="en"))
    jsonschema.validate(chart.chart_data, chart_data_schema(key))
    assert chart.chart_data["meta"]["algorithm_key"] == key


def test_schemas_reject_the_old_shape_where_it_changed():
    """The schema is a contract: a forecast without its model record is not valid."""
    broken = {"type": "forecast_line", "historical_series": [], "warnings": []}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, chart_data_schema("patent_forecast"))


@pytest.mark.parametrize("language, axis", [("es", "Número de Patentes Publicadas"), ("en", "Number of Published Patents")])
def test_language_applies_to_labels_and_footnotes(language, axis, sample_dataset):
    chart = get_chart("top_patent_applicants").run(sample_dataset, {}, Style(language=language))
    assert chart.chart_data["x_axis"] == axis
    notes = " ".join(a.text for a in chart.figure.layout.annotations)
    assert ("solicitantes" in notes) == (language == "es")
    assert chart.figure.layout.xaxis.title.text == axis


def test_title_is_optional(sample_dataset):
    spec = get_chart("patent_evolution")
    assert spec.run(sample_dataset, {}, Style()).figure.layout.title.text is None
    assert spec.run(sample_dataset, {}, Style(title="auto", language="en")).figure.layout.title.text == \
        "Patent publications per year"
    assert spec.run(sample_dataset, {}, Style(title="Mi título")).figure.layout.title.text == "Mi título"
