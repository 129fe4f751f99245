"""A small, synthetic Espacenet Filters workbook for the demo and the tests.

Same layout as a real export (Query sheet, `<dimension>` + `Number of documents` columns,
rows sorted by count, the publication-date sheet name cut at 30 characters), with made-up
but plausible numbers. Ecuador ranks inside the top 15 so the highlight is visible.
"""

from __future__ import annotations

import datetime as dt
import random
from pathlib import Path

from openpyxl import Workbook

COUNTRIES = [("CN", 96), ("US", 41), ("WO", 33), ("EP", 21), ("KR", 14), ("JP", 12), ("BR", 9), ("EC", 7),
             ("CA", 6), ("AU", 5), ("DE", 4), ("MX", 4), ("CO", 3), ("ES", 3), ("FR", 2), ("PE", 2),
             ("CL", 2), ("IN", 1), ("GB", 1), ("AR", 1)]
APPLICANT_STEMS = ["UNIV", "INST", "CORP", "CO LTD", "LAB", "FOUND"]
PLACES = ["QUITO", "ZHEJIANG", "GUAYAQUIL", "CALIFORNIA", "TSINGHUA", "SAO PAULO", "SEOUL", "KYOTO",
          "CUENCA", "NANJING", "TORONTO", "MADRID", "LIMA", "BOGOTA", "MUNICH", "LOJA", "AMBATO", "LYON"]
SURNAMES = ["GARCIA", "WANG", "LI", "SMITH", "KIM", "TANAKA", "SILVA", "ZHANG", "LOPEZ", "CHEN", "MORA",
            "VEGA", "PAREDES", "SUAREZ", "LIU", "PARK", "ROSSI", "MULLER"]
GIVEN = ["ANA", "WEI", "JOSE", "MARIA", "JIN", "LUIS", "YUKI", "CARLOS", "LI", "PEDRO", "SOFIA"]
CPC = ["A01G22/00", "C12N1/20", "B09C1/10", "G01N33/24", "C02F3/32", "A01N63/00", "C05F11/08",
       "G01N33/18", "B09C1/105", "C12P1/04", "A01G33/00", "C02F2101/20", "Y02W10/10", "G06Q50/02",
       "A01H6/00", "C12N15/82", "G01N1/28", "B01D53/84", "C05G3/80", "Y02A40/10"]


def _desc(rows: list[tuple[str, int]]) -> list[tuple[str, int]]:
    return sorted(rows, key=lambda r: (-r[1], r[0]))


def _main_groups(subgroups: list[tuple[str, int]]) -> dict[str, int]:
    groups: dict[str, int] = {}
    for code, n in subgroups:
        groups[code.split("/")[0]] = groups.get(code.split("/")[0], 0) + n
    return groups


def sample_sheets(seed: int = 7) -> dict[str, tuple[str, list[tuple]]]:
    rng = random.Random(seed)
    years = {y: max(0, round(2 + (y - 2004) ** 1.6 / 4 + rng.uniform(-2, 2))) for y in range(2004, 2025)}
    applicants = {f"{s} {p}" if s in ("UNIV", "INST") else f"{p} {s}" for s in APPLICANT_STEMS for p in PLACES}
    applicants = [(name, rng.choice([1, 1, 1, 2, 2, 3, 4, 6])) for name in sorted(applicants)][:60]
    inventors = sorted({f"{rng.choice(SURNAMES)} {rng.choice(GIVEN)}" for _ in range(120)})
    inventors = [(name, rng.choice([1, 1, 1, 1, 2, 2, 3, 5])) for name in inventors]
    cpc = [(code, max(1, round(60 / (i + 1)) + rng.randint(0, 3))) for i, code in enumerate(CPC)]
    return {
        "Countries (family)": ("Countries (family)", _desc(COUNTRIES)),
        "Languages (family)": ("Languages (family)", [("en", 180), ("zh", 96), ("es", 18), ("ko", 14)]),
        "Earliest publication date (fam": ("Earliest publication date (family)", sorted(years.items())),
        "Earliest priority date": ("Earliest priority date", sorted((y - 1, n) for y, n in years.items())),
        "CPC subgroups": ("CPC subgroups", _desc(cpc)),
        "CPC main groups": ("CPC main groups", _desc(list(_main_groups(cpc).items()))),
        "Applicants": ("Applicants", _desc(applicants)),
        "Inventors": ("Inventors", _desc(inventors)),
        "Applicants - country": ("Applicants - country", _desc(COUNTRIES[:10])),
    }


def write_sample_workbook(path: str | Path, seed: int = 7) -> Path:
    """Write the sample workbook (fixed document dates, so its content is stable)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    wb = Workbook()
    query = wb.active
    query.title = "Query"
    for line in ("Espacenet", "Patent search",
                 '241 results found for ctxt all "phytorem*" AND ctxt all "heavy metal" (synthetic sample)',
                 None, "Query language: en / de / fr", "Filters: "):
        query.append([line])
    for sheet, (dimension, rows) in sample_sheets(seed).items():
        ws = wb.create_sheet(sheet)
        ws.append([dimension, "Number of documents"])
        for row in rows:
            ws.append(list(row))
    stamp = dt.datetime(2025, 1, 1)
    wb.properties.created = wb.properties.modified = stamp
    wb.save(path)
    return path
