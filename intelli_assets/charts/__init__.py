"""Chart registry: one `ChartSpec` per chart key. Adding a chart = one module + one line here."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from intelli_assets.charts import (
    bars,
    citations,
    families,
    flows,
    forecast,
    heatmaps,
    timeseries,
    treemap,
    worldmap,
)
from intelli_assets.charts.base import Chart, ChartSpec, Param, RecordsRequiredError
from intelli_assets.errors import ChartParamError

CHARTS: dict[str, ChartSpec] = {
    spec.key: spec
    for spec in (*bars.SPECS, *timeseries.SPECS, *forecast.SPECS, *treemap.SPECS, *worldmap.SPECS,
                 *heatmaps.SPECS, *flows.SPECS, *families.SPECS, *citations.SPECS)
}


def get_chart(key: str) -> ChartSpec:
    if key not in CHARTS:
        raise ChartParamError(f"unknown chart {key!r}; available: {', '.join(CHARTS)}")
    return CHARTS[key]


def charts_fed_by(keys: Iterable[str], has_records: bool) -> list[str]:
    """The rule for "all charts" of a source: every chart when the source has records (an
    Espacenet results list, a Lens query); without records (a Filters workbook, pre-aggregated
    counts only) the charts that do not need them. The launch config applies it to `--charts
    all` and the inbox; the charts step to a run that selected every chart (the main job, from
    the UI). A record-level chart asked for by name is never dropped: it fails with
    `RecordsRequiredError`'s one sentence."""
    return [key for key in keys if has_records or not get_chart(key).needs_records]


def fits_models(keys: Iterable[str]) -> bool:
    """Does any of these charts fit forecast models (and so want the forecast worker)?"""
    return any(get_chart(key).fits_models for key in keys)


def selects_every_chart(keys: Iterable[str]) -> bool:
    """A selection of every chart is "all" (the main job, Materialize all), not a choice."""
    return set(keys) >= set(CHARTS)


SCHEMAS_DIR = Path(__file__).resolve().parent.parent / "schemas"


def chart_data_schema(key: str) -> dict:
    """The JSON Schema documenting a chart's `chart_data` (intelli_assets/schemas/<key>.json)."""
    return json.loads((SCHEMAS_DIR / f"{get_chart(key).key}.json").read_text())


__all__ = ["CHARTS", "Chart", "ChartSpec", "Param", "RecordsRequiredError", "chart_data_schema", "charts_fed_by",
           "get_chart", "selects_every_chart"]
