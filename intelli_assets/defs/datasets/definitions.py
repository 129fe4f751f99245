import dagster as dg

from intelli_assets.defs.datasets.assets import patent_dataset

defs = dg.Definitions(assets=[patent_dataset])
