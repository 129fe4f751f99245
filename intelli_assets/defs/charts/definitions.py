import dagster as dg

from intelli_assets.defs.charts.assets import chart_assets
from intelli_assets.defs.charts.resources import ChartRenderer, ForecastFitting

defs = dg.Definitions(assets=chart_assets, resources={"renderer": ChartRenderer(), "forecasts": ForecastFitting()})
