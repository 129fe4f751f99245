"""Chart registry: one `ChartSpec` per chart key. Adding a chart = one module + one line here."""

from __future__ import annotations

import json
from pathlib import Path

from intelli_assets.charts import bars, forecast, timeseries, treemap
from intelli_assets.charts.base import Chart, ChartSpec, Param
from intelli_assets.errors import ChartParamError

CHARTS: dict[str, ChartSpec] = {
    spec.key: spec
    for spec in (*bars.SPECS, *timeseries.SPECS, *forecast.SPECS, *treemap.SPECS)
}


def get_chart(key: str) -> ChartSpec:
    if key not in CHARTS:
        raise ChartParamError(f"unknown chart {key!r}; available: {', '.join(CHARTS)}")
    return CHARTS[key]


SCHEMAS_DIR = Path(__file__).resolve().parent.parent / "schemas"


def chart_data_schema(key: str) -> dict:
    """The JSON Schema documenting a chart's `chart_data` (intelli_assets/schemas/<key>.json)."""
    return json.loads((SCHEMAS_DIR / f"{get_chart(key).key}.json").read_text())


__all__ = ["CHARTS", "Chart", "ChartSpec", "Param", "chart_data_schema", "get_chart"]
