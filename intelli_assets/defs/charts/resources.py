"""The renderer resource: one warm Chromium per run, always shut down."""

from typing import Optional

import dagster as dg
import plotly.graph_objects as go
from pydantic import Field, PrivateAttr

from intelli_assets.rendering import FigureRenderer, take_prewarmed


class ChartRenderer(dg.ConfigurableResource):
    """Starts Chromium on the first chart of a run, reuses it for every chart after, restarts
    it if it dies, and closes it when the run ends (success or failure)."""

    browser_path: Optional[str] = Field(default=None, description="Chromium binary; default: $BROWSER_PATH, then PATH")
    timeout_seconds: float = Field(default=60.0, description="per-image limit before the browser is restarted")
    _renderer: Optional[FigureRenderer] = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        # a browser the CLI started ahead of time, else a new one; either way its ~1 s start
        # overlaps the dataset steps and chart building
        self._renderer = take_prewarmed(self.browser_path) or FigureRenderer(self.browser_path)
        self._renderer.timeout = self.timeout_seconds
        self._renderer.start_in_background()

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        if self._renderer is not None:
            self._renderer.close()
            self._renderer = None

    def render(self, fig: go.Figure, formats: list[str], scale: float = 1.0,
               preview_scale: Optional[float] = None) -> dict[str, bytes]:
        if self._renderer is None:  # used outside a run (e.g. called directly in a script)
            self._renderer = FigureRenderer(self.browser_path, timeout=self.timeout_seconds)
        return self._renderer.render(fig, formats, scale, preview_scale)
