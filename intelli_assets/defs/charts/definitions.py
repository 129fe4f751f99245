import dagster as dg

from intelli_assets.defs.charts.assets import chart_assets

# its resources (renderer, forecasts) are bound in `intelli_assets/definitions.py`, where a
# caller may hand in services it started itself
defs = dg.Definitions(assets=chart_assets)
