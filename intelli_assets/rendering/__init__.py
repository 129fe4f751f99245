"""Static and interactive export of Plotly figures through one warm Chromium (see `renderer`)."""

from intelli_assets.rendering.browser import BrowserError
from intelli_assets.rendering.renderer import (
    CHARTS_PLOTLY_JS,
    PACKAGE_PLOTLY_JS,
    PLOTLY_JS,
    FigureRenderer,
    RenderError,
    figure_html,
    plotly_js_version,
    render_many,
)

__all__ = ["BrowserError", "CHARTS_PLOTLY_JS", "PACKAGE_PLOTLY_JS", "PLOTLY_JS", "FigureRenderer", "RenderError",
           "figure_html", "plotly_js_version", "render_many"]
