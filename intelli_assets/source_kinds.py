"""What kind of file a source is, before any sheet is read: a Filters workbook, an Espacenet
results list, an encrypted or renamed workbook, or something else. Each
verdict other than "readable" is an InvalidSourceError saying what the file is. No Dagster
imports.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pandas as pd

from intelli_assets.errors import InvalidSourceError

EXCEL_SUFFIXES = {".xlsx", ".xlsm", ".xls", ".ods"}

# Encrypted .xlsx files (and legacy .xls) are OLE2 compound files, not zip archives.
OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ENCRYPTION_STREAM = "EncryptionInfo".encode("utf-16-le")  # directory entry names are UTF-16LE
ENCRYPTED_PROBLEM = (
    "the workbook is password-protected (encrypted); remove the password in Excel "
    "(File > Info > Protect Workbook) and export again"
)
RENAMED_XLS_PROBLEM = (
    "this is an old binary .xls workbook saved with an {suffix} name; save it as .xlsx in Excel "
    "(or rename it to .xls)"
)

# Espacenet's other export: one row per publication, under a header naming these columns.
RESULTS_LIST_KEY_COLUMN = "publication number"
RESULTS_LIST_COLUMNS = ("title", "applicants", "inventors", "cpc", "ipc")
RESULTS_LIST_SCAN_ROWS = 15  # metadata rows (query, date) may sit above the header
RESULTS_LIST_PROBLEM = (
    "this is an Espacenet results list (one row per publication), not a Filters export; read it as a "
    "results list (`intelli run` and the inbox tell the two apart)"
)


def is_results_list_header(cells: list[object]) -> bool:
    """A results list's header: 'Publication number' plus a bibliographic column."""
    names = {_norm(str(c)) for c in cells if isinstance(c, str)}
    return RESULTS_LIST_KEY_COLUMN in names and any(c in names for c in RESULTS_LIST_COLUMNS)


def looks_like_results_list(df: pd.DataFrame) -> bool:
    rows = [list(df.columns)] + [df.iloc[i].tolist() for i in range(min(RESULTS_LIST_SCAN_ROWS - 1, len(df)))]
    return any(is_results_list_header(row) for row in rows)


def _ole2_problem(path: Path) -> str | None:
    """What an OLE2 file with an .xlsx name is: encrypted (the usual case) or a renamed .xls."""
    with open(path, "rb") as fh:
        if fh.read(len(OLE2_MAGIC)) != OLE2_MAGIC:
            return None
        data = fh.read()
    return ENCRYPTED_PROBLEM if ENCRYPTION_STREAM in data else RENAMED_XLS_PROBLEM.format(suffix=path.suffix.lower())


def check_container(path: Path, allow_csv: bool = False) -> None:
    """Fail early, with the reason, on files no Excel reader can open (a CSV passes when
    `allow_csv`: the results-list reader takes it)."""
    if not path.exists():
        raise InvalidSourceError(str(path), ["file does not exist"])
    if not path.is_file():
        raise InvalidSourceError(str(path), ["not a regular file"])
    if path.stat().st_size == 0:
        raise InvalidSourceError(str(path), ["file is empty (0 bytes)"])
    if path.suffix.lower() == ".csv" and allow_csv:  # a results list, or not: results_list.is_results_list says
        return
    if path.suffix.lower() not in EXCEL_SUFFIXES:
        raise InvalidSourceError(
            str(path), [f"unsupported file type {path.suffix!r}; expected one of {sorted(EXCEL_SUFFIXES | {'.csv'})} "
                        "(.csv: an Espacenet results list) or a Lens query file NAME.lens.json"]
        )
    if path.suffix.lower() in {".xlsx", ".xlsm"} and not zipfile.is_zipfile(path):
        problem = _ole2_problem(path)
        raise InvalidSourceError(
            str(path), [problem or "not an Excel workbook: an .xlsx file is a zip archive and this one is not"]
        )


def _norm(name: str) -> str:
    return re.sub(r"\s+", " ", name).strip().casefold()
