"""Synthetic record-level sources: Espacenet results lists (CSV/XLSX) and Lens.org response
pages, of any size, deterministic for a seed. Used by the tests (whose expected counts come
from the same `SampleFamily` list) and by `bench/records_bench.py`. No Dagster imports.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

OFFICES = ["CN", "US", "EP", "WO", "JP", "KR", "DE", "EC", "ES", "BR"]
KINDS = {"CN": "A", "US": "A1", "EP": "A1", "WO": "A1", "JP": "A", "KR": "A", "DE": "A1", "EC": "A", "ES": "T3",
         "BR": "A2"}
COUNTRIES = ["US", "CN", "DE", "EC", "ES", "KR", "JP", "FR", "GB", "BR"]
CPC_POOL = [f"{s}{g}/{sub}" for s in ("G01N", "A01B", "C12Q", "H04L", "B09C") for g in (1, 21, 33)
            for sub in ("00", "24", "0098", "28")]
STATUSES = ["ACTIVE", "PENDING", "DISCONTINUED", "EXPIRED", "INACTIVE", "UNKNOWN"]


@dataclass
class SamplePublication:
    jurisdiction: str
    doc_number: str
    kind: str
    date: dt.date

    @property
    def number(self) -> str:
        return f"{self.jurisdiction}{self.doc_number}{self.kind}"


@dataclass
class SampleFamily:
    family_id: str
    title: str
    applicants: list[tuple[str, str]]  # (name, country)
    inventors: list[tuple[str, str]]
    cpc: list[str]
    ipc: list[str]
    priority: dt.date
    publications: list[SamplePublication]
    status: str
    cited_by: int


def sample_families(n: int, seed: int = 7, first_year: int = 2000, last_year: int = 2024) -> list[SampleFamily]:
    rng = random.Random(seed)
    applicants = [(f"APPLICANT {i:03d} CORP", COUNTRIES[i % len(COUNTRIES)]) for i in range(60)]
    inventors = [(f"INVENTOR{i:04d} ANA", COUNTRIES[(i * 7) % len(COUNTRIES)]) for i in range(400)]
    families = []
    serial = 1_000_000
    for i in range(n):
        priority = dt.date(rng.randint(first_year, last_year), rng.randint(1, 12), rng.randint(1, 28))
        pubs = []
        for office in rng.sample(OFFICES, rng.randint(1, 4)):
            serial += 1
            published = min(priority + dt.timedelta(days=rng.randint(200, 900)), dt.date(last_year + 1, 12, 31))
            pubs.append(SamplePublication(office, str(serial), KINDS[office], published))
        cpc = rng.sample(CPC_POOL, rng.randint(1, 4))
        families.append(SampleFamily(
            family_id=str(50_000_000 + i), title=f"Method {i} for measuring soil samples",
            applicants=rng.sample(applicants, rng.randint(1, 3)), inventors=rng.sample(inventors, rng.randint(1, 4)),
            cpc=cpc, ipc=[c.split("/")[0] + "/00" for c in cpc[:2]], priority=priority, publications=pubs,
            status=rng.choice(STATUSES), cited_by=rng.randint(0, 40)))
    return families


def _csv_cell(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def results_list_rows(families: list[SampleFamily]) -> Iterator[list[str]]:
    """Header, then one row per family as Espacenet writes them (multi-valued cells on lines)."""
    yield ["Title", "Inventors", "Applicants", "Publication number", "Earliest priority", "IPC", "CPC",
           "Publication date", "Earliest publication", "Family number"]
    for f in families:
        yield [
            f.title,
            "\n".join(f"{name} [{cc}]" for name, cc in f.inventors),
            "\n".join(f"{name} [{cc}]" for name, cc in f.applicants),
            "\n".join(p.number for p in f.publications),
            f.priority.isoformat(),
            "\n".join(f.ipc),
            "\n".join(f"{c} ({', '.join(p.jurisdiction for p in f.publications[:2])})" for c in f.cpc),
            "\n".join(p.date.isoformat() for p in f.publications),
            min(p.date for p in f.publications).isoformat(),
            f.family_id,
        ]


def write_results_list_csv(path: Path, families: list[SampleFamily], query: str = 'ta = "soil"') -> Path:
    """Espacenet's CSV download: BOM, a metadata block, ';', every field quoted, CRLF."""
    meta = [["Espacenet"], ["Patent search results"], [f"Query: {query}"],
            [f"{len(families)} results found"], [f"Date: {dt.date.today().isoformat()}"], [""]]
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        for row in [*meta, *results_list_rows(families)]:
            fh.write(";".join(_csv_cell(c) for c in row) + "\r\n")
    return path


def write_results_list_xlsx(path: Path, families: list[SampleFamily], query: str = 'ta = "soil"') -> Path:
    """Espacenet's XLSX download: a query sheet, then the results under a few metadata rows."""
    from openpyxl import Workbook

    wb = Workbook()
    wb.active.title = "Query"
    wb.active.append(["Espacenet"])
    wb.active.append([f"{len(families)} results found for {query}"])
    ws = wb.create_sheet("Results")
    ws.append(["Patent search results"])
    ws.append([f"Date: {dt.date.today().isoformat()}"])
    ws.append([])
    for row in results_list_rows(families):
        ws.append(row)
    wb.save(path)
    return path


def lens_record(f: SampleFamily, p: SamplePublication, lens_id: str) -> dict:
    """One record shaped like the Lens.org Patent API's (only the fields the project asks for)."""
    return {
        "lens_id": lens_id, "jurisdiction": p.jurisdiction, "doc_number": p.doc_number, "kind": p.kind,
        "date_published": p.date.isoformat(), "lang": "en",
        "biblio": {
            "invention_title": [{"text": f.title, "lang": "en"}],
            "parties": {
                "applicants": [{"residence": cc, "extracted_name": {"value": n}} for n, cc in f.applicants],
                "inventors": [{"residence": cc, "extracted_name": {"value": n}} for n, cc in f.inventors],
            },
            "classifications_ipcr": {"classifications": [{"symbol": s} for s in f.ipc]},
            "classifications_cpc": {"classifications": [{"symbol": s} for s in f.cpc]},
            "priority_claims": {"claims": [{"jurisdiction": f.publications[0].jurisdiction,
                                            "date": f.priority.isoformat()}],
                                "earliest_claim": {"date": f.priority.isoformat()}},
            "cited_by": {"patent_count": f.cited_by},
        },
        "families": {"simple_family": {
            "family_id": int(f.family_id), "size": len(f.publications),
            "members": [{"document_id": {"jurisdiction": m.jurisdiction, "doc_number": m.doc_number,
                                         "kind": m.kind, "date": m.date.isoformat()}} for m in f.publications]}},
        "legal_status": {"patent_status": f.status},
    }


def lens_records_of(families: list[SampleFamily]) -> Iterator[dict]:
    n = 0
    for f in families:
        for p in f.publications:
            n += 1
            yield lens_record(f, p, f"{n:03d}-{n * 7 % 1000:03d}-000-000-{n % 997:03d}")


def lens_pages(families: list[SampleFamily], page_size: int = 1000) -> Iterator[bytes]:
    """Response bodies of a scroll over every publication of the families."""
    total = sum(len(f.publications) for f in families)
    page: list[dict] = []
    for record in lens_records_of(families):
        page.append(record)
        if len(page) == page_size:
            yield json.dumps({"total": total, "data": page, "scroll_id": "x", "results": len(page)}).encode()
            page = []
    if page:
        yield json.dumps({"total": total, "data": page, "scroll_id": "x", "results": len(page)}).encode()
