"""Chart resources: one warm Chromium per run (always shut down) and the forecast worker."""

from concurrent.futures import Future
from typing import Optional

import dagster as dg
import plotly.graph_objects as go
from pydantic import Field, PrivateAttr

from intelli_assets.charts import CHARTS
from intelli_assets.forecast_worker import Forecaster, ForecastWorker
from intelli_assets.rendering import FigureRenderer


class ChartRenderer(dg.ConfigurableResource):
    """Starts Chromium when the run starts, reuses it for every chart, restarts it if it dies,
    and closes it when the run ends (success or failure)."""

    browser_path: Optional[str] = Field(default=None, description="Chromium binary; default: $BROWSER_PATH, then PATH")
    timeout_seconds: float = Field(default=60.0, description="per-image limit before the browser is restarted")
    _renderer: Optional[FigureRenderer] = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # its ~1 s start overlaps the dataset steps and chart building
        self._renderer = FigureRenderer(self.browser_path, timeout=self.timeout_seconds)
        self._renderer.start_in_background()

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    def _ensure(self) -> FigureRenderer:
        if self._renderer is None:  # used outside a run (e.g. called directly in a script)
            self._renderer = FigureRenderer(self.browser_path, timeout=self.timeout_seconds)
        return self._renderer

    def submit(self, fig: go.Figure, formats: list[str], scale: float = 1.0,
               preview_scale: Optional[float] = None) -> "Future[dict[str, bytes]]":
        """Render in the background: a future of the bytes per format (`FigureRenderer.render`)."""
        return self._ensure().submit(fig, formats, scale, preview_scale)


def run_fits_models(run: Optional[dg.DagsterRun]) -> bool:
    """Will this run draw a chart that fits models? (No selection recorded: the whole job.)"""
    selection = run.asset_selection if run is not None else None
    if selection is None:
        return True
    return any(dg.AssetKey(["charts", key]) in selection for key, spec in CHARTS.items() if spec.fits_models)


class ForecastFitting(dg.ConfigurableResource):
    """Where forecast models are fitted. By default in a worker process started with the run
    when the run draws the forecast, so its statsmodels import overlaps the steps before it."""

    separate_process: bool = Field(default=True, description="fit in an early-started worker process")
    _forecaster: Optional[Forecaster] = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        worker = ForecastWorker() if self.separate_process and run_fits_models(context.run) else None
        self._forecaster = Forecaster(worker)

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._forecaster is not None:
            self._forecaster.close()

    @property
    def forecaster(self) -> Forecaster:
        """The run's forecaster (in process when used outside a run)."""
        if self._forecaster is None:
            self._forecaster = Forecaster()
        return self._forecaster
