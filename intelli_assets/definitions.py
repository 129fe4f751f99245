"""The code location: every domain's Definitions merged, plus shared resources and the main job.

Domain modules are imported as modules, not their `defs` objects: Dagster's tools refuse a
module that holds more than one `Definitions` at module scope.
"""

import dagster as dg

from intelli_assets.defs.charts import definitions as charts
from intelli_assets.defs.charts.resources import ChartRenderer, ForecastFitting
from intelli_assets.defs.common.resources import ArtifactStore
from intelli_assets.defs.datasets import definitions as datasets
from intelli_assets.defs.descriptions import definitions as descriptions
from intelli_assets.defs.inbox import definitions as inbox
from intelli_assets.defs.jobs import JOBS
from intelli_assets.defs.reports import definitions as reports
from intelli_assets.defs.runs import definitions as runs
from intelli_assets.defs.sources import definitions as sources
from intelli_assets.forecast_worker import StartedForecasts


def build_defs(renderer: object | None = None, forecasts: StartedForecasts | None = None) -> dg.Definitions:
    """The project's definitions; `renderer` replaces the run's own Chromium with one the caller
    started and owns (the CLI starts it before its heavy imports), `forecasts` the run's own
    forecast worker likewise (`StartedForecasts`)."""
    return dg.Definitions.merge(
        sources.defs,
        datasets.defs,
        charts.defs,
        descriptions.defs,
        reports.defs,
        runs.defs,
        inbox.defs,
        dg.Definitions(
            jobs=JOBS,
            resources={"store": ArtifactStore(), "renderer": renderer or ChartRenderer(),
                       "forecasts": forecasts or ForecastFitting()},
            executor=dg.in_process_executor,
        ),
    )


defs = build_defs()
