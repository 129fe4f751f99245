import dagster as dg

from intelli_assets.defs.sources.assets import raw_source

defs = dg.Definitions(assets=[raw_source])
