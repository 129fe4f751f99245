import dagster as dg

from intelli_assets.defs.reports.assets import report_assets

defs = dg.Definitions(assets=report_assets)
