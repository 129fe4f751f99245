"""Chart resources: one warm Chromium per run (always shut down) and the forecast worker."""

import sys
from concurrent.futures import Future
from typing import Literal, Optional

import dagster as dg
import plotly.graph_objects as go
from pydantic import Field, PrivateAttr

from intelli_assets.charts import CHARTS, fits_models
from intelli_assets.forecast_worker import Forecaster, ForecastWorker
from intelli_assets.rendering import DEFAULT_ENGINE, EngineRenderer, Images
from intelli_assets.rendering.prestarted import release, take_prestarted


class ChartRenderer(dg.ConfigurableResource):
    """Starts the rendering engine when the run starts, reuses it for every chart, and closes
    it when the run ends (success or failure). `fast` restarts a browser that dies; if it cannot
    start or crashes twice, the rest of the run is drawn with kaleido."""

    engine: Literal["fast", "kaleido"] = Field(
        default=DEFAULT_ENGINE,
        description="fast: the project's one-page Chromium renderer (~5x faster); kaleido: Plotly's own "
        "exporter (the reference, and the fallback when fast fails); both write the same files")
    browser_path: Optional[str] = Field(default=None, description="Chromium binary; default: $BROWSER_PATH, then PATH")
    timeout_seconds: float = Field(default=60.0, description="per-image limit before the browser is restarted")
    start_timeout_seconds: Optional[float] = Field(
        default=None, description="how long a starting browser may take to answer before it counts as hung "
        "(default: 30 s for fast, 15 s per try for kaleido)")
    _renderer: Optional[EngineRenderer] = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # a warm run worker may have started it before the run began (`prestart`); else its
        # ~1 s start overlaps the dataset steps and chart building
        self._renderer = take_prestarted(self.engine_settings())
        if self._renderer is None:
            self._renderer = self._new()
            self._renderer.start_in_background()

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._renderer is not None:
            release(self._renderer)
            self._renderer = None

    def engine_settings(self) -> dict:
        """EngineRenderer's arguments for this configuration."""
        return {"engine": self.engine, "executable": self.browser_path, "timeout": self.timeout_seconds,
                "start_timeout": self.start_timeout_seconds}

    def _new(self) -> EngineRenderer:
        return EngineRenderer(**self.engine_settings())

    def _ensure(self) -> EngineRenderer:
        if self._renderer is None:  # used outside a run (e.g. called directly in a script)
            self._renderer = self._new()
        return self._renderer

    @property
    def engine_renderer(self) -> EngineRenderer:
        """The run's renderer itself (e.g. to print a report with the same warm browser)."""
        return self._ensure()

    def submit(self, fig: go.Figure, formats: list[str], scale: float = 1.0,
               preview_scale: Optional[float] = None) -> "Future[Images]":
        """Render in the background: a future of the bytes per format, and the engine that drew
        them (`EngineRenderer.render`)."""
        return self._ensure().submit(fig, formats, scale, preview_scale)

    @property
    def fallback_reason(self) -> Optional[str]:
        """Why this run switched from the fast renderer to kaleido (None: it did not)."""
        return self._renderer.fallback_reason if self._renderer is not None else None


def run_fits_models(run: Optional[dg.DagsterRun]) -> bool:
    """Will this run draw a chart that fits models? (No selection recorded: the whole job.)"""
    selection = run.asset_selection if run is not None else None
    if selection is None:
        return True
    return fits_models(key for key in CHARTS if dg.AssetKey(["charts", key]) in selection)


class ForecastFitting(dg.ConfigurableResource):
    """Where forecast models are fitted. By default in a worker process started with the run
    when the run draws the forecast, so its statsmodels import overlaps the steps before it."""

    separate_process: bool = Field(default=True, description="fit in an early-started worker process")
    _forecaster: Optional[Forecaster] = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # a run forked from the warm process has statsmodels imported already: a worker would
        # only import it again
        warm = "statsmodels.tsa.statespace.sarimax" in sys.modules
        worker = ForecastWorker() if self.separate_process and not warm and run_fits_models(context.run) else None
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
