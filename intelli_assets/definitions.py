"""The code location: every domain's Definitions merged, plus shared resources and the main job.

Domain modules are imported as modules, not their `defs` objects: Dagster's tools refuse a
module that holds more than one `Definitions` at module scope.
"""

import dagster as dg

from intelli_assets.defs.charts import definitions as charts
from intelli_assets.defs.common.resources import ArtifactStore
from intelli_assets.defs.datasets import definitions as datasets
from intelli_assets.defs.inbox import definitions as inbox
from intelli_assets.defs.jobs import dataset_charts_job
from intelli_assets.defs.runs import definitions as runs
from intelli_assets.defs.sources import definitions as sources

defs = dg.Definitions.merge(
    sources.defs,
    datasets.defs,
    charts.defs,
    inbox.defs,
    runs.defs,
    dg.Definitions(
        jobs=[dataset_charts_job],
        resources={"store": ArtifactStore()},
        executor=dg.in_process_executor,
    ),
)
