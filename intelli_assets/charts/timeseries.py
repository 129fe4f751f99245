"""Publications per year: evolution, cumulative, and both on two axes."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import plotly.graph_objects as go

from intelli_assets.charts.base import Chart, ChartSpec, Param, apply_layout
from intelli_assets.charts.labels import label
from intelli_assets.dataset import Dataset
from intelli_assets.errors import MissingFacetError
from intelli_assets.style import Style

WINDOW_YEARS = 20
PUBLICATION_LAG_YEARS = 2  # patent documents publish up to 18 months after filing


def default_cutoff_year(today: dt.date | None = None) -> int:
    """Computed per call, never at import: a long-running process must not go stale."""
    return (today or dt.date.today()).year - PUBLICATION_LAG_YEARS


def yearly_series(dataset: Dataset, cutoff_year: int | None) -> tuple[pd.Series, int]:
    """Counts per year in (cutoff-20, cutoff], zeros filled between the first and last year."""
    cutoff = cutoff_year or default_cutoff_year()
    rows = dataset.facet("publication_year")
    years = rows["value"].astype(int)
    counts = rows["count"].groupby(years).sum()  # duplicate years are summed, not repeated
    window = counts[(counts.index > cutoff - WINDOW_YEARS) & (counts.index <= cutoff)]
    if window.empty:
        raise MissingFacetError(
            f"no publication years in the window {cutoff - WINDOW_YEARS + 1}-{cutoff}; "
            f"the data covers {counts.index.min()}-{counts.index.max()}"
        )
    full = range(int(window.index.min()), int(window.index.max()) + 1)
    return window.reindex(full, fill_value=0).astype(int), cutoff


def year_axis(fig: go.Figure, years: list[int]) -> None:
    fig.update_xaxes(tickmode="array", tickvals=years, ticktext=[str(y) for y in years], tickangle=-45)


def line(x: list[int], y: list, name: str, color: str, **kwargs) -> go.Scatter:
    return go.Scatter(x=x, y=y, name=name, mode="lines+markers", line={"color": color, "width": 2.5},
                      marker={"size": 7}, **kwargs)


def layout_years(fig: go.Figure, style: Style, title_key: str, y_key: str, years: list[int], legend: bool,
                 notes: tuple[str, ...] | None = None) -> tuple[int, int]:
    """Year axis and footnotes; `notes` replaces the default recent-years note."""
    year_axis(fig, years)
    lang = style.language
    size = apply_layout(
        fig, style, height=800, default_title=label(title_key, lang),
        footnotes=list(notes) if notes is not None else [label("recent_years_note", lang)], x_title=label("year", lang), y_title=label(y_key, lang),
        legend=legend, right_margin=40,
    )
    fig.update_layout(legend={"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"})
    return size


def years_range(series: pd.Series) -> dict:
    return {"start": int(series.index.min()), "end": int(series.index.max())}


def patent_evolution(dataset: Dataset, params: dict, style: Style) -> Chart:
    series, cutoff = yearly_series(dataset, params["cutoff_year"])
    years, values = series.index.tolist(), series.tolist()
    fig = go.Figure(line(years, values, label("annual", style.language), style.colors.primary))
    fig.update_yaxes(rangemode="tozero")
    width, height = layout_years(fig, style, "title_evolution", "publications", years, legend=False)
    chart_data = {
        "type": "line", "x_axis": label("year", style.language), "y_axis": label("publications", style.language),
        "series": [{"year": y, "publications": v} for y, v in zip(years, values)],
        "total_publications": int(series.sum()), "years_range": years_range(series), "cutoff_year": cutoff,
        "warnings": [],
    }
    return Chart("patent_evolution", fig, chart_data, width, height)


def cumulative_rows(series: pd.Series) -> list[dict]:
    return [{"year": y, "annual_publications": int(a), "cumulative_publications": int(c)}
            for y, a, c in zip(series.index, series, series.cumsum())]


def patent_cumulative(dataset: Dataset, params: dict, style: Style) -> Chart:
    series, cutoff = yearly_series(dataset, params["cutoff_year"])
    years, cumulative = series.index.tolist(), series.cumsum().tolist()
    fig = go.Figure(line(years, cumulative, label("cumulative_short", style.language), style.colors.primary,
                         fill="tozeroy", fillcolor="rgba(0,0,0,0.04)"))
    width, height = layout_years(fig, style, "title_cumulative", "cumulative", years, legend=False)
    chart_data = {
        "type": "line", "x_axis": label("year", style.language), "y_axis": label("cumulative", style.language),
        "series": cumulative_rows(series), "total_cumulative": int(series.sum()),
        "years_range": years_range(series), "cutoff_year": cutoff, "warnings": [],
    }
    return Chart("patent_cumulative", fig, chart_data, width, height)


def patent_trends_cumulative(dataset: Dataset, params: dict, style: Style) -> Chart:
    series, cutoff = yearly_series(dataset, params["cutoff_year"])
    years, lang, colors = series.index.tolist(), style.language, style.colors
    fig = go.Figure([
        line(years, series.tolist(), label("publications", lang), colors.primary),
        line(years, series.cumsum().tolist(), label("cumulative_short", lang), colors.secondary, yaxis="y2"),
    ])
    width, height = layout_years(fig, style, "title_trends", "publications", years, legend=True)
    fig.update_layout(
        margin={"r": 100},
        yaxis={"title": {"font": {"color": colors.primary}}, "tickfont": {"color": colors.primary}, "rangemode": "tozero"},
        yaxis2={"title": {"text": label("cumulative_short", lang), "font": {"color": colors.secondary,
                                                                          "size": style.fonts.axis_label}},
                "tickfont": {"color": colors.secondary, "size": style.fonts.tick}, "overlaying": "y",
                "tickmode": "auto", "tickformat": ",d",  # its own round ticks, not the left axis' grid
                "side": "right", "showgrid": False, "rangemode": "tozero"},
    )
    chart_data = {
        "type": "dual_axis_line", "x_axis": label("year", lang), "y_axis_1": label("publications", lang),
        "y_axis_2": label("cumulative_short", lang), "series": cumulative_rows(series),
        "total_cumulative": int(series.sum()), "years_range": years_range(series), "cutoff_year": cutoff,
        "warnings": [],
    }
    return Chart("patent_trends_cumulative", fig, chart_data, width, height)


CUTOFF = Param("cutoff_year", None, "last year shown (default: current year - 2, computed at run time)",
               minimum=1900, maximum=2100)

SPECS = [
    ChartSpec("patent_evolution", "2.0", "publication_year", "Patent publications per year, last 20 years",
              patent_evolution, (CUTOFF,)),
    ChartSpec("patent_cumulative", "2.0", "publication_year", "Cumulative patent publications, last 20 years",
              patent_cumulative, (CUTOFF,)),
    ChartSpec("patent_trends_cumulative", "2.0", "publication_year", "Annual and cumulative publications on two axes",
              patent_trends_cumulative, (CUTOFF,)),
]
