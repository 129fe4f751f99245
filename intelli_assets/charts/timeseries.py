"""Publications per year: evolution, cumulative, and both on two axes."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pandas as pd
import plotly.graph_objects as go

from intelli_assets.charts.base import Chart, ChartSpec, Param, apply_layout
from intelli_assets.charts.labels import label
from intelli_assets.dataset import Dataset
from intelli_assets.errors import EmptyFacetError, MissingFacetError
from intelli_assets.style import Style

WINDOW_YEARS = 20
PUBLICATION_LAG_YEARS = 2  # patent documents publish up to 18 months after filing


def default_cutoff_year(today: dt.date | None = None) -> int:
    """Computed per call, never at import: a long-running process must not go stale."""
    return (today or dt.date.today()).year - PUBLICATION_LAG_YEARS


@dataclass(frozen=True)
class YearWindow:
    """The yearly series a chart draws, and what the window leaves out on either side."""

    series: pd.Series  # counts per year in (cutoff-20, cutoff], gaps filled with 0
    cutoff: int
    before: pd.Series  # counts of the years before the window
    after: pd.Series  # counts of the years after the cutoff

    @property
    def start(self) -> int:
        return self.cutoff - WINDOW_YEARS + 1

    @property
    def publications_before(self) -> int:
        return int(self.before.sum())

    @property
    def publications_after(self) -> int:
        return int(self.after.sum())

    def to_dict(self) -> dict:
        def span(counts: pd.Series) -> list[int] | None:
            years = counts[counts > 0].index
            return [int(years.min()), int(years.max())] if len(years) else None

        return {"start": self.start, "end": self.cutoff, "cutoff_year": self.cutoff,
                "years_before": span(self.before), "publications_before": self.publications_before,
                "years_after": span(self.after), "publications_after": self.publications_after}


def yearly_series(dataset: Dataset, cutoff_year: int | None) -> YearWindow:
    """Counts per year in (cutoff-20, cutoff], zeros filled between the first and last year."""
    cutoff = cutoff_year or default_cutoff_year()
    rows = dataset.facet("publication_year")
    years = rows["value"].astype(int)
    counts = rows["count"].groupby(years).sum()  # duplicate years are summed, not repeated
    if counts.sum() <= 0:
        raise EmptyFacetError("every count in the 'publication_year' facet is 0; there are no publications to chart")
    start = cutoff - WINDOW_YEARS + 1
    window = counts[(counts.index >= start) & (counts.index <= cutoff)]
    if window.empty:
        raise MissingFacetError(
            f"no publication years in the window {start}-{cutoff}; "
            f"the data covers {counts.index.min()}-{counts.index.max()}"
        )
    full = range(int(window.index.min()), int(window.index.max()) + 1)
    return YearWindow(window.reindex(full, fill_value=0).astype(int), cutoff,
                      counts[counts.index < start], counts[counts.index > cutoff])


def window_note(window: YearWindow, language: str) -> list[str]:
    """'Shown: 2005-2024. Not shown: 12 publications before 2005 and 31 after 2024 (the cutoff
    year).': the window must not drop publications without saying so."""
    parts: list[str] = []
    for n, key, year in ((window.publications_before, "window_before", window.start),
                         (window.publications_after, "window_after", window.cutoff)):
        if n:
            # the first part names the publications, the second only counts them
            count = label("one_publication" if n == 1 else "n_publications", language, n=n) if not parts else n
            parts.append(label(key + ("_one" if n == 1 else ""), language, count=count, year=year))
    if not parts:
        return []
    return [label("window_note", language, start=window.start, end=window.cutoff,
                  parts=label("window_and", language).join(parts))]


def year_axis(fig: go.Figure, years: list[int]) -> None:
    fig.update_xaxes(tickmode="array", tickvals=years, ticktext=[str(y) for y in years], tickangle=-45)


def line(x: list[int], y: list, name: str, color: str, **kwargs) -> go.Scatter:
    return go.Scatter(x=x, y=y, name=name, mode="lines+markers", line={"color": color, "width": 2.5},
                      marker={"size": 7}, **kwargs)


def layout_years(fig: go.Figure, style: Style, title_key: str, y_key: str, years: list[int], legend: bool,
                 window: YearWindow, notes: tuple[str, ...] | None = None) -> tuple[int, int]:
    """Year axis and footnotes; `notes` replaces the default recent-years note, and the
    window's note (years left out) follows either."""
    year_axis(fig, years)
    lang = style.language
    footnotes = list(notes) if notes is not None else [label("recent_years_note", lang)]
    size = apply_layout(
        fig, style, height=800, default_title=label(title_key, lang),
        footnotes=footnotes + window_note(window, lang), x_title=label("year", lang), y_title=label(y_key, lang),
        legend=legend, right_margin=40,
    )
    fig.update_layout(legend={"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom"})
    return size


def years_range(series: pd.Series) -> dict:
    return {"start": int(series.index.min()), "end": int(series.index.max())}


def patent_evolution(dataset: Dataset, params: dict, style: Style) -> Chart:
    window = yearly_series(dataset, params["cutoff_year"])
    series, cutoff = window.series, window.cutoff
    years, values = series.index.tolist(), series.tolist()
    fig = go.Figure(line(years, values, label("annual", style.language), style.colors.primary))
    fig.update_yaxes(rangemode="tozero")
    width, height = layout_years(fig, style, "title_evolution", "publications", years, legend=False, window=window)
    chart_data = {
        "type": "line", "x_axis": label("year", style.language), "y_axis": label("publications", style.language),
        "series": [{"year": y, "publications": v} for y, v in zip(years, values)],
        "total_publications": int(series.sum()), "years_range": years_range(series), "cutoff_year": cutoff,
        "window": window.to_dict(), "warnings": [],
    }
    return Chart("patent_evolution", fig, chart_data, width, height)


def cumulative(window: YearWindow) -> pd.Series:
    """Running total from the first publication, not from the window's first year."""
    return window.series.cumsum() + window.publications_before


def cumulative_rows(window: YearWindow) -> list[dict]:
    return [{"year": y, "annual_publications": int(a), "cumulative_publications": int(c)}
            for y, a, c in zip(window.series.index, window.series, cumulative(window))]


def patent_cumulative(dataset: Dataset, params: dict, style: Style) -> Chart:
    window = yearly_series(dataset, params["cutoff_year"])
    series, cutoff = window.series, window.cutoff
    years, running = series.index.tolist(), cumulative(window).tolist()
    fig = go.Figure(line(years, running, label("cumulative_short", style.language), style.colors.primary,
                         fill="tozeroy", fillcolor="rgba(0,0,0,0.04)"))
    width, height = layout_years(fig, style, "title_cumulative", "cumulative", years, legend=False, window=window)
    chart_data = {
        "type": "line", "x_axis": label("year", style.language), "y_axis": label("cumulative", style.language),
        "series": cumulative_rows(window), "total_cumulative": int(running[-1]),
        "cumulative_before_window": window.publications_before,
        "years_range": years_range(series), "cutoff_year": cutoff, "window": window.to_dict(), "warnings": [],
    }
    return Chart("patent_cumulative", fig, chart_data, width, height)


def patent_trends_cumulative(dataset: Dataset, params: dict, style: Style) -> Chart:
    window = yearly_series(dataset, params["cutoff_year"])
    series, cutoff = window.series, window.cutoff
    years, lang, colors = series.index.tolist(), style.language, style.colors
    running = cumulative(window).tolist()
    fig = go.Figure([
        line(years, series.tolist(), label("publications", lang), colors.primary),
        line(years, running, label("cumulative_short", lang), colors.secondary, yaxis="y2"),
    ])
    width, height = layout_years(fig, style, "title_trends", "publications", years, legend=True, window=window)
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
        "y_axis_2": label("cumulative_short", lang), "series": cumulative_rows(window),
        "total_cumulative": int(running[-1]), "cumulative_before_window": window.publications_before,
        "years_range": years_range(series), "cutoff_year": cutoff, "window": window.to_dict(),
        "warnings": [],
    }
    return Chart("patent_trends_cumulative", fig, chart_data, width, height)


CUTOFF = Param("cutoff_year", None, "last year shown (default: current year - 2, computed at run time)",
               minimum=1900, maximum=2100)

SPECS = [
    ChartSpec("patent_evolution", "2.1", "publication_year", "Patent publications per year, last 20 years",
              patent_evolution, (CUTOFF,)),
    ChartSpec("patent_cumulative", "2.1", "publication_year", "Cumulative patent publications, last 20 years",
              patent_cumulative, (CUTOFF,)),
    ChartSpec("patent_trends_cumulative", "2.1", "publication_year", "Annual and cumulative publications on two axes",
              patent_trends_cumulative, (CUTOFF,)),
]
