"""What a chart is (spec, params, result) and the layout every chart shares."""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from intelli_assets.charts.labels import label
from intelli_assets.dataset import Dataset
from intelli_assets.errors import ChartParamError, EmptyFacetError, MissingFacetError
from intelli_assets.espacenet import ESPACENET_ROW_CAPS
from intelli_assets.forecast_worker import Forecaster
from intelli_assets.style import FONT_FAMILY, Style


@dataclass(frozen=True)
class Param:
    """An integer chart parameter with bounds, validated strictly (True is not 1)."""

    name: str
    default: int | None
    help: str
    minimum: int = 1
    maximum: int = 500

    def validate(self, value: Any) -> int | None:
        if value is None and self.default is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise ChartParamError(f"parameter {self.name!r} must be a whole number, got {value!r}")
        if not self.minimum <= value <= self.maximum:
            raise ChartParamError(
                f"parameter {self.name!r} must be between {self.minimum} and {self.maximum}, got {value}"
            )
        return value


@dataclass
class Chart:
    key: str
    figure: go.Figure
    chart_data: dict
    width: int
    height: int


BuildFn = Callable[[Dataset, dict, Style], Chart]


RECORDS = "records"  # the `facet` of charts drawn from the records table, not from a facet


class RecordsRequiredError(MissingFacetError):
    """A record-level chart was asked of a dataset without records (a Filters workbook)."""


def records_required_message(key: str, dataset: Dataset) -> str:
    """The one sentence a record-level chart fails with on a dataset that has no records."""
    what = ("a Filters workbook, which holds only pre-aggregated counts"
            if dataset.manifest.get("source_type", "espacenet_excel") == "espacenet_excel"
            else "a dataset without its records table")
    return (f"chart {key!r} needs one row per publication (an Espacenet results list or a Lens.org query), "
            f"and dataset {dataset.manifest.get('partition_key', '?')} is {what}.")


@dataclass(frozen=True)
class ChartSpec:
    key: str
    version: str
    facet: str
    description: str
    build: BuildFn
    params: tuple[Param, ...] = field(default_factory=tuple)
    # optional: start slow work (model fits) in the background before `build` is called
    # charts that fit models take the run's Forecaster: as the 4th argument of `build`, and
    # in `prefetch`, which starts the fits before the chart is built
    prefetch: Callable[[Dataset, dict, Forecaster], None] | None = None
    # drawn from `dataset.records` (one row per publication: results lists, Lens queries),
    # which a Filters workbook does not have; `facet` is then RECORDS
    needs_records: bool = False

    @property
    def fits_models(self) -> bool:
        """Charts that prefetch are the ones fitting models (worth a warm forecast worker)."""
        return self.prefetch is not None

    def validate_params(self, raw: Mapping[str, Any]) -> dict:
        known = {p.name: p for p in self.params}
        unknown = sorted(set(raw) - set(known))
        if unknown:
            raise ChartParamError(
                f"chart {self.key!r} has no parameter {', '.join(map(repr, unknown))}; "
                f"its parameters are: {', '.join(known) or 'none'}"
            )
        return {name: p.validate(raw.get(name, p.default)) for name, p in known.items()}

    def run(self, dataset: Dataset, params: Mapping[str, Any], style: Style,
            forecaster: Forecaster | None = None) -> Chart:
        """Validate, then build: bad params fail before any data is touched."""
        clean = self.validate_params(params)
        if self.needs_records:
            if dataset.records is None:
                raise RecordsRequiredError(records_required_message(self.key, dataset))
        else:
            dataset.facet(self.facet)  # fail clearly when the sheet is missing
        if self.fits_models:
            chart = self.build(dataset, clean, style, forecaster or Forecaster())
        else:
            chart = self.build(dataset, clean, style)
        chart.chart_data.setdefault("warnings", [])
        chart.chart_data["meta"] = {
            "algorithm_key": self.key,
            "algorithm_version": self.version,
            "params": clean,
            "style": style.to_dict(),
        }
        return chart


def wrap_footnotes(lines: list[str], width_px: int, font_px: int) -> list[str]:
    """Wrap footnotes to the figure width so no text runs off the image."""
    chars = max(40, int(width_px / (font_px * 0.55)))
    out: list[str] = []
    for line in lines:  # a year range such as 2005-2024 stays on one line
        out.extend(textwrap.wrap(line, chars, break_on_hyphens=False) or [""])
    return out


def apply_layout(
    fig: go.Figure,
    style: Style,
    *,
    height: int,
    default_title: str,
    footnotes: Sequence[str] = (),
    x_title: str | None = None,
    y_title: str | None = None,
    left_margin: int = 90,
    right_margin: int = 40,
    legend: bool = False,
) -> tuple[int, int]:
    """Common look: palette colours, fonts, footnotes under the plot; returns (width, height)."""
    colors, fonts = style.colors, style.fonts
    width = style.width
    height = style.height or height
    notes = wrap_footnotes(list(footnotes), width - 24, fonts.annotation) if style.show_footnotes else []
    note_px = int(len(notes) * fonts.annotation * 1.45)
    title = {"auto": default_title}.get(style.title or "", style.title)
    top = 40 + (fonts.title * 3 if title else 0)
    bottom = 70 + (24 if x_title else 0) + note_px
    fig.update_layout(
        width=width,
        height=height,
        paper_bgcolor=colors.background,
        plot_bgcolor=colors.background,
        font={"family": FONT_FAMILY, "color": colors.text, "size": fonts.tick},
        margin={"l": left_margin, "r": right_margin, "t": top, "b": bottom, "pad": 4},
        showlegend=legend,
        legend={"font": {"size": fonts.legend}, "bgcolor": "rgba(0,0,0,0)"},
        title={"text": title, "font": {"size": fonts.title}, "x": 0.5, "xanchor": "center"} if title else None,
    )
    axis = {
        "showline": True,
        "linecolor": colors.grid,
        "gridcolor": colors.grid,
        "zeroline": False,
        "tickfont": {"size": fonts.tick},
        "title": {"font": {"size": fonts.axis_label}},
    }
    fig.update_xaxes(**axis)
    fig.update_yaxes(**axis)
    if x_title:
        fig.update_xaxes(title_text=x_title)
    if y_title:
        fig.update_yaxes(title_text=y_title)
    if notes:
        fig.add_annotation(
            text="<br>".join(notes),
            xref="paper",
            yref="paper",
            # start at the figure's left edge, not the plot's: paper x is plot-relative
            x=-(left_margin - 12) / max(1, width - left_margin - right_margin),
            y=0,
            yshift=-(bottom - note_px - 10),
            xanchor="left",
            yanchor="top",
            align="left",
            showarrow=False,
            font={"size": fonts.annotation, "color": colors.text},
        )
    return width, height


def truncated_note(dataset: Dataset, facet: str, language: str) -> list[str]:
    """Espacenet's cap for the facet (an edited sheet may hold more rows than the export did)."""
    info = dataset.manifest.get("summary_stats", {}).get("facets", {}).get(facet, {})
    if not info.get("truncated"):
        return []
    # manifests written before row_cap was recorded fall back to the reader's table
    cap = info.get("row_cap") or ESPACENET_ROW_CAPS.get(facet) or info["rows"]
    return [label("truncated_note", language, rows=cap)]


def plotly_text(text: str) -> str:
    """User data shown by Plotly, which reads <b>, <br>, <i>... in text as markup: escape it
    (escape first, then insert any <br> of our own)."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def share_text(percent: float) -> str:
    """A percentage for a label: a share too small for one decimal is '<0.1%', not '0.0%'
    (escaped, since Plotly would read '<' as the start of a tag)."""
    text = f"{percent:.1f}%"
    return plotly_text("<0.1%") if percent > 0 and text == "0.0%" else text


def facet_total(rows: pd.DataFrame, facet: str) -> int:
    """Sum of the facet's counts; a facet of zeros cannot be drawn as shares of its total."""
    total = int(rows["count"].sum())
    if total <= 0:
        raise EmptyFacetError(
            f"every count in the {facet!r} facet is 0 ({len(rows)} rows); there are no documents to chart"
        )
    return total


def notice_figure(message: str, style: Style) -> go.Figure:
    """A chart with nothing to draw but a sentence saying why (e.g. a source without citation
    data): an empty frame, the sentence wrapped in its middle."""
    fonts = style.fonts
    lines = textwrap.wrap(message, max(30, int(style.width * 0.7 / (fonts.axis_label * 0.55))))
    fig = go.Figure()
    fig.add_annotation(text="<br>".join(plotly_text(line) for line in lines), xref="paper", yref="paper",
                       x=0.5, y=0.5, showarrow=False, align="center",
                       font={"size": fonts.axis_label, "color": style.colors.text})
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


def starred(notes: list[str]) -> list[str]:
    """Footnotes marked *, **, *** in the order given (a note's own leading stars are dropped)."""
    return [f"{'*' * (i + 1)} {note.lstrip('* ').strip()}" for i, note in enumerate(notes)]


def tighten_bottom(fig: go.Figure, px: int) -> int:
    """Take `px` off the bottom margin `apply_layout` keeps for an x-axis title, for charts
    without one (a table, a map): the figure gets shorter and its footnotes move up with it.
    Returns the new height."""
    fig.update_layout(height=fig.layout.height - px, margin={"b": fig.layout.margin.b - px})
    for note in fig.layout.annotations:
        if note.yref == "paper" and note.y == 0 and note.yanchor == "top" and note.yshift is not None:
            note.yshift += px
    return int(fig.layout.height)
