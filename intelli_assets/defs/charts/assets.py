"""charts/<key>: one asset per registry entry, rendering PNG, SVG, HTML and chart_data."""

import base64
import json
import time
from typing import Optional

import dagster as dg
from pydantic import Field, create_model

from intelli_assets.artifacts import params_hash, write_atomic
from intelli_assets.charts import CHARTS, ChartSpec
from intelli_assets.dataset import load_dataset
from intelli_assets.defs.charts.resources import ChartRenderer
from intelli_assets.defs.common.partitions import datasets_partitions
from intelli_assets.defs.common.resources import ArtifactStore
from intelli_assets.defs.datasets.assets import patent_dataset
from intelli_assets.errors import IntelliError
from intelli_assets.rendering import figure_html
from intelli_assets.style import OUTPUT_FORMATS, Style

PREVIEW_SCALE = 0.4
STYLE_FIELDS = ("palette", "font_size", "language", "highlight_country", "title", "show_footnotes",
                "width", "height", "scale")


class ChartConfig(dg.Config):
    """Style options shared by every chart (the same schema in the Launchpad, CLI and GraphQL)."""

    palette: str = Field(default="professional", description="professional, vibrant, earth, ocean, sunset, monochrome")
    font_size: str = Field(default="medium", description="small, medium, large")
    language: str = Field(default="es", description="es or en, for every label and footnote")
    highlight_country: str = Field(default="EC", description="two-letter code drawn in the accent colour; empty: none")
    title: Optional[str] = Field(default=None, description="chart title: none by default, 'auto' for the built-in one, or your text")
    show_footnotes: bool = Field(default=True, description="draw the explanatory footnotes under the chart")
    width: int = Field(default=1200, description="image width in pixels")
    height: Optional[int] = Field(default=None, description="image height in pixels; default depends on the chart")
    scale: float = Field(default=1.0, description="PNG pixel density (2 for print)")
    formats: list[str] = Field(default=list(OUTPUT_FORMATS), description="any of png, svg, html")


def chart_config_class(spec: ChartSpec) -> type[ChartConfig]:
    """ChartConfig plus the chart's own parameters, typed, with their defaults."""
    fields = {
        p.name: (Optional[int] if p.default is None else int, Field(default=p.default, description=p.help))
        for p in spec.params
    }
    name = "".join(part.title() for part in spec.key.split("_")) + "Config"
    return create_model(name, __base__=ChartConfig, **fields)


def validated_settings(spec: ChartSpec, config: ChartConfig) -> tuple[dict, Style, list[str]]:
    values = config.model_dump()
    unknown = sorted(set(values["formats"]) - set(OUTPUT_FORMATS))
    if unknown or not values["formats"]:
        raise IntelliError(f"formats must be a non-empty subset of {list(OUTPUT_FORMATS)}, got {values['formats']}")
    style = Style(**{k: values[k] for k in STYLE_FIELDS})
    params = spec.validate_params({p.name: values[p.name] for p in spec.params})
    return params, style, list(dict.fromkeys(values["formats"]))


def build_chart_asset(spec: ChartSpec) -> dg.AssetsDefinition:
    config_class = chart_config_class(spec)

    @dg.asset(
        name=spec.key,
        key_prefix=["charts"],
        partitions_def=datasets_partitions,
        deps=[patent_dataset],
        group_name="charts",
        kinds={"plotly"},
        code_version=spec.version,
        pool="charts_cpu",
        description=f"{spec.description}. Chart algorithm {spec.key} v{spec.version}, from the "
        f"{spec.facet!r} facet; writes PNG, SVG, HTML and chart_data.json.",
    )
    def chart_asset(context: dg.AssetExecutionContext, config: config_class, renderer: ChartRenderer,
                    store: ArtifactStore) -> dg.MaterializeResult:
        started = time.perf_counter()
        try:  # bad params fail here, before the dataset is read or a browser started
            params, style, formats = validated_settings(spec, config)
            dataset = load_dataset(store.layout.dataset_dir(context.partition_key))
            chart = spec.run(dataset, params, style)
        except (IntelliError, ValueError) as exc:
            raise dg.Failure(description=f"{spec.key}: {exc}") from None
        built = time.perf_counter()
        static = [f for f in formats if f in ("png", "svg")]
        images = renderer.render(chart.figure, static, style.scale, preview_scale=PREVIEW_SCALE)
        rendered = time.perf_counter()
        settings = {"chart": spec.key, "version": spec.version, "params": params, "style": style.to_dict(),
                    "formats": formats}
        folder = store.layout.chart_dir(context.partition_key, spec.key, params_hash(settings))
        files = {fmt: str(write_atomic(folder / f"chart.{fmt}", images[fmt])) for fmt in static}
        if "html" in formats:
            files["html"] = str(write_atomic(folder / "chart.html", figure_html(chart.figure)))
        files["chart_data"] = str(write_atomic(folder / "chart_data.json",
                                               json.dumps(chart.chart_data, indent=2, ensure_ascii=False)))
        write_atomic(folder / "settings.json", json.dumps(settings, indent=2))
        preview = base64.b64encode(images["preview"]).decode()
        for warning in chart.chart_data.get("warnings", []):
            context.log.warning(f"{spec.key}: {warning}")
        return dg.MaterializeResult(
            metadata={
                "preview": dg.MetadataValue.md(f"![{spec.key}](data:image/png;base64,{preview})"),
                **{f"{fmt}_path": dg.MetadataValue.path(path) for fmt, path in files.items()},
                "params": dg.MetadataValue.json(settings),
                "params_hash": folder.name,
                "chart_data": dg.MetadataValue.json(chart.chart_data),
                "warnings": len(chart.chart_data.get("warnings", [])),
                "build_ms": round((built - started) * 1000, 1),
                "render_ms": round((rendered - built) * 1000, 1),
            }
        )

    return chart_asset


chart_assets = [build_chart_asset(spec) for spec in CHARTS.values()]
