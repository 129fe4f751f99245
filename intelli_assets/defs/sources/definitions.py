import dagster as dg

from intelli_assets.defs.sources.assets import raw_source
from intelli_assets.defs.sources.resources import LensApi

defs = dg.Definitions(assets=[raw_source], resources={"lens": LensApi()})
