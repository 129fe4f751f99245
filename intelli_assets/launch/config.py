"""Settings -> the `charts` step's run config, validated before any partition or run exists."""


from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from intelli_assets.charts import CHARTS, charts_fed_by, get_chart
from intelli_assets.defs.charts.assets import ChartsConfig, ChartStyleConfig, validated_settings
from intelli_assets.errors import ChartParamError, IntelliError
from intelli_assets.rendering import ENGINES
from intelli_assets.style import Style

LIST_FIELDS = {"formats"}
# settings of the `renderer` resource, not of the charts step: checked here, not put in the
# step's config (the CLI builds its renderer from them; the Launchpad sets them as resource config)
RENDERER_FIELDS = {"engine"}


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """`key=value` pairs as text (the config classes convert them: '15' -> 15, 'false' -> False);
    'null' or 'none' unsets an optional setting, and list settings take commas."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise ChartParamError(f"--set expects key=value, got {pair!r}")
        key, raw = key.strip(), raw.strip()
        if key in LIST_FIELDS:
            out[key] = [v.strip() for v in raw.split(",") if v.strip()]
        else:
            out[key] = None if raw.lower() in ("null", "none") else raw
    return out


def source_has_records(source: str | Path | None) -> bool:
    """Does this source give one row per publication (a results list, a Lens query)? A file
    whose kind cannot be told counts as having them: its validation names what is wrong."""
    if source is None:
        return True
    from intelli_assets.sources import FILTERS, source_kind

    try:
        return source_kind(source) != FILTERS
    except (IntelliError, OSError):
        return True


def select_charts(spec: str, source: str | Path | None = None) -> list[str]:
    """The chart keys of `--charts`: 'all' is every chart the source can feed (a Filters
    workbook, pre-aggregated counts only, feeds all but the record-level charts; see
    `charts_fed_by`), a comma-separated list is taken as asked: a record-level chart named for
    a Filters workbook is attempted and fails with one sentence saying why."""
    if spec.strip() == "all":
        return charts_fed_by(CHARTS, source_has_records(source))
    keys = [k.strip() for k in spec.split(",") if k.strip()]
    for key in keys:
        get_chart(key)
    if not keys:
        raise ChartParamError("--charts needs 'all' or a comma-separated list of chart keys")
    return list(dict.fromkeys(keys))


def chart_run_config(charts: list[str], overrides: dict[str, Any]) -> dict:
    """Config of the `charts` step: style settings shared, chart parameters into the section of
    every selected chart that has them; each key must apply somewhere. Validates everything
    (style and params) now, so bad input fails before any partition or run."""
    shared = set(ChartStyleConfig.model_fields)
    config: dict[str, Any] = {k: v for k, v in overrides.items() if k in shared}
    engine = overrides.get("engine")
    if engine is not None and str(engine).lower() not in ENGINES:
        raise ChartParamError(f"setting engine={engine!r}: must be one of {', '.join(ENGINES)}")
    used = set(config) | (RENDERER_FIELDS & set(overrides))
    for key in charts:
        section = {p.name: overrides[p.name] for p in get_chart(key).params if p.name in overrides}
        used |= set(section)
        if section:
            config[key] = section
    unknown = sorted(set(overrides) - used)
    if unknown:
        params = sorted({p.name for k in charts for p in get_chart(k).params})
        raise ChartParamError(
            f"unknown setting(s) {', '.join(unknown)} for the selected charts; "
            f"style settings: {', '.join(sorted(shared))}; chart parameters: {', '.join(params) or 'none'}; "
            f"renderer: {', '.join(sorted(RENDERER_FIELDS))}"
        )
    try:
        typed = ChartsConfig(**config)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(map(str, first["loc"]))
        raise ChartParamError(f"setting {where}={first.get('input')!r}: {first['msg']}") from None
    dumped = typed.model_dump(mode="json")
    try:  # the shared style first: its errors belong to no chart in particular
        Style(**{f.name: dumped[f.name] for f in dataclasses.fields(Style)})
    except IntelliError as exc:
        raise ChartParamError(str(exc)) from None
    for key in charts:
        try:
            validated_settings(get_chart(key), typed)
        except IntelliError as exc:
            raise ChartParamError(f"chart {key!r}: {exc}") from None
    config = {k: dumped[k] for k in config if k in shared} | {
        key: {p: dumped[key][p] for p in section} for key, section in config.items() if key not in shared}
    return {"charts": {"config": config}}
