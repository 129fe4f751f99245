"""The Filters workbook reader on real exports, generated ones and broken ones."""

from __future__ import annotations

import pytest
from openpyxl import Workbook

from intelli_assets.dataset import quality_checks
from intelli_assets.errors import InvalidSourceError
from intelli_assets.espacenet import inspect_workbook, match_facet, read_filters_workbook
from intelli_assets.sources import validate_source
from intelli_assets_tests.bad_inputs import BAD_INPUTS, countries_workbook
from intelli_assets_tests.conftest import real_workbook


def facet_counts(facets, facet):
    rows = facets[facets["facet"] == facet]
    return dict(zip(rows["value"], rows["count"]))


def test_reads_real_workbook_countries_and_years():
    facets, report = read_filters_workbook(real_workbook("Filters_20250331_1141"))
    countries = facet_counts(facets, "countries")
    assert (countries["CN"], countries["WO"], countries["US"]) == (192, 30, 29)
    assert sum(countries.values()) == 364
    years = facet_counts(facets, "publication_year")
    assert years["2023"] == 43 and years["2006"] == 2
    assert report.results_count == 241
    assert report.query.startswith('(ctxt all "plant*"')
    assert report.ignored_sheets == []
    assert len(report.recognized) == 13


def test_family_and_truncation_flags():
    facets, _ = read_filters_workbook(real_workbook("Filters_20250331_1141"))
    flags = facets.groupby("facet")[["by_family", "truncated"]].first()
    assert flags.loc["countries", "by_family"] and flags.loc["publication_year", "by_family"]
    assert not flags.loc["applicants", "by_family"]
    # Espacenet cuts inventors at 1000 rows and CPC subgroups at 150
    assert flags.loc["inventors", "truncated"] and flags.loc["cpc_subgroups", "truncated"]
    assert not flags.loc["applicants", "truncated"]


def test_second_real_workbook():
    facets, _ = read_filters_workbook(real_workbook("Filters_20250522_1212"))
    assert facet_counts(facets, "countries")["CN"] == 82
    assert facet_counts(facets, "applicants")["UNIV TONGJI"] == 4
    assert all(c.passed for c in quality_checks(facets))


@pytest.mark.parametrize(
    "sheet, facet",
    [
        ("Earliest publication date (fam", "publication_year"),  # Espacenet's own cut
        ("Earliest publication date (fami", "publication_year"),  # Excel's 31-character cut
        ("countries (FAMILY)", "countries"),
        ("  Applicants ", "applicants"),
        ("Applicants - country", "applicant_countries"),
        ("Countries", "countries"),
        ("Results", None),
        ("Earliest", None),
    ],
)
def test_sheet_matching(sheet, facet):
    assert match_facet(sheet) == facet


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_inputs_name_file_and_fault(case, tmp_path):
    make, expected = BAD_INPUTS[case]
    path = make(tmp_path)
    with pytest.raises(InvalidSourceError) as err:
        validate_source(path)  # what `intelli run` and the inbox call first
    assert str(path) in str(err.value)
    assert expected in str(err.value)


def test_bad_count_names_row_and_value(tmp_path):
    _, report = inspect_workbook(BAD_INPUTS["non_numeric_counts"][0](tmp_path))
    assert not report.ok
    (problem,) = report.problems()
    assert "row 3 has 'many'" in problem


def test_one_bad_sheet_among_good_ones_is_reported_by_name(tmp_path):
    wb = Workbook()
    wb.active.title = "Countries (family)"
    for row in (["Countries (family)", "Number of documents"], ["CN", 5]):
        wb.active.append(row)
    years = wb.create_sheet("Earliest publication date (fam")
    for row in (["Earliest publication date (family)", "Number of documents"], ["twenty", 3]):
        years.append(row)
    path = tmp_path / "mixed.xlsx"
    wb.save(path)
    _, report = inspect_workbook(path)
    assert [s.ok for s in report.recognized] == [True, False]
    assert "years (1782-2100)" in report.problems()[0]
    assert "Earliest publication date (fam" in report.problems()[0]


def test_missing_file(tmp_path):
    with pytest.raises(InvalidSourceError, match="does not exist"):
        read_filters_workbook(tmp_path / "nope.xlsx")


def test_generated_sample_is_valid(sample_workbook):
    facets, report = read_filters_workbook(sample_workbook)
    assert report.ok
    assert facet_counts(facets, "countries")["EC"] == 7
    assert all(c.passed for c in quality_checks(facets))


def test_real_world_variants_are_read(tmp_path):
    """Title rows above the header, counts saved as text with separators, dates for years,
    and an empty sheet (a warning, not a rejection)."""
    wb = Workbook()
    countries = wb.active
    countries.title = "Countries (family)"
    for row in (["Espacenet export"], [None], ["Countries (family)", "Number of documents"],
                ["CN", "1,234"], ["US", "1.002"], ["EC", " 7 "]):
        countries.append(row)
    years = wb.create_sheet("Earliest publication date (fam")
    years.append(["Earliest publication date (family)", "Number of documents"])
    years.append(["2019-05-01", 3])
    years.append([2020, 4])
    wb.create_sheet("Inventors")
    path = tmp_path / "variants.xlsx"
    wb.save(path)
    facets, report = read_filters_workbook(path)
    assert facet_counts(facets, "countries") == {"CN": 1234, "US": 1002, "EC": 7}
    assert facet_counts(facets, "publication_year") == {"2019": 3, "2020": 4}
    inventors = next(s for s in report.recognized if s.facet == "inventors")
    assert inventors.ok and inventors.warnings and "empty" in inventors.warnings[0]


def test_only_empty_sheets_is_invalid(tmp_path):
    wb = Workbook()
    wb.active.title = "Applicants"
    path = tmp_path / "empty-sheets.xlsx"
    wb.save(path)
    with pytest.raises(InvalidSourceError, match="every expected sheet is empty"):
        read_filters_workbook(path)


def test_repeated_value_is_named_with_its_rows(tmp_path):
    path = countries_workbook(tmp_path / "dupes.xlsx", [("CN", 5), ("US", 2), ("CN", 3)])
    with pytest.raises(InvalidSourceError, match="repeats 'CN' \\(rows 2, 4\\)"):
        read_filters_workbook(path)
