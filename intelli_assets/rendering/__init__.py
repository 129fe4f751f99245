"""Static and interactive export of Plotly figures: one warm Chromium page (`renderer`), or
kaleido as the reference and fallback engine (`engines`)."""

from intelli_assets.rendering.browser import BrowserError
from intelli_assets.rendering.engines import (
    DEFAULT_ENGINE,
    ENGINES,
    EngineRenderer,
    Images,
    KaleidoRenderer,
    engine_from_overrides,
)
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

__all__ = ["BrowserError", "CHARTS_PLOTLY_JS", "DEFAULT_ENGINE", "ENGINES", "EngineRenderer", "FigureRenderer",
           "Images", "KaleidoRenderer", "PACKAGE_PLOTLY_JS", "PLOTLY_JS", "RenderError", "engine_from_overrides",
           "figure_html", "plotly_js_version", "render_many"]
