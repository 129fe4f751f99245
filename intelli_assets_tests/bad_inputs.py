"""Broken workbooks that real users send: each made on the fly, never copied from anywhere."""

from __future__ import annotations

from pathlib import Path

from openpyxl import Workbook


def zero_byte(folder: Path) -> Path:
    path = folder / "empty.xlsx"
    path.write_bytes(b"")
    return path


def text_renamed(folder: Path) -> Path:
    path = folder / "notes.xlsx"
    path.write_text("publication number;title\nEP1;Something\n")
    return path


def no_expected_sheets(folder: Path) -> Path:
    wb = Workbook()
    wb.active.title = "Results"
    wb.active.append(["Title", "Publication number"])
    wb.active.append(["A plant", "EP1234567"])
    path = folder / "results-list.xlsx"
    wb.save(path)
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


BAD_INPUTS = {
    "zero_byte": (zero_byte, "empty (0 bytes)"),
    "text_renamed": (text_renamed, "not an Excel workbook"),
    "no_expected_sheets": (no_expected_sheets, "none of the expected sheets"),
    "non_numeric_counts": (non_numeric_counts, "sheet 'Countries (family)': column 'Number of documents'"),
    "repeated_values": (repeated_values, "sheet 'Countries (family)': column 'Countries (family)' repeats 'CN'"),
}
