"""charts/<key>: the chart assets, drawn by one subsettable step.

Each chart is its own asset (own code version, metadata, history); materializing one chart
runs only that chart. Drawing every selected chart in one step lets rendering overlap the
Python work: Chromium draws chart k on the other core while chart k+1 is built and chart k's
HTML and data files are written, and it saves Dagster's per-step bookkeeping.
"""

import dataclasses
from collections.abc import Iterator
from typing import Optional, get_type_hints

import dagster as dg
from pydantic import Field, create_model

from intelli_assets.charts import CHARTS, ChartSpec
from intelli_assets.dataset import load_dataset, load_records
from intelli_assets.defs.charts.resources import ChartRenderer, ForecastFitting
from intelli_assets.defs.charts.step import ChartsStep
from intelli_assets.defs.common.partitions import datasets_partitions
from intelli_assets.defs.common.resources import ArtifactStore
from intelli_assets.defs.datasets.assets import patent_dataset
from intelli_assets.errors import IntelliError
from intelli_assets.style import OUTPUT_FORMATS, STYLE_CHOICES, OutputFormat, Style

STYLE_FIELDS = tuple(f.name for f in dataclasses.fields(Style))
PER_CHART_STYLE = ("title", "height")  # the style settings a chart's own section may override


def style_config_fields() -> dict[str, tuple]:
    """The config fields of the shared style, derived from `Style`: same names, defaults and
    help; palette, font size and language as enums, so the Launchpad offers and checks them."""
    hints = get_type_hints(Style)
    return {
        f.name: (STYLE_CHOICES.get(f.name, hints[f.name]),
                 Field(default=f.default, description=f.metadata.get("help"), validate_default=True))
        for f in dataclasses.fields(Style)
    }


ChartStyleConfig: type[dg.Config] = create_model(
    "ChartStyleConfig",
    __base__=dg.Config,
    __doc__="Style options shared by every chart of a run (the same schema in the Launchpad, CLI and GraphQL).",
    formats=(list[OutputFormat], Field(default=list(OUTPUT_FORMATS), validate_default=True,
                                       description="any of png, svg, html")),
    **style_config_fields(),
)


def chart_section_class(spec: ChartSpec) -> type[dg.Config]:
    """One chart's own settings: its parameters, typed, with their defaults, and a title and
    height of its own."""
    fields = {
        p.name: (Optional[int] if p.default is None else int, Field(default=p.default, description=p.help))
        for p in spec.params
    }
    fields["title"] = (Optional[str], Field(default=None, description="this chart's title text, or 'auto'"))
    fields["height"] = (Optional[int], Field(default=None, description="this chart's height in pixels"))
    name = "".join(part.title() for part in spec.key.split("_")) + "Settings"
    return create_model(name, __base__=dg.Config, __doc__=spec.description, **fields)


ChartsConfig: type[ChartStyleConfig] = create_model(
    "ChartsConfig",
    __base__=ChartStyleConfig,
    __doc__="Shared style, plus one section per chart with its parameters.",
    **{key: (section, Field(default_factory=section, description=spec.description))
       for key, spec in CHARTS.items() for section in (chart_section_class(spec),)},
)


def validated_settings(spec: ChartSpec, config: ChartStyleConfig) -> tuple[dict, Style, list[str]]:
    """(params, style, formats) of one chart; raises IntelliError on any invalid value."""
    values = config.model_dump(mode="json")  # enums as their plain values
    section = values[spec.key]
    if not values["formats"]:
        raise IntelliError(f"formats must be a non-empty subset of {list(OUTPUT_FORMATS)}, got []")
    style_values = {k: values[k] for k in STYLE_FIELDS}
    style_values.update({k: section[k] for k in PER_CHART_STYLE if section[k] is not None})
    style = Style(**style_values)
    params = spec.validate_params({p.name: section[p.name] for p in spec.params})
    return params, style, list(dict.fromkeys(values["formats"]))


def chart_order(selected: set[dg.AssetKey]) -> list[str]:
    """The selected chart keys; model-fitting charts last, so their worker has time to warm up."""
    keys = [key for key in CHARTS if dg.AssetKey(["charts", key]) in selected]
    return sorted(keys, key=lambda key: CHARTS[key].fits_models)


@dg.multi_asset(
    name="charts",
    specs=[
        dg.AssetSpec(
            ["charts", spec.key],
            deps=[patent_dataset],
            group_name="charts",
            kinds={"plotly"},
            code_version=spec.version,
            skippable=True,  # one chart failing does not take the others down
            description=f"{spec.description}. Chart algorithm {spec.key} v{spec.version}, " + (
                "from the records (results lists and Lens queries; not drawn for a Filters workbook)"
                if spec.needs_records else f"from the {spec.facet!r} facet") + "; writes PNG, SVG, HTML and "
            "chart_data.json.",
        )
        for spec in CHARTS.values()
    ],
    partitions_def=datasets_partitions,
    can_subset=True,
    pool="charts_cpu",
)
def charts(context: dg.AssetExecutionContext, config: ChartsConfig, renderer: ChartRenderer,
           store: ArtifactStore, forecasts: ForecastFitting) -> Iterator[dg.MaterializeResult]:
    """Builds, renders and writes every selected chart of a dataset partition: PNG, SVG,
    self-contained HTML, chart_data.json and settings.json under
    <artifacts>/<partition>/<chart>/<params-hash>/, each file's sha256 in the materialization.
    A chart that fails is reported at the end without stopping the others; a cancel (of the
    run, or of one chart) takes effect before the next chart."""
    keys = chart_order(context.selected_asset_keys)
    try:  # every setting is checked before the dataset is read or a chart is drawn
        settings = {key: validated_settings(CHARTS[key], config) for key in keys}
    except IntelliError as exc:
        raise dg.Failure(description=str(exc)) from None
    folder = store.layout.dataset_dir(context.partition_key)
    dataset = load_dataset(folder)
    if any(CHARTS[key].needs_records for key in keys):  # only the record-level charts read them
        dataset.records = load_records(folder)
    yield from ChartsStep(context, renderer, store.layout, forecasts.forecaster).run(keys, dataset, settings)


chart_assets = [charts]
