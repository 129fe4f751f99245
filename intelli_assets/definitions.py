"""The code location: every domain's Definitions merged, plus shared resources and the main job."""

import dagster as dg

from intelli_assets.defs.charts.definitions import defs as charts_defs
from intelli_assets.defs.common.resources import ArtifactStore
from intelli_assets.defs.datasets.definitions import defs as datasets_defs
from intelli_assets.defs.jobs import dataset_charts_job
from intelli_assets.defs.sources.definitions import defs as sources_defs

defs = dg.Definitions.merge(
    sources_defs,
    datasets_defs,
    charts_defs,
    dg.Definitions(
        jobs=[dataset_charts_job],
        resources={"store": ArtifactStore()},
        executor=dg.in_process_executor,
    ),
)
