"""What a report draws on, read from the instance: each chart's latest render (the newest
materialization of charts/<key> for the partition and the files it recorded), why a chart
has none (its latest failed run's error, else "not rendered yet"), and the newest
description of that render (descriptions/<key>, else the render folder's description.md).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import dagster as dg

from intelli_assets.charts import CHARTS
from intelli_assets.dataset import Dataset
from intelli_assets.defs.descriptions.assets import description_key, last_render_failure, latest_render
from intelli_assets.description_files import ChartRender, RenderUnavailable
from intelli_assets.errors import ChartParamError
from intelli_assets.report import (
    NOT_RENDERED,
    ChartDescription,
    RenderChanged,
    ReportChart,
    chart_title,
    load_render,
    missing_chart,
    read_description_file,
)

DESCRIPTIONS_LOOKED_AT = 20  # the newest materializations of descriptions/<key> searched for the render's
OBSERVATIONS_LOOKED_AT = 50  # the newest progress events of charts/<key> searched for a skip


def report_keys(requested: list[str]) -> list[str]:
    """The charts a report covers: those asked for (in that order; ChartParamError naming an
    unknown key), else every chart of the registry."""
    keys = list(dict.fromkeys(k.strip() for k in requested if k.strip()))
    unknown = [k for k in keys if k not in CHARTS]
    if unknown:
        raise ChartParamError(f"unknown chart{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
                              f"available: {', '.join(CHARTS)}")
    return keys or list(CHARTS)


def _value(metadata: dict, name: str) -> object:
    entry = metadata.get(name)
    return getattr(entry, "value", entry)


def latest_description(instance: dg.DagsterInstance, partition: str, render: ChartRender) -> ChartDescription | None:
    """The newest description written for this render (same chart, same params hash)."""
    records = instance.fetch_materializations(dg.AssetRecordsFilter(
        asset_key=description_key(render.chart), asset_partitions=[partition]), limit=DESCRIPTIONS_LOOKED_AT).records
    for record in records:
        metadata = record.asset_materialization.metadata
        described = _value(metadata, "render") or {}
        text = _value(metadata, "text")
        if described.get("params_hash") != render.params_hash or not text:
            continue
        history = _value(metadata, "history_path")
        path = Path(str(history)) if history and Path(str(history)).is_file() else None
        created = dt.datetime.fromtimestamp(record.timestamp, dt.UTC).isoformat(timespec="seconds")
        return ChartDescription(str(text).strip(), str(_value(metadata, "model") or ""),
                                str(_value(metadata, "language") or ""), created, path)
    newest = render.folder / "description.md"  # written by a description this instance has no record of
    return read_description_file(newest) if newest.is_file() else None


def skip_reason(instance: dg.DagsterInstance, partition: str, key: str) -> str | None:
    """Why a run that covered every chart left this one out, as the charts step said it in its
    progress events (`event: skipped` with a `message`: e.g. a record-level chart on a Filters
    workbook), or None."""
    records = instance.fetch_observations(dg.AssetRecordsFilter(
        asset_key=dg.AssetKey(["charts", key]), asset_partitions=[partition]), limit=OBSERVATIONS_LOOKED_AT).records
    for record in records:
        metadata = record.asset_observation.metadata
        if _value(metadata, "event") == "skipped" and _value(metadata, "message"):
            return f"not drawn (run {record.run_id}): {_value(metadata, 'message')}"
    return None


def unfed_reason(key: str, dataset: Dataset) -> str | None:
    """Why a chart cannot be drawn from this dataset at all (a record-level chart, a dataset
    without records), or None."""
    if not getattr(CHARTS[key], "needs_records", False) or dataset.has_records:
        return None
    return (f"not drawn: chart {key!r} needs one row per publication (an Espacenet results list or a Lens.org "
            "query), and this dataset holds only pre-aggregated counts")


def report_chart(instance: dg.DagsterInstance, partition: str, key: str, language: str, with_description: bool,
                 dataset: Dataset) -> ReportChart:
    """One chart of the report: its latest render read back, or missing with the reason."""
    title = chart_title(key, language, CHARTS[key].description)
    try:
        render = latest_render(instance, partition, key)
    except RenderUnavailable as exc:
        return missing_chart(key, title, str(exc))
    failure = last_render_failure(instance, partition, key)
    if render is None:
        why = failure or skip_reason(instance, partition, key) or unfed_reason(key, dataset)
        return missing_chart(key, title, why or NOT_RENDERED)
    try:
        chart = load_render(key, title, render.files, params_hash=render.params_hash, run_id=render.run_id,
                            rendered_at=dt.datetime.fromtimestamp(render.rendered_at, dt.UTC))
    except RenderChanged as exc:
        return missing_chart(key, title, str(exc))
    chart.stale = failure  # a failed attempt newer than this render
    if with_description:
        chart.description = latest_description(instance, partition, render)
    return chart


def report_charts(instance: dg.DagsterInstance, partition: str, keys: list[str], language: str,
                  with_descriptions: bool, dataset: Dataset) -> list[ReportChart]:
    return [report_chart(instance, partition, key, language, with_descriptions, dataset) for key in keys]
