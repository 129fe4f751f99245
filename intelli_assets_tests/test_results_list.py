"""Espacenet results lists (CSV and XLSX, one row per family) read into the records table."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest
from openpyxl import Workbook

from intelli_assets import results_list
from intelli_assets.errors import InvalidSourceError
from intelli_assets.records import facets_from_records, records_summary
from intelli_assets.results_list import is_results_list, read_results_list

D = dt.date
HEADER = ["No", "Title", "Inventors", "Applicants", "Publication number", "Earliest priority", "IPC", "CPC",
          "Publication date", "Earliest publication", "Family number", "Notes"]
# embedded line breaks are CRLF, as Espacenet writes them; comments give the lines each row spans
ROWS = [
    ["1", "Battery cell", "DOE John [US]\r\nMÜLLER Anna [DE]", "ACME CORP [US]\r\nBETA   GMBH [DE]\r\nSOLO PERSON",
     "EP3456789A1\r\nUS2020123456A1\r\nUS10123456B2", "2018-05-01\r\n2018-03-02", "H01M 10/05\r\nH01M10/05",
     "H01M10/052 (EP, US)\r\nH01M 10/0525 (2013.01)\r\nH01M10/052", "2019-11-06\r\n2020-04-02\r\n2021-02-01",
     "2019-11-06", "100", "x"],  # 12 lines
    ["2", "Anode", "", "ACME CORP [US]", "JPH0123456A", "2017-01-10", "", "H01M4/13 (2010.01)", "1999-02-01", "", "",
     ""],
    [""] * 12,  # blank: skipped, but still a line
    ["3", "Separator", "LEE Min [KR]", "ACME CORP [US]\r\nGAMMA CO [KR]", "CN110123456A\r\nKR20200012345A",
     "2019-06-01", "H01M50/40", "H01M50/409\r\nH01M50/40 (EP)", "2020-03-03", "2020-03-03", "200", ""],  # 4 lines
    ["4", "Electrolyte", "", "DELTA AG [DE]", "WO2018123456A1, EP3000001B1", "2017-12-01", "", "H01M10/0565",
     "2018-07-05\r\n2019-01-09", "2018-07-05", "300", ""],
]


def quoted(cells: list[str]) -> str:
    return ";".join('"' + c.replace('"', '""') + '"' for c in cells)


def write_csv(path, rows, header=HEADER, meta=("Query: ta=battery AND pd>=2018",), bom=True, encoding="utf-8"):
    lines = [quoted([m]) if m else "" for m in meta] + [quoted(header)] + [quoted(r) for r in rows]
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + "\r\n".join(lines + [""]).encode(encoding))
    return path


def facet(records, name: str) -> dict[str, int]:
    facets = facets_from_records(records)
    rows = facets[facets["facet"] == name]
    return dict(zip(rows["value"], rows["count"]))


def problems(excinfo) -> str:
    assert excinfo.value.kind == "Espacenet results list"
    return "\n".join(excinfo.value.problems)


@pytest.mark.parametrize("meta", [("Query: ta=battery AND pd>=2018",),
                                  ("Espacenet", "Query: ta=battery AND pd>=2018", "Date: 2024-05-01", "")])
def test_csv_results_list_becomes_one_record_per_publication(tmp_path, meta):
    path = write_csv(tmp_path / "results.csv", ROWS, meta=meta)
    assert is_results_list(path)
    records, info = read_results_list(path)
    m = len(meta)
    assert (info.format, info.sheet, info.header_row, info.query) == ("csv", None, m + 1, "ta=battery AND pd>=2018")
    assert (info.rows, info.publications) == (4, 8)
    assert info.columns_map["Family number"] == "family_id"
    assert info.columns_map["Notes"] == "ignored" and info.columns_map["No"].startswith("ignored")
    assert any("'Notes'" in w for w in info.warnings)
    r = records.to_pydict()
    assert r["publication_number"] == ["EP3456789A1", "US2020123456A1", "US10123456B2", "JPH0123456A", "CN110123456A",
                                       "KR20200012345A", "WO2018123456A1", "EP3000001B1"]
    assert r["jurisdiction"] == ["EP", "US", "US", "JP", "CN", "KR", "WO", "EP"]
    assert r["doc_number"] == ["3456789", "2020123456", "10123456", "H0123456", "110123456", "20200012345",
                               "2018123456", "3000001"]
    assert r["kind"] == ["A1", "A1", "B2", "A", "A", "A", "A1", "B1"]
    # dates zip with the numbers; a single date belongs to the first number only
    assert r["publication_date"] == [D(2019, 11, 6), D(2020, 4, 2), D(2021, 2, 1), D(1999, 2, 1), D(2020, 3, 3), None,
                                     D(2018, 7, 5), D(2019, 1, 9)]
    assert r["earliest_priority_date"] == [D(2018, 3, 2)] * 3 + [D(2017, 1, 10)] + [D(2019, 6, 1)] * 2 + [D(2017, 12, 1)] * 2
    # an empty 'Earliest publication' falls back to the row's earliest publication date
    assert r["family_earliest_publication_date"] == ([D(2019, 11, 6)] * 3 + [D(1999, 2, 1)] + [D(2020, 3, 3)] * 2
                                                     + [D(2018, 7, 5)] * 2)
    assert r["family_id"] == ["100"] * 3 + ["JPH0123456A"] + ["200"] * 2 + ["300"] * 2  # no number: the row's first
    assert r["family_size"] == [3, 3, 3, 1, 2, 2, 2, 2]
    assert r["applicants"][0] == ["ACME CORP", "BETA GMBH", "SOLO PERSON"]
    assert r["applicant_countries"][0] == ["US", "DE", ""]
    assert (r["inventors"][0], r["inventor_countries"][0]) == (["DOE John", "MÜLLER Anna"], ["US", "DE"])
    assert (r["inventors"][3], r["inventor_countries"][3]) == ([], [])
    assert r["ipc"][0] == ["H01M10/05"] and r["ipc"][3] == []
    assert r["cpc"][0] == ["H01M10/052", "H01M10/0525"] and r["cpc"][4] == ["H01M50/409", "H01M50/40"]
    assert r["title"][4] == "Separator" and r["title_language"][4] == ""
    assert set(r["source"]) == {"espacenet_results_list"} and r["language"] == [None] * 8
    # the line an editor shows each record on: rows 1 and 3 span 12 and 4 lines, a blank line between
    assert r["source_id"] == [f"line {m + 2}"] * 3 + [f"line {m + 14}"] + [f"line {m + 16}"] * 2 + [f"line {m + 20}"] * 2

    # counted by family: two US publications of family 100 count once
    assert facet(records, "countries") == {"EP": 2, "US": 1, "JP": 1, "CN": 1, "KR": 1, "WO": 1}
    assert facet(records, "applicants") == {"ACME CORP": 3, "BETA GMBH": 1, "SOLO PERSON": 1, "GAMMA CO": 1,
                                            "DELTA AG": 1}
    assert facet(records, "applicant_countries") == {"US": 3, "DE": 2, "KR": 1}
    assert facet(records, "inventor_countries") == {"US": 1, "DE": 1, "KR": 1}
    assert facet(records, "publication_year") == {"1999": 1, "2018": 1, "2019": 1, "2020": 1}
    assert facet(records, "priority_year") == {"2017": 2, "2018": 1, "2019": 1}
    assert facet(records, "cpc_main_groups") == {"H01M10": 2, "H01M4": 1, "H01M50": 1}
    assert facet(records, "ipc_subgroups") == {"H01M10/05": 1, "H01M50/40": 1}


def test_xlsx_with_query_sheet_header_below_metadata_and_typed_cells(tmp_path):
    book = Workbook()
    book.active.title = "Query"
    book.active.append(["Espacenet"])
    book.active.append(["Query", "pa=vestas AND pd>2015"])
    sheet = book.create_sheet("Results")
    sheet.append(["Espacenet results list"])
    sheet.append(["Exported", "2024-05-01"])
    sheet.append([])
    sheet.append(["Title", "Applicants", "Publication Number ", "Publication date", "Earliest priority",
                  "Family number", "CPC", "Legal status", "Cited by"])
    sheet.append(["Wind turbine blade", "VESTAS WIND SYS AS [DK]\nSIEMENS GAMESA [ES]", "EP3111111A1\nUS2017000001A1",
                  "2017-01-04\n2017-01-05", dt.datetime(2015, 6, 30), 51234567, "F03D1/06 (EP, US)\nY02E10/72 (EP)",
                  "Active\nPending", 4])
    sheet.append(["Tower", "VESTAS WIND SYS AS [DK]", "DK201670001A1", dt.datetime(2016, 2, 1), "20150102", 51234568,
                  "F03D13/20", "INACTIVE", None])
    sheet.append([None] * 9)
    sheet.append(["Nacelle", "ENERCON GMBH [DE]", "CN105000001A", "01.01.2016", "30/12/2014", None, "F03D80/00", None,
                  "n/a"])
    book.save(tmp_path / "results.xlsx")

    assert is_results_list(tmp_path / "results.xlsx")
    records, info = read_results_list(tmp_path / "results.xlsx")
    assert (info.format, info.sheet, info.header_row, info.query) == ("xlsx", "Results", 4, "pa=vestas AND pd>2015")
    assert (info.rows, info.publications) == (3, 4)
    r = records.to_pydict()
    assert r["publication_number"] == ["EP3111111A1", "US2017000001A1", "DK201670001A1", "CN105000001A"]
    assert r["publication_date"] == [D(2017, 1, 4), D(2017, 1, 5), D(2016, 2, 1), D(2016, 1, 1)]
    assert r["earliest_priority_date"] == [D(2015, 6, 30)] * 2 + [D(2015, 1, 2), D(2014, 12, 30)]
    assert r["family_id"] == ["51234567", "51234567", "51234568", "CN105000001A"]  # an int cell, not '51234567.0'
    assert r["applicants"][:2] == [["VESTAS WIND SYS AS", "SIEMENS GAMESA"]] * 2
    assert r["applicant_countries"][0] == ["DK", "ES"]
    assert r["cpc"][0] == ["F03D1/06", "Y02E10/72"]
    assert r["legal_status"] == ["active", "pending", "inactive", ""]
    assert r["cited_by_count"] == [4, 4, None, None]
    assert r["source_id"] == ["row 5", "row 5", "row 6", "row 8"]
    assert any("'Cited by'" in w and "row 8" in w for w in info.warnings)
    assert facet(records, "applicants") == {"VESTAS WIND SYS AS": 2, "SIEMENS GAMESA": 1, "ENERCON GMBH": 1}
    assert facet(records, "publication_year") == {"2016": 2, "2017": 1}
    assert facet(records, "cpc_main_groups") == {"F03D1": 1, "Y02E10": 1, "F03D13": 1, "F03D80": 1}


def test_other_tools_conventions_comma_csv_cp1252_and_date_formats(tmp_path):
    header = ["Publication numbers", "Title", "Title (FR)", "Applicant", "CPC", "Publication date", "Family ID",
              "Priority numbers"]
    rows = [["EP1000001A1; US2001000001A1; US2001000002A1", "Heat pump", "Pompe à chaleur", "SOCIÉTÉ A [FR]; B LTD [GB]",
             "F24D3/18; F25B30/02 (2013.01)", "20010105 02/03/2001", "7", "FR0012345; US60123456"],
            ["EP 1000002 A1", "Valve", "", "C", "F16K1/00", "05.06.2002", "8", ""]]
    text = "\r\n".join([",".join(f'"{c}"' for c in r) for r in [["Query: heat pump"], header, *rows]])
    path = tmp_path / "other.csv"
    path.write_bytes(text.encode("cp1252"))
    records, info = read_results_list(path, title_language="fr")
    r = records.to_pydict()
    assert r["publication_number"] == ["EP1000001A1", "US2001000001A1", "US2001000002A1", "EP1000002A1"]
    # the French title where there is one, else the plain (language unknown) one
    assert (r["title"], r["title_language"]) == (["Pompe à chaleur"] * 3 + ["Valve"], ["fr"] * 3 + [""])
    assert r["applicants"][0] == ["SOCIÉTÉ A", "B LTD"]
    assert r["cpc"][0] == ["F24D3/18", "F25B30/02"]
    assert r["priority_countries"][0] == ["FR", "US"]
    # two dates for three numbers: neither zipped nor guessed, and said so
    assert r["publication_date"] == [None, None, None, D(2002, 6, 5)]
    assert r["family_earliest_publication_date"][0] == D(2001, 1, 5)
    assert any("line 3" in w and "number of dates" in w for w in info.warnings)
    assert any("UTF-8" in w for w in info.warnings)
    assert info.query == "heat pump"


def bad(tmp_path, rows, header=HEADER) -> str:
    with pytest.raises(InvalidSourceError) as excinfo:
        read_results_list(write_csv(tmp_path / "bad.csv", rows, header=header))
    return problems(excinfo)


def row(**cells) -> list[str]:
    return [cells.get(name, "") for name in HEADER]


def test_missing_publication_number_column_lists_the_columns_found(tmp_path):
    message = bad(tmp_path, [["T", "A [US]", "2020-01-01"]], header=["Title", "Applicants", "Publication date"])
    assert "no 'Publication number' column" in message and "'Title', 'Applicants', 'Publication date'" in message


def test_unparseable_publication_numbers_name_their_lines(tmp_path):
    rows = [row(**{"Publication number": "EP1A1"})] + [row(**{"Publication number": f"NUMBER-{i}"}) for i in range(12)]
    message = bad(tmp_path, rows)
    assert "column 'Publication number': not a publication number in line 4 ('NUMBER-0'), line 5 ('NUMBER-1')" in message
    assert "and 2 more" in message


def test_bad_dates_name_column_line_and_value(tmp_path):
    rows = [row(**{"Publication number": "EP1A1", "Publication date": "2020-02-30"}),
            row(**{"Publication number": "EP2A1", "Earliest priority": "soon"})]
    message = bad(tmp_path, rows)
    assert "column 'Publication date': not a date in line 3 ('2020-02-30')" in message
    assert "column 'Earliest priority': not a date in line 4 ('soon')" in message


def test_row_with_content_but_no_publication_number_is_an_error(tmp_path):
    rows = [row(**{"Publication number": "EP1A1"}), row(Title="Orphan", Applicants="X [US]"),
            row(Title="Separators only", **{"Publication number": " ; "})]
    assert "column 'Publication number' is empty in lines 4, 5" in bad(tmp_path, rows)


def test_header_only_and_not_a_results_list(tmp_path):
    assert "holds no results" in bad(tmp_path, [[""] * len(HEADER)])
    other = tmp_path / "other.csv"
    other.write_bytes(b'"Name";"Count"\r\n"a";"1"\r\n')
    assert not is_results_list(other)
    with pytest.raises(InvalidSourceError) as excinfo:
        read_results_list(other)
    assert "no results list header in the first 30 rows" in problems(excinfo)


def test_xlsx_errors_name_the_sheet_and_filters_workbooks_are_not_results_lists(tmp_path):
    book = Workbook()
    book.active.title = "Results"
    book.active.append(["Title", "Publication number", "Publication date"])
    book.active.append(["T", "EP1A1", "31.02.2020"])
    book.save(tmp_path / "bad.xlsx")
    with pytest.raises(InvalidSourceError) as excinfo:
        read_results_list(tmp_path / "bad.xlsx")
    assert "sheet 'Results', column 'Publication date': not a date in row 2 ('31.02.2020')" in problems(excinfo)
    filters = Workbook()
    filters.active.title = "Applicants"
    filters.active.append(["Applicants", "Number of documents"])
    filters.active.append(["ACME", 3])
    filters.save(tmp_path / "filters.xlsx")
    assert not is_results_list(tmp_path / "filters.xlsx")


def test_rows_without_a_family_number_are_one_family_each(tmp_path):
    header = ["Title", "Applicants", "Publication number", "Publication date"]
    rows = [["Pump", "ACME [US]", "ep 1234567 A1\r\nUS2020000001A1", "2019-01-02\r\n2020-03-04"],
            ["Valve", "ACME [US]\r\nBETA [KR]", "CN100000001A; KR20200000001A", "2019-05-05\r\n2019-06-06"],
            ["Seal", "BETA [KR]", "JP2019000001A", "2021-01-01"]]
    records, _ = read_results_list(write_csv(tmp_path / "lean.csv", rows, header=header))
    # the row's first number, as normalised, stands for the family
    assert records["family_id"].to_pylist() == ["EP1234567A1"] * 2 + ["CN100000001A"] * 2 + ["JP2019000001A"]
    assert records_summary(records)["families"] == 3
    assert facet(records, "applicants") == {"ACME": 2, "BETA": 2}
    assert facet(records, "publication_year") == {"2019": 2, "2021": 1}
    assert facet(records, "countries") == {"EP": 1, "US": 1, "CN": 1, "KR": 1, "JP": 1}


def test_csv_cells_longer_than_the_csv_modules_default_limit(tmp_path):
    abstract = "x" * 200_000  # csv's default field limit is 131,072 characters
    path = write_csv(tmp_path / "long.csv", [row(**{"Publication number": "EP1A1", "Notes": abstract}),
                                             row(**{"Publication number": "EP2A1"})],
                     meta=("Query: " + "y" * 150_000,))
    assert is_results_list(path)
    records, info = read_results_list(path)
    assert records["publication_number"].to_pylist() == ["EP1A1", "EP2A1"] and info.query == "y" * 150_000


def test_a_failing_csv_sniff_says_why(tmp_path, monkeypatch):
    path = write_csv(tmp_path / "results.csv", ROWS)

    def broken(cells):
        raise RuntimeError("boom")
    monkeypatch.setattr(results_list, "_is_header", broken)
    with pytest.raises(InvalidSourceError) as excinfo:
        is_results_list(path)
    assert "RuntimeError: boom" in problems(excinfo)


def test_xlsx_numbers_read_as_typed_and_date_serials(tmp_path):
    book = Workbook()
    book.active.append(["Title", "Publication number", "Publication date", "Earliest priority", "Family number"])
    book.active.append([12345, "EP1A1", 20200102, 43831, 7.0])  # 43831: Excel's day number of 2020-01-01
    book.active.append(["T", "EP2A1", "20210304", 43831.75, 8])  # a datetime as a number: the day
    book.save(tmp_path / "typed.xlsx")
    r = read_results_list(tmp_path / "typed.xlsx")[0].to_pydict()
    assert r["publication_date"] == [D(2020, 1, 2), D(2021, 3, 4)]
    assert r["earliest_priority_date"] == [D(2020, 1, 1), D(2020, 1, 1)]
    assert (r["title"][0], r["family_id"]) == ("12345", ["7", "8"])
    assert r["source_id"] == ["row 2", "row 3"]
    book.active.append(["U", "EP3A1", 20201340, 2.5, 9])
    book.save(tmp_path / "typed.xlsx")
    with pytest.raises(InvalidSourceError) as excinfo:
        read_results_list(tmp_path / "typed.xlsx")
    message = problems(excinfo)
    assert "column 'Publication date': not a date in row 4 ('20201340')" in message
    assert "column 'Earliest priority': not a date in row 4 ('2.5')" in message


def test_xlsx_named_xls_is_read_by_content(tmp_path):
    book = Workbook()
    book.active.title = "Results"
    book.active.append(["Title", "Publication number", "Family number"])
    book.active.append(["T", "EP1A1\nUS2B2", 5])
    book.save(tmp_path / "results.xlsx")
    renamed = shutil.copy(tmp_path / "results.xlsx", tmp_path / "results.xls")
    assert is_results_list(renamed)
    records, info = read_results_list(renamed)
    assert (info.sheet, records["publication_number"].to_pylist()) == ("Results", ["EP1A1", "US2B2"])
