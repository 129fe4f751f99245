"""Key figures of a dataset for the report's cover: families, publications, years covered,
CAGR, top jurisdiction and applicant, and the highlight country's share. Read from the
canonical dataset (facets + manifest), the same numbers the charts draw. No Dagster imports.

Every count says its unit, as the source's counting rule has it: a facet counted by family
(a record-level source, or an Espacenet sheet marked '(family)') counts families, and its
shares are of all the families; any other facet counts publications as Espacenet does, which
has no total to take a share of (a publication with two applicants counts for both).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import pandas as pd

from intelli_assets.charts.bars import name_case
from intelli_assets.charts.timeseries import yearly_series
from intelli_assets.dataset import Dataset
from intelli_assets.errors import IntelliError
from intelli_assets.forecasting import cagr

FAMILIES, PUBLICATIONS = "families", "publications"  # the units a count can be in


@dataclass(frozen=True)
class Leader:
    """The value with the most families (or publications) in a facet."""

    value: str
    count: int
    total: int | None  # what the share is of (all the families); None: no such total
    unit: str = FAMILIES
    ties: int = 0  # other values with as many (the source's order picked this one)

    @property
    def share(self) -> float | None:
        return 100.0 * self.count / self.total if self.total else None


@dataclass(frozen=True)
class Highlight:
    country: str
    count: int
    total: int | None
    rank: int | None  # None: the country has no publication
    unit: str = FAMILIES

    @property
    def share(self) -> float | None:
        return 100.0 * self.count / self.total if self.total else None


@dataclass(frozen=True)
class KeyFigures:
    record_level: bool  # counted from records (results list, Lens), not Espacenet's Filters counts
    families: int | None
    publications: int | None
    first_year: int | None
    last_year: int | None
    first_date: str | None  # record-level sources know the exact dates
    last_date: str | None
    cagr_percent: float | None  # rounded to 2 decimals, as the forecast chart states it
    cagr_start: int | None
    cagr_end: int | None
    cagr_unit: str  # what the yearly series counts (families per year of first publication, as a rule)
    top_jurisdiction: Leader | None
    top_applicant: Leader | None
    highlight: Highlight | None

    def to_dict(self) -> dict:
        out = asdict(self)
        for name in ("top_jurisdiction", "top_applicant", "highlight"):
            value = getattr(self, name)
            if value is not None:
                out[name]["share_percent"] = None if value.share is None else round(value.share, 2)
        return out


def _counts(dataset: Dataset, facet: str) -> pd.Series:
    """Counts per value, highest first (ties keep the source's order); empty if no such facet."""
    if not dataset.has_facet(facet):
        return pd.Series(dtype="int64")
    rows = dataset.facet(facet)
    counts = rows.groupby("value", sort=False)["count"].sum()
    return counts[counts > 0].sort_values(ascending=False, kind="stable").astype(int)


def _unit(dataset: Dataset, facet: str) -> str:
    """What a facet counts: families when it counts each family once per value."""
    info = ((dataset.manifest.get("summary_stats") or {}).get("facets") or {}).get(facet) or {}
    return FAMILIES if info.get("by_family", dataset.has_records) else PUBLICATIONS


def _leader(counts: pd.Series, unit: str, families: int | None, name: bool = False) -> Leader | None:
    """The top value; a name is cased as the charts show it ('LG Electronics Inc'). Its share is
    of all the families when the facet counts families, else there is none."""
    if counts.empty:
        return None
    value, top = str(counts.index[0]), int(counts.iloc[0])
    total = families if unit == FAMILIES else None
    return Leader(name_case(value) if name else value, top, total, unit, int((counts == top).sum()) - 1)


def _years(dataset: Dataset) -> tuple[int | None, int | None]:
    counts = _counts(dataset, "publication_year")
    years = [int(y) for y in counts.index if str(y).lstrip("-").isdigit()]
    return (min(years), max(years)) if years else (None, None)


def _cagr(dataset: Dataset, cutoff_year: int | None, forecast: dict | None) -> tuple[float | None, int | None,
                                                                               int | None]:
    """The forecast chart's CAGR: the one its render states, else computed as it does (over
    its 20-year window up to the cutoff year, from the first year with publications to the last)."""
    if forecast is not None and "cagr_rate" in forecast:  # the chart in the report: its own numbers
        period = forecast.get("cagr_period") or {}
        if forecast["cagr_rate"] is None:
            return None, None, None
        return forecast["cagr_rate"], period.get("start"), period.get("end")
    try:
        window = yearly_series(dataset, cutoff_year)
    except IntelliError:  # no publication years, or none in the window
        return None, None, None
    growth = cagr({int(y): int(v) for y, v in window.series.items()})
    if growth is None:
        return None, None, None
    rate, start, end = growth
    return round(rate * 100, 2), start, end


def key_figures(dataset: Dataset, highlight_country: str = "EC", cutoff_year: int | None = None,
                forecast: dict | None = None) -> KeyFigures:
    """The cover's figures. Families: the families a record-level source holds, or Espacenet's
    result count (else the families per earliest-publication year). Publications: the
    documents of a record-level source, or the sum of the Countries (family) sheet, where a
    family counts once per office that published it (what the countries chart draws).
    `forecast`: the chart_data of the patent_forecast render the report shows (its CAGR)."""
    manifest = dataset.manifest
    records = manifest.get("records") or None
    countries = _counts(dataset, "countries")
    first_year, last_year = _years(dataset)
    first_date = last_date = None
    if records:
        families, publications = records.get("families"), records.get("publications")
        first_date, last_date = records.get("first_publication"), records.get("last_publication")
        if first_date and last_date:  # every publication's year, not only the families' first
            first_year, last_year = int(first_date[:4]), int(last_date[:4])
    else:
        years = _counts(dataset, "publication_year")
        families = manifest.get("results_count") or (int(years.sum()) if not years.empty else None)
        publications = int(countries.sum()) if not countries.empty else None
    rate, start, end = _cagr(dataset, cutoff_year, forecast)
    highlight = None
    unit = _unit(dataset, "countries")
    if highlight_country and not countries.empty:
        code = highlight_country.upper()
        rank = list(countries.index).index(code) + 1 if code in countries.index else None
        highlight = Highlight(code, int(countries.get(code, 0)), families if unit == FAMILIES else None, rank, unit)
    return KeyFigures(
        record_level=bool(records), families=families, publications=publications,
        first_year=first_year, last_year=last_year, first_date=first_date, last_date=last_date,
        cagr_percent=rate, cagr_start=start, cagr_end=end, cagr_unit=_unit(dataset, "publication_year"),
        top_jurisdiction=_leader(countries, unit, families),
        top_applicant=_leader(_counts(dataset, "applicants"), _unit(dataset, "applicants"), families, name=True),
        highlight=highlight)
