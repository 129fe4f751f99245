"""charts/<key>: the eight chart assets, drawn by one subsettable step.

Each chart is its own asset (own code version, metadata, history); materializing one chart
runs only that chart. Drawing every selected chart in one step lets rendering overlap the
Python work: Chromium draws chart k on the other core while chart k+1 is built and chart k's
HTML and data files are written, and it saves Dagster's per-step bookkeeping.
"""

import base64
import dataclasses
import json
import time
import traceback
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, get_type_hints

import dagster as dg
from pydantic import Field, create_model

from intelli_assets.artifacts import params_hash, write_atomic
from intelli_assets.charts import CHARTS, Chart, ChartSpec
from intelli_assets.dataset import Dataset, load_dataset
from intelli_assets.defs.charts.resources import ChartRenderer, ForecastFitting
from intelli_assets.defs.common.partitions import datasets_partitions
from intelli_assets.defs.common.resources import ArtifactStore
from intelli_assets.defs.datasets.assets import patent_dataset
from intelli_assets.errors import IntelliError
from intelli_assets.rendering import figure_html
from intelli_assets.style import OUTPUT_FORMATS, STYLE_CHOICES, OutputFormat, Style

PREVIEW_SCALE = 0.4
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


@dataclass
class PendingChart:
    """A built chart whose images Chromium is drawing."""

    key: str
    chart: Chart
    settings: dict
    folder: Path
    files: dict[str, str]
    build_ms: float
    images: Future
    submitted: float
    rendered: list[float] = field(default_factory=list)  # set by the future's callback


def start_chart(key: str, dataset: Dataset, settings: tuple[dict, Style, list[str]], renderer: ChartRenderer,
                folder_for: Callable[[dict], Path]) -> PendingChart:
    """Build a chart, hand its figure to Chromium, and write the files that need no image
    (HTML, chart_data.json, settings.json) while Chromium draws."""
    spec, (params, style, formats) = CHARTS[key], settings
    started = time.perf_counter()
    chart = spec.run(dataset, params, style)
    built = time.perf_counter()
    static = [f for f in formats if f in ("png", "svg")]
    images = renderer.submit(chart.figure, static, style.scale, preview_scale=PREVIEW_SCALE)
    chart_settings = {"chart": key, "version": spec.version, "params": params, "style": style.to_dict(),
                      "formats": formats}
    folder = folder_for(chart_settings)
    pending = PendingChart(key, chart, chart_settings, folder, {}, round((built - started) * 1000, 1), images,
                           submitted=built)
    images.add_done_callback(lambda _f: pending.rendered.append(time.perf_counter()))
    if "html" in formats:
        pending.files["html"] = str(write_atomic(folder / "chart.html", figure_html(chart.figure)))
    pending.files["chart_data"] = str(write_atomic(folder / "chart_data.json",
                                                   json.dumps(chart.chart_data, indent=2, ensure_ascii=False)))
    write_atomic(folder / "settings.json", json.dumps(chart_settings, indent=2))
    return pending


def chart_materialization(pending: PendingChart, render_ms: float) -> dg.MaterializeResult:
    """Write the images of a rendered chart; its materialization with the preview and paths."""
    images = pending.images.result()
    files = dict(pending.files)
    for fmt in ("png", "svg"):
        if fmt in images:
            files[fmt] = str(write_atomic(pending.folder / f"chart.{fmt}", images[fmt]))
    preview = base64.b64encode(images["preview"]).decode()
    chart_data = pending.chart.chart_data
    return dg.MaterializeResult(
        asset_key=dg.AssetKey(["charts", pending.key]),
        metadata={
            "preview": dg.MetadataValue.md(f"![{pending.key}](data:image/png;base64,{preview})"),
            **{f"{fmt}_path": dg.MetadataValue.path(path) for fmt, path in sorted(files.items())},
            "params": dg.MetadataValue.json(pending.settings),
            "params_hash": pending.folder.name,
            "chart_data": dg.MetadataValue.json(chart_data),
            "warnings": len(chart_data.get("warnings", [])),
            "build_ms": pending.build_ms,
            "render_ms": round(render_ms, 1),
        },
    )


def cancel_requested(context: dg.AssetExecutionContext) -> bool:
    """The run was asked to stop (`intelli` on Ctrl-C/SIGTERM, or a cancel from elsewhere):
    checked before each chart, so a cancel takes effect within one chart."""
    run = context.instance.get_run_by_id(context.run_id)
    return run is not None and run.status == dg.DagsterRunStatus.CANCELING


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
            description=f"{spec.description}. Chart algorithm {spec.key} v{spec.version}, from the "
            f"{spec.facet!r} facet; writes PNG, SVG, HTML and chart_data.json.",
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
    <artifacts>/<partition>/<chart>/<params-hash>/. A chart that fails is reported at the end
    without stopping the others. (`forecasts` is used through its setup: the fitting worker.)"""
    keys = chart_order(context.selected_asset_keys)
    try:  # every setting is checked before the dataset is read or a chart is drawn
        settings = {key: validated_settings(CHARTS[key], config) for key in keys}
    except IntelliError as exc:
        raise dg.Failure(description=str(exc)) from None
    dataset = load_dataset(store.layout.dataset_dir(context.partition_key))
    for key in keys:  # model fits start in their worker now, while the other charts are drawn
        if CHARTS[key].prefetch:
            try:
                CHARTS[key].prefetch(dataset, settings[key][0])
            except (IntelliError, ValueError):
                pass  # the chart's own build reports it
    failures: dict[str, str] = {}
    queue: deque[PendingChart] = deque()
    last_done = 0.0  # when Chromium finished the previous chart: render_ms excludes queueing

    def finished(pending: PendingChart) -> Iterator[dg.MaterializeResult]:
        nonlocal last_done
        try:
            pending.images.result()
        except Exception as exc:  # noqa: BLE001 - a render error belongs to this chart only
            failures[pending.key] = f"rendering failed: {exc}"
            return
        done = pending.rendered[0] if pending.rendered else time.perf_counter()
        render_ms, last_done = (done - max(pending.submitted, last_done)) * 1000, done
        try:
            materialization = chart_materialization(pending, render_ms)
        except IntelliError as exc:  # e.g. the disk is full: this chart fails, its partial files go
            failures[pending.key] = str(exc)
            return
        for warning in pending.chart.chart_data.get("warnings", []):
            context.log.warning(f"{pending.key}: {warning}")
        yield materialization

    def folder_for(key: str) -> Callable[[dict], Path]:
        return lambda chart_settings: store.layout.chart_dir(context.partition_key, key, params_hash(chart_settings))

    def stop_if_cancelled() -> Iterator[dg.MaterializeResult]:
        """On a cancel: keep the charts already drawn, drop the rest, stop the step."""
        if not cancel_requested(context):
            return
        for pending in queue:
            if pending.images.done():
                yield from finished(pending)
            else:
                pending.images.cancel()
        raise dg.DagsterExecutionInterruptedError("the run was cancelled")

    for key in keys:
        yield from stop_if_cancelled()
        try:
            queue.append(start_chart(key, dataset, settings[key], renderer, folder_for(key)))
        except (IntelliError, ValueError) as exc:  # bad data or params: the user's to fix
            failures[key] = str(exc)
        except Exception as exc:  # noqa: BLE001 - a bug in one chart must not cost the others
            context.log.error(f"{key}: unexpected error\n{traceback.format_exc()}")
            failures[key] = f"internal error ({type(exc).__name__}: {exc}); traceback in the run log"
        while queue and queue[0].images.done():  # materialize each chart as soon as it is drawn
            yield from finished(queue.popleft())
    while queue:
        yield from stop_if_cancelled()
        yield from finished(queue.popleft())
    if failures:
        raise dg.Failure(
            description="; ".join(f"{key}: {error}" for key, error in failures.items()),
            metadata={"failed_charts": dg.MetadataValue.json(failures)},
        )


chart_assets = [charts]
