import dagster as dg

from intelli_assets.defs.descriptions.assets import description_assets
from intelli_assets.defs.descriptions.resources import OpenAIEndpoint

defs = dg.Definitions(assets=description_assets, resources={"openai": OpenAIEndpoint()})
