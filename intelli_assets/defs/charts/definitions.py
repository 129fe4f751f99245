import dagster as dg

from intelli_assets.defs.charts.assets import chart_assets
from intelli_assets.defs.charts.resources import ForecastFitting

defs = dg.Definitions(assets=chart_assets, resources={"forecasts": ForecastFitting()})
