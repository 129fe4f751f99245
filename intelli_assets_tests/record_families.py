"""Hand-made record-level data for the record charts' tests: plausible patent families
(skewed applicants, mostly domestic priorities, PCT and EP extensions, long-tailed family sizes
and citations, small offices such as SG and HK, regional offices EA, GC, AP), plus the edge
cases each chart must count right (a record without a family id, a family without a priority
date or country, members that differ in CPC or status, unrecognised statuses, names with
markup). The tests count what each chart should show from these objects, in plain Python,
independently of the charts' pandas code."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass, field

from intelli_assets.dataset import Dataset, build_manifest
from intelli_assets.records import records_table
from intelli_assets.sources import record_source

APPLICANTS = [
    "HUAWEI TECH CO LTD", "UNIV ZHEJIANG", "SIEMENS AG", "LG ELECTRONICS INC", "BASF SE",
    "INST NAC DE INVESTIGACIONES AGROPECUARIAS INIAP", "UNIV CALIFORNIA", "SAMSUNG ELECTRONICS CO LTD",
    "ESCUELA SUPERIOR POLITECNICA DEL LITORAL ESPOL", "BAYER AG", "TOYOTA MOTOR CO LTD", "CNRS",
    "COMMISSARIAT ENERGIE ATOMIQUE", "AT&T <LABS> INC", "UNIV TSINGHUA", "3M INNOVATIVE PROPERTIES CO",
    "EMBRAPA", "KOREA ADVANCED INST SCI & TECH", "FRAUNHOFER GES FORSCHUNG", "SYNGENTA PARTICIPATIONS AG",
    "UNIV SAO PAULO", "HITACHI LTD", "NESTEC SA", "MIT", "UNIV NANJING", "DOW GLOBAL TECHNOLOGIES LLC",
    "YARA INT ASA", "CSIRO", "UNIV CUENCA", "MONSANTO TECHNOLOGY LLC",
]
PRIORITY = [("CN", 30), ("US", 20), ("JP", 9), ("KR", 8), ("DE", 7), ("EP", 4), ("FR", 4), ("GB", 3), ("EC", 4),
            ("BR", 3), ("ES", 2), ("AU", 2), ("SG", 1), ("IN", 2), ("RU", 1)]
NATIONAL = ["AU", "CA", "MX", "IN", "RU", "ZA", "BR", "CO", "PE", "CL", "AR", "IL", "NZ", "SG", "HK", "PH", "MY",
            "TW", "EA", "GC", "AP", "UA", "TR", "NO", "ES", "PT", "DK", "AT", "PL", "MA", "VN", "TH", "ID", "LU"]
KINDS = {"WO": "A1", "EP": "A1", "US": "A1", "CN": "A", "JP": "A", "KR": "A", "DE": "A1"}
SUBCLASSES = ["G01N", "A01B", "C12Q", "B09C", "C02F", "A01G", "C05F", "Y02W", "G06Q", "H04L", "G06N", "A61K",
              "C12N", "B01D", "G01V", "E21B", "A01N", "C05G", "H01M", "G06F", "Y02A", "A23L"]
STATUSES = ["ACTIVE", "PENDING", "DISCONTINUED", "EXPIRED", "INACTIVE", "PATENTED", "", "UNKNOWN",
            "ceased?"]  # 'ceased?' is not a status the chart knows: counted as unknown, with a warning
GROUP = {"active": "active", "patented": "active", "pending": "pending", "discontinued": "inactive",
         "expired": "inactive", "inactive": "inactive", "": "unknown", "unknown": "unknown", "ceased?": "unknown"}


@dataclass
class Pub:
    number: str
    jurisdiction: str
    date: dt.date | None
    status: str = ""
    cited_by: int | None = None
    cpc: list[str] = field(default_factory=list)


@dataclass
class Fam:
    family_id: str | None  # None: the publication is its own family (one publication only)
    title: str
    applicants: list[str]
    priority_countries: list[str]
    priority_date: dt.date | None
    family_size: int | None  # what the source reports; None: it does not say
    pubs: list[Pub]

    @property
    def key(self) -> str:
        return self.family_id or f"pub:{self.pubs[0].number}"

    @property
    def first_filing_year(self) -> int | None:
        if self.priority_date:
            return self.priority_date.year
        dates = [p.date for p in self.pubs if p.date]
        return min(dates).year if dates else None

    @property
    def cpc_subclasses(self) -> set[str]:
        return {c[:4] for p in self.pubs for c in p.cpc}

    @property
    def jurisdictions(self) -> set[str]:
        return {p.jurisdiction for p in self.pubs}


def _weighted(rng: random.Random, pairs: list[tuple[str, int]]) -> str:
    return rng.choices([v for v, _ in pairs], [w for _, w in pairs])[0]


def realistic_families(n: int = 320, seed: int = 2026) -> list[Fam]:
    rng = random.Random(seed)
    serial = 4_100_000
    applicant_weights = [1 / (i + 1) ** 0.9 for i in range(len(APPLICANTS))]
    families = []
    for i in range(n):
        priority = _weighted(rng, PRIORITY)
        year = rng.choices(range(2003, 2025), [1 + (y - 2003) ** 1.3 for y in range(2003, 2025)])[0]
        priority_date = dt.date(year, rng.randint(1, 12), rng.randint(1, 28))
        offices = [priority]
        if rng.random() < 0.45:
            offices.append("WO")
        if rng.random() < 0.3 and "EP" not in offices:
            offices.append("EP")
        for office in ("US", "CN", "JP", "KR"):
            if office not in offices and rng.random() < 0.22:
                offices.append(office)
        if rng.random() < 0.18:  # a long tail of national phases
            offices += [o for o in rng.sample(NATIONAL, rng.randint(2, 14)) if o not in offices]
        subclasses = rng.sample(SUBCLASSES[:8] if rng.random() < 0.6 else SUBCLASSES, rng.randint(1, 3))
        cpc = [f"{s}{rng.choice((1, 3, 33, 2101))}/{rng.choice(('00', '24', '10', '0098'))}" for s in subclasses]
        age = 2026 - year
        cited = int(rng.paretovariate(1.3) * 2) - 2 if rng.random() < 0.9 else None
        pubs = []
        for k, office in enumerate(offices):
            serial += 1
            published = priority_date + dt.timedelta(days=540 + 40 * k + rng.randint(0, 400))
            status = rng.choice(STATUSES[:3] if age < 4 else STATUSES)
            pubs.append(Pub(f"{office}{serial}{KINDS.get(office, 'A1')}", office, min(published, dt.date(2025, 12, 1)),
                            status, None if cited is None else max(0, cited - k), list(cpc)))
        if len(pubs) > 1 and rng.random() < 0.3:  # a member classified further than the others
            pubs[-1].cpc.append(f"{rng.choice(SUBCLASSES)}1/00")
        reported = None if rng.random() < 0.2 else len(pubs) + rng.choice((0, 0, 0, 1, 3))
        families.append(Fam(
            family_id=str(70_000_000 + i), title=f"Method and system {i} for {rng.choice(('soil', 'water'))} analysis",
            applicants=rng.choices(APPLICANTS, applicant_weights, k=rng.choice((1, 1, 1, 2, 3))),
            priority_countries=[priority] + (["US"] if rng.random() < 0.05 and priority != "US" else []),
            priority_date=priority_date, family_size=reported, pubs=pubs))
    for fam in families:
        fam.applicants = list(dict.fromkeys(fam.applicants))
    # edge cases
    families[0].family_id = None  # its own family
    del families[0].pubs[1:]
    families[0].family_size = None
    families[1].priority_date = None  # dated by its first publication
    families[2].priority_date = None
    families[3].priority_countries = []  # no priority country: not in the flows
    families[4].priority_countries = []
    families[5].pubs[0].date = None  # a publication without a date
    return families


def records_of(families: list[Fam], with_citations: bool = True, with_priorities: bool = True):
    """The canonical records table of these families (one row per publication)."""
    rows = [(f, p) for f in families for p in f.pubs]
    return records_table({
        "publication_number": [p.number for _, p in rows],
        "jurisdiction": [p.jurisdiction for _, p in rows],
        "doc_number": [p.number[2:-2] for _, p in rows],
        "kind": [p.number[-2:] for _, p in rows],
        "publication_date": [p.date for _, p in rows],
        "earliest_priority_date": [f.priority_date for f, _ in rows],
        "title": [f.title for f, _ in rows],
        "applicants": [f.applicants for f, _ in rows],
        "applicant_countries": [[""] * len(f.applicants) for f, _ in rows],
        "cpc": [p.cpc for _, p in rows],
        "priority_countries": [f.priority_countries if with_priorities else [] for f, _ in rows],
        "family_id": [f.family_id for f, _ in rows],
        "family_size": [f.family_size for f, _ in rows],
        "legal_status": [p.status.lower() for _, p in rows],
        "cited_by_count": [p.cited_by if with_citations else None for _, p in rows],
        "source": ["lens"] * len(rows),
        "source_id": [f"row {i + 1}" for i in range(len(rows))],
    })


def dataset_of(families: list[Fam], partition: str = "soil-lens-0123456789", **kwargs) -> Dataset:
    data = record_source("lens_query", records_of(families, **kwargs))
    manifest = build_manifest(data.facets, data, {"partition_key": partition})
    manifest["partition_key"] = partition
    return Dataset(data.facets, manifest, data.records)
