"""Broken workbooks that real users send: each made on the fly, never copied from anywhere."""

from __future__ import annotations

from pathlib import Path

from openpyxl import Workbook

OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
RESULTS_HEADER = ["No", "Title", "Inventors", "Applicants", "Publication number", "Earliest priority", "IPC",
                  "CPC", "Publication date", "Earliest publication", "Family number"]


def zero_byte(folder: Path) -> Path:
    path = folder / "empty.xlsx"
    path.write_bytes(b"")
    return path


def text_renamed(folder: Path) -> Path:
    path = folder / "notes.xlsx"
    path.write_text("publication number;title\nEP1;Something\n")
    return path


def no_expected_sheets(folder: Path) -> Path:
    """A workbook that is neither a Filters export nor anything else Espacenet writes."""
    wb = Workbook()
    wb.active.title = "Sheet1"
    wb.active.append(["foo", "bar"])
    wb.active.append([1, 2])
    path = folder / "unknown.xlsx"
    wb.save(path)
    return path


def results_list(folder: Path, number: str = "EP1234567A1", name: str = "results-list.xlsx") -> Path:
    """An Espacenet results-list export: metadata rows, then one row per publication."""
    wb = Workbook()
    ws = wb.active
    ws.title = "Results"
    for row in (["Espacenet search results"], ["Query", 'ctxt all "plant*"'], ["Exported", "2025-03-31"], [],
                RESULTS_HEADER,
                [1, "A plant", "GARCIA ANA", "UNIV QUITO", number, "2020-01-02", "A01G", "A01G22/00",
                 "2021-07-08", "2021-07-08", "75000001"]):
        ws.append(row)
    path = folder / name
    wb.save(path)
    return path


def results_list_bad_number(folder: Path) -> Path:
    return results_list(folder, number="see attached", name="bad-number.xlsx")


def csv_not_results_list(folder: Path) -> Path:
    path = folder / "notes.csv"
    path.write_text("name;amount\nseeds;12\n", encoding="utf-8")
    return path


def results_list_csv(folder: Path) -> Path:
    """The same list as Espacenet's CSV download: semicolon-separated, every cell quoted."""
    lines = ['"Espacenet search results";""', '"Query";"ctxt all ""plant*"""', "",
             ";".join(f'"{h}"' for h in RESULTS_HEADER),
             '"1";"A plant";"GARCIA ANA";"UNIV QUITO";"EP1234567A1";"2020-01-02";"A01G";"A01G22/00";'
             '"2021-07-08";"2021-07-08";"75000001"']
    path = folder / "results-list.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def encrypted(folder: Path) -> Path:
    """A synthetic stand-in for a password-protected .xlsx: Excel then writes an OLE2
    compound file (not a zip) whose directory names an 'EncryptionInfo' stream. The magic
    header, padding and that UTF-16LE name are all the detection looks at."""
    path = folder / "protected.xlsx"
    path.write_bytes(OLE2_MAGIC + bytes(1016) + "EncryptionInfo".encode("utf-16-le") + bytes(64))
    return path


def xls_renamed(folder: Path) -> Path:
    """A synthetic stand-in for an old binary .xls saved under an .xlsx name (OLE2, not encrypted)."""
    path = folder / "old-format.xlsx"
    path.write_bytes(OLE2_MAGIC + bytes(1016) + "Workbook".encode("utf-16-le") + bytes(64))
    return path


def countries_workbook(path: Path, rows: list[tuple]) -> Path:
    """A workbook with only a Countries (family) sheet holding `rows`."""
    wb = Workbook()
    wb.active.title = "Countries (family)"
    wb.active.append(["Countries (family)", "Number of documents"])
    for row in rows:
        wb.active.append(list(row))
    wb.save(path)
    return path


def non_numeric_counts(folder: Path) -> Path:
    return countries_workbook(folder / "bad-counts.xlsx", [("CN", 12), ("US", "many"), ("EP", 3)])


def repeated_values(folder: Path) -> Path:
    return countries_workbook(folder / "repeated.xlsx", [("CN", 12), ("US", 4), ("CN", 3)])


def unlabeled_counts(folder: Path) -> Path:
    """A count whose label cell is empty, as a merged cell leaves it in an edited workbook."""
    return countries_workbook(folder / "unlabeled.xlsx", [("CN", 42), (None, 12), ("US", 5)])


def all_zero_counts(folder: Path) -> Path:
    return countries_workbook(folder / "zeros.xlsx", [("CN", 0), ("US", 0)])


def formula_without_value(folder: Path) -> Path:
    """openpyxl writes formulas without a cached value, as any program that never ran Excel does."""
    return countries_workbook(folder / "formula.xlsx", [("CN", 12), ("US", 4), ("EP", "=SUM(B2:B3)")])


BAD_INPUTS = {
    "zero_byte": (zero_byte, "empty (0 bytes)"),
    "text_renamed": (text_renamed, "not an Excel workbook"),
    "no_expected_sheets": (no_expected_sheets, "none of the expected sheets were found"),
    "results_list_bad_number": (results_list_bad_number, "'see attached'"),
    "csv_not_results_list": (csv_not_results_list, "this CSV is not an Espacenet results list"),
    "encrypted": (encrypted, "the workbook is password-protected (encrypted)"),
    "xls_renamed": (xls_renamed, "an old binary .xls workbook saved with an .xlsx name"),
    "non_numeric_counts": (non_numeric_counts, "sheet 'Countries (family)': column 'Number of documents'"),
    "repeated_values": (repeated_values, "sheet 'Countries (family)': column 'Countries (family)' repeats 'CN'"),
    "unlabeled_counts": (unlabeled_counts, "sheet 'Countries (family)': column 'Countries (family)' is empty in "
                                           "row 3 that has a count (12 documents)"),
    "all_zero_counts": (all_zero_counts, "sheet 'Countries (family)': every count in column 'Number of documents' "
                                         "is 0: the sheet holds no documents"),
    "formula_without_value": (formula_without_value, "row 4 has a formula (=SUM(B2:B3)) with no saved value"),
}
