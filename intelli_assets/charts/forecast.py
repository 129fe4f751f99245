"""History, CAGR projection and 6-year ETS/ARIMA forecasts of publications per year."""

from __future__ import annotations

import plotly.graph_objects as go

from intelli_assets.charts.base import Chart, ChartSpec, Param
from intelli_assets.charts.labels import label
from intelli_assets.charts.timeseries import CUTOFF, YearWindow, layout_years, line, yearly_series, years_range
from intelli_assets.dataset import Dataset
from intelli_assets.forecast_worker import Forecaster
from intelli_assets.forecasting import cagr
from intelli_assets.style import Style, most_distinct


def forecast_input(dataset: Dataset, params: dict) -> tuple[YearWindow, list[int]]:
    """(year window, counts to fit): the same for the prefetch and the chart. Only the
    window's own annual series is fitted, never the years outside it."""
    window = yearly_series(dataset, params["cutoff_year"])
    return window, [int(v) for v in window.series]


def prefetch_forecast(dataset: Dataset, params: dict, forecaster: Forecaster) -> None:
    """Start the model fits (in the run's forecast worker, if it has one) before the chart is built."""
    forecaster.prefetch(forecast_input(dataset, params)[1], params["horizon"])


def patent_forecast(dataset: Dataset, params: dict, style: Style, forecaster: Forecaster) -> Chart:
    window, values = forecast_input(dataset, params)
    series, cutoff = window.series, window.cutoff
    horizon = params["horizon"]
    years = series.index.tolist()
    last = years[-1]
    # step k forecasts the year after the last data year (the old chart drew it a year late)
    future = list(range(last + 1, last + horizon + 1))
    result = forecaster.forecast(values, horizon)
    growth = cagr(dict(zip(years, values)))
    lang, colors = style.language, style.colors
    palette = colors.colors
    traces = [line(years, values, label("history", lang), colors.primary)]
    cagr_points: list[dict] = []
    if growth:
        rate, start, _ = growth
        span = [y for y in years + future if y >= start]
        base = dict(zip(years, values))[start]
        cagr_line = [round(base * (1 + rate) ** (y - start), 4) for y in span]
        traces.append(go.Scatter(x=span, y=cagr_line, name=label("cagr_line", lang), mode="lines",
                                 line={"color": colors.secondary, "dash": "dot", "width": 2.5}))
        cagr_points = [{"year": y, "value": v} for y, v in zip(span, cagr_line)]
    arima_color = most_distinct(palette, (colors.primary, colors.secondary, colors.accent, colors.background))
    for fc, color, key, dash, symbol in ((result.ets, colors.accent, "forecast_ets", "dash", "diamond"),
                                         (result.arima, arima_color, "forecast_arima", "dashdot", "square")):
        if fc:  # joined to the last observed point, so the line continues without a gap
            traces.append(line([last] + future, [values[-1]] + fc.values, label(key, lang), color))
            traces[-1].line.dash = dash
            traces[-1].marker.symbol = symbol
    fig = go.Figure(traces)
    if result.ets or result.arima:
        fig.add_vrect(x0=last + 0.5, x1=future[-1] + 0.5, fillcolor=colors.grid, opacity=0.35, line_width=0,
                      layer="below", annotation_text=label("forecast_zone", lang), annotation_position="top left",
                      annotation_font={"size": style.fonts.annotation, "color": colors.text})
    notes = [label("cagr_note", lang), label("arima_note", lang), label("ets_note", lang)]
    if growth:
        notes.append(label("cagr_value_note", lang, rate=f"{growth[0] * 100:.2f}", start=growth[1], end=growth[2]))
    width, height = layout_years(fig, style, "title_forecast", "families", years + future, legend=True,
                                 window=window, notes=tuple(notes))
    fig.update_yaxes(rangemode="tozero")

    def points(fc):
        return [{"year": y, "forecast": v} for y, v in zip(future, fc.values)] if fc else []

    chart_data = {
        "type": "forecast_line",
        "x_axis": label("year", lang),
        "y_axis": label("families", lang),
        "historical_series": [{"year": y, "publications": v} for y, v in zip(years, values)],
        "forecast_ets": points(result.ets),
        "forecast_arima": points(result.arima),
        "models": {"ets": result.ets.spec if result.ets else None,
                   "arima": result.arima.spec if result.arima else None},
        "cagr_rate": round(growth[0] * 100, 2) if growth else None,
        "cagr_period": {"start": growth[1], "end": growth[2]} if growth else None,
        "cagr_line": cagr_points,
        "years_range": years_range(series),
        "forecast_years": future,
        "cutoff_year": cutoff,
        "window": window.to_dict(),
        "warnings": result.warnings + ([] if growth else [
            "CAGR not computed: the series has no positive start value before its last year"]),
    }
    return Chart("patent_forecast", fig, chart_data, width, height)


SPECS = [
    ChartSpec("patent_forecast", "2.1", "publication_year",
              "Publications per year with CAGR line and 6-year ETS and ARIMA forecasts", patent_forecast,
              (CUTOFF, Param("horizon", 6, "years to forecast", minimum=1, maximum=15)),
              prefetch=prefetch_forecast),
]
