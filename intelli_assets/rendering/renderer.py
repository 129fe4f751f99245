"""Fast static export of Plotly figures through one warm Chromium page.

kaleido reloads its page (and re-parses the 4.8 MB plotly.js) for every image. Here one tab
loads plotly.js once — a partial bundle of the `plotly` package's version with the trace
types our charts use — and every figure is laid out once as SVG; the PNG and the small
preview are that SVG, decoded once, rasterised on a canvas with the steps `Plotly.toImage`
takes, so the bytes are the same and the output matches kaleido's. No Dagster imports.
"""

from __future__ import annotations

import base64
import functools
import json
import logging
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import plotly
import plotly.graph_objects as go
import plotly.io as pio

from intelli_assets.rendering.browser import (
    BrowserError,
    BrowserTimeout,
    ChromiumPipe,
    find_chromium,
    no_answer,
    owned_tempdir,
)

log = logging.getLogger(__name__)
PACKAGE_PLOTLY_JS = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"  # every trace type
# core (scatter), bar, treemap, heatmap, sankey, choropleth, scattergeo and table only: 1.7 MB
# instead of 4.8 MB, about half the load time and CPU (scripts/build_plotly_bundle.sh builds it
# from the same plotly.js version)
CHARTS_PLOTLY_JS = Path(__file__).with_name("plotly-charts.min.js")
# the map outlines plotly.js would fetch from cdn.plot.ly (world_110m.json, from the same
# plotly.js): every page that draws a map is pointed here, or carries them inline (HTML)
TOPOJSON_DIR = Path(__file__).with_name("topojson")
TOPOJSON_URL = TOPOJSON_DIR.as_uri() + "/"
GEO_TRACES = {"choropleth", "scattergeo"}  # the trace types our bundle draws on a geo subplot


def plotly_js_version(path: Path) -> str | None:
    match = re.search(rb"plotly\.js v(\d+\.\d+\.\d+)", path.read_bytes()[:300]) if path.is_file() else None
    return match.group(1).decode() if match else None


def plotly_js_path() -> Path:
    """Our partial bundle when it matches the plotly.js the `plotly` package ships (figures
    are serialized for that version); otherwise the package's full plotly.js."""
    if plotly_js_version(CHARTS_PLOTLY_JS) == plotly_js_version(PACKAGE_PLOTLY_JS):
        return CHARTS_PLOTLY_JS
    log.warning("plotly-charts.min.js does not match plotly's plotly.js; using the full one "
                "(run scripts/build_plotly_bundle.sh)")
    return PACKAGE_PLOTLY_JS


PLOTLY_JS = plotly_js_path()
STATIC_FORMATS = ("png", "svg")
# the browser answers its first command ~0.6 s after it starts; one that does not within this
# is hung (a wrong BROWSER_PATH, a broken install), not slow, even on a loaded host
FAST_START_SECONDS = 30.0
DEFAULT_SIZE = (1200, 800)

PAGE_SCRIPT = """
window.renderFigure = async function (spec) {
  const fig = spec.figure;
  const svg = await Plotly.toImage(
    {data: fig.data, layout: fig.layout, config: {topojsonURL: spec.topojsonURL}},
    {format: 'svg', width: spec.width, height: spec.height, scale: 1, imageDataOnly: true});
  const out = {};
  if (spec.svg) out.svg = svg;
  if (spec.png || spec.preview) {  // the SVG decoded once for both: ~15% of a chart's browser time
    const image = await svgImage(svg);
    if (spec.png) out.png = pngBase64(image, spec, spec.scale);
    if (spec.preview) out.preview = pngBase64(image, spec, spec.preview);
  }
  return out;
};
// Plotly.Snapshot.svgToImg's steps (blob URL, a willReadFrequently canvas, drawImage at the
// scaled size), so the bytes are those of Plotly.toImage; it decodes the SVG anew per image
function svgImage(svg) {
  const url = URL.createObjectURL(new Blob([svg], {type: 'image/svg+xml;charset=utf-8'}));
  const image = new Image();
  return new Promise((resolve, reject) => {
    image.onload = () => { URL.revokeObjectURL(url); resolve(image); };
    image.onerror = () => { URL.revokeObjectURL(url); reject(new Error('the browser could not load the chart SVG')); };
    image.src = url;
  });
}
function pngBase64(image, spec, scale) {
  scale = scale || 1;  // as Plotly's svgToImg
  const width = scale * spec.width, height = scale * spec.height;
  if (width < 1 || height < 1) throw new Error(`a ${width}x${height} px PNG is too small to draw`);
  const canvas = document.createElement('canvas');
  const context = canvas.getContext('2d', {willReadFrequently: true});
  canvas.width = width;
  canvas.height = height;
  context.drawImage(image, 0, 0, width, height);
  const url = canvas.toDataURL('image/png');
  const data = url.slice(url.indexOf(',') + 1);
  // a canvas over Chromium's size limit gives "data:," (no image), not an error
  if (!data) throw new Error(`a ${width}x${height} px PNG is too large for the browser's canvas`);
  return data;
}
// a page's first figure costs ~0.2 s more than the next ones (plotly.js compiling its code
// paths): the renderer draws this one while it starts, before any chart waits for it
window.warmUp = () => window.renderFigure({
  figure: {data: [{type: 'bar', x: ['a', 'b', 'c'], y: [3, 1, 2], text: [3, 1, 2]}],
           layout: {title: {text: 'warm-up'}, xaxis: {title: {text: 'x'}}}},
  width: 1200, height: 800, scale: 1, png: true, svg: true, preview: 0.4}).then(() => true);
window.rendererReady = true;
"""


class RenderError(Exception):
    """One figure could not be rendered (bad figure, or the browser failed twice)."""


def figure_size(fig: go.Figure) -> tuple[int, int]:
    return int(fig.layout.width or DEFAULT_SIZE[0]), int(fig.layout.height or DEFAULT_SIZE[1])


def start_failure(browser: ChromiumPipe, wait: float = 0.5) -> str | None:
    """What died in a browser whose start failed: the browser (its exit code or signal; its
    exit closes the pipe a moment before it can be waited for), or its page's renderer. None
    if both live: its page failed (plotly.js not loaded...), and would fail again."""
    code = None
    if browser.process is not None:
        try:
            code = browser.process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            pass
    if code is not None and code < 0:
        try:
            return f"was killed by signal {-code} ({signal.Signals(-code).name})"
        except ValueError:
            return f"was killed by signal {-code}"
    if code is not None:
        return f"exited (code {code})"
    if browser.pipe_closed:
        return "closed its pipe"
    if browser.pages_gone:
        return "lost its page's renderer"
    return None


class FigureRenderer:
    """One Chromium with one page holding plotly.js; restarts the browser if it dies."""

    def __init__(self, executable: str | None = None, timeout: float = 60.0, plotly_js: Path = PLOTLY_JS,
                 crash_limit: int | None = None, start_timeout: float = FAST_START_SECONDS):
        self.executable = executable
        self.timeout = timeout
        self.start_timeout = start_timeout
        self.plotly_js = plotly_js
        # with a limit, the crash that reaches it raises BrowserError instead of restarting the
        # browser: the caller (EngineRenderer) switches engine rather than keep restarting
        self.crash_limit = crash_limit
        self.crashes = 0  # browser or page deaths noticed, mid-render or between renders
        self._browser: ChromiumPipe | None = None
        self._session: str | None = None
        self._dir: str | None = None
        self._warming: threading.Thread | None = None
        self._warm_error: BaseException | None = None
        self._queue: ThreadPoolExecutor | None = None
        self.restarts = 0

    def __enter__(self) -> FigureRenderer:
        try:
            self.start()
        except BaseException:
            self.close()  # its page folder too: `with` calls no __exit__ for a failed __enter__
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start_in_background(self) -> None:
        """Start Chromium and load plotly.js while the caller does other work (~1 s saved)."""
        if self._warming is not None or (self._browser and self._browser.alive):
            return

        def warm() -> None:
            try:
                self._start()
            except BaseException as exc:  # noqa: BLE001 - re-raised by the first render
                self._warm_error = exc

        self._warming = threading.Thread(target=warm, name="chart-renderer-warmup", daemon=True)
        self._warming.start()

    def start(self) -> None:
        if self._warming is not None:
            self._warming.join()
            self._warming = None
            if self._warm_error is not None:
                error, self._warm_error = self._warm_error, None
                raise error
        self._start()

    def _start(self) -> None:
        if self._browser and self._browser.alive:
            return
        if self._browser is not None:  # it died: clean up what is left, then start afresh
            died_idle = self._browser.process is not None  # not closed by `render` after a failure
            code = self._browser.process.returncode if died_idle else None
            self._browser.close()
            if died_idle:
                self._crashed(BrowserError(f"Chromium exited (code {code}) between renders"))
            self.restarts += 1
            log.warning("renderer browser was gone; restarting it (restart %d)", self.restarts)
        self._dir = self._dir or owned_tempdir("intelli-render-")
        page = Path(self._dir) / "render.html"
        page.write_text(
            "<!DOCTYPE html><html><head><meta charset='utf-8'>"
            f"<script src='{self.plotly_js.as_uri()}' charset='utf-8'></script>"
            f"<script>{PAGE_SCRIPT}</script></head><body></body></html>"
        )
        executable = self.executable or find_chromium()
        for attempt in (1, 2):
            self._browser = ChromiumPipe(executable, timeout=self.start_timeout)
            self._browser.start()
            try:
                self._session = self._browser.open_page()
                self._browser.send("Page.navigate", {"url": page.as_uri()}, self._session)
                self._wait_ready()
                self._warm_up()
                break
            except BrowserTimeout:
                self._browser.close()
                self._browser = None  # never ran: a later start is not a restart
                raise no_answer(executable, self.start_timeout) from None
            except BrowserError as exc:
                died = start_failure(self._browser)
                self._browser.close()
                self._browser = None
                if died is None:  # its page failed, as it would again
                    raise
                # a Chromium that exits as it starts (seen once in ~60 cold runs on a busy host,
                # never in 370 starts alone) is started once more: cheaper than the kaleido fallback
                failed = f"the browser at {executable} {died} as it started ({exc})"
                if attempt == 2:
                    raise BrowserError(f"{failed}, twice; check BROWSER_PATH or the Chromium install") from None
                log.warning("%s; starting it once more", failed)
        self._browser.timeout = self.timeout

    def _crashed(self, error: BrowserError) -> None:
        """Count a dead browser or page; the one reaching `crash_limit` is raised, not retried."""
        self.crashes += 1
        if self.crash_limit is not None and self.crashes >= self.crash_limit:
            raise BrowserError(str(error)) from None

    def _evaluate(self, expression: str, timeout: float | None = None):
        reply = self._browser.send(
            "Runtime.evaluate",
            {"expression": expression, "awaitPromise": True, "returnByValue": True},
            self._session,
            timeout=timeout or self.timeout,  # the renderer's current limit
        )
        if "exceptionDetails" in reply:
            details = reply["exceptionDetails"]
            text = details.get("exception", {}).get("description") or details.get("text")
            raise RenderError(str(text).splitlines()[0])
        return reply["result"].get("value")

    def _wait_ready(self) -> None:
        for _ in range(300):
            if self._evaluate("window.rendererReady === true && typeof Plotly === 'object'", self.start_timeout):
                return
            time.sleep(0.02)
        raise BrowserError("plotly.js did not load in the render page")

    def _warm_up(self) -> None:
        try:
            self._evaluate("window.warmUp()", self.start_timeout)
        except RenderError as exc:  # the page's own problem: the first chart will say it, if real
            log.warning("renderer warm-up figure failed: %s", exc)

    def render(self, fig: go.Figure, formats: Sequence[str] = STATIC_FORMATS, scale: float = 1.0,
               preview_scale: float | None = None) -> dict[str, bytes]:
        """PNG and/or SVG bytes of one figure (plus a small PNG `preview` when asked) from one
        layout; a dead browser or crashed page is restarted and the figure retried once."""
        unknown = set(formats) - set(STATIC_FORMATS)
        if unknown:
            raise ValueError(f"unsupported static format(s) {sorted(unknown)}; use png and/or svg")
        width, height = figure_size(fig)
        spec = {
            "figure": json.loads(pio.to_json(fig, validate=False)),
            "width": width, "height": height, "scale": scale,
            "png": "png" in formats, "svg": "svg" in formats, "preview": preview_scale,
            "topojsonURL": TOPOJSON_URL,  # maps read the package's outlines, never the CDN's
        }
        expression = f"window.renderFigure({json.dumps(spec)})"
        for attempt in (1, 2):
            self.start()
            try:
                value = self._evaluate(expression)
                break
            except BrowserError as exc:
                log.warning("renderer browser failed (%s)", exc)
                # a whole new browser even if only the page's renderer crashed: a new page alone
                # would save ~0.5 s, but one way to recover is simpler, and crashes are rare
                self._browser.close()
                self._crashed(exc)
                if attempt == 2:
                    raise RenderError(f"the browser failed twice while rendering: {exc}") from None
        out: dict[str, bytes] = {}
        if "png" in formats:
            out["png"] = base64.b64decode(value["png"])
        if "svg" in formats:
            out["svg"] = value["svg"].encode("utf-8")
        if preview_scale:
            out["preview"] = base64.b64decode(value["preview"])
        return out

    def submit(self, fig: go.Figure, formats: Sequence[str] = STATIC_FORMATS, scale: float = 1.0,
               preview_scale: float | None = None) -> Future[dict[str, bytes]]:
        """`render` in the renderer's own thread, one figure at a time in submission order: the
        caller builds the next chart while Chromium (on the other core) draws this one."""
        if self._queue is None:
            self._queue = ThreadPoolExecutor(1, thread_name_prefix="chart-render")
        return self._queue.submit(self.render, fig, formats, scale, preview_scale)

    def render_many(self, figures: Iterable[go.Figure], formats: Sequence[str] = STATIC_FORMATS,
                    scale: float = 1.0) -> list[dict[str, bytes]]:
        futures = [self.submit(fig, formats, scale) for fig in figures]
        return [future.result() for future in futures]

    def print_pdf(self, page: Path, ready: str = "document.readyState === 'complete'", params: dict | None = None,
                  timeout: float | None = None) -> bytes:
        """PDF bytes of a local HTML file, printed by this renderer's own Chromium (CDP
        `Page.printToPDF`, in a tab opened for it and closed afterwards): no second browser is
        started. `ready` is polled until true before printing (see `ChromiumPipe.print_to_pdf`);
        `params` are printToPDF's (paper size, margins, footer...). Runs in the renderer's thread,
        after the renders queued before it; a browser that dies is restarted and the page printed
        again once, as `render` does."""
        if self._queue is None:
            self._queue = ThreadPoolExecutor(1, thread_name_prefix="chart-render")
        return self._queue.submit(self._print_pdf, Path(page), ready, dict(params or {}),
                                  timeout or self.timeout).result()

    def _print_pdf(self, page: Path, ready: str, params: dict, timeout: float) -> bytes:
        for attempt in (1, 2):
            self.start()
            try:
                return self._browser.print_to_pdf(page.resolve().as_uri(), ready, params, timeout)
            except BrowserError as exc:
                log.warning("renderer browser failed while printing %s (%s)", page.name, exc)
                self._browser.close()
                self._crashed(exc)
                if attempt == 2:
                    raise RenderError(f"the browser failed twice while printing {page.name}: {exc}") from None
        raise AssertionError("not reached")

    @property
    def died_idle(self) -> bool:
        """Its browser was started (in the background, or not) and has exited since."""
        if self._warming is not None and self._warming.is_alive():
            return False
        return self._browser is not None and self._browser.process is not None and not self._browser.alive

    @property
    def browser_pid(self) -> int | None:
        return self._browser.process.pid if self._browser and self._browser.alive else None

    def close(self) -> None:
        if self._queue is not None:  # a render in flight ends (or times out) before the browser goes
            self._queue.shutdown(wait=True, cancel_futures=True)
            self._queue = None
        if self._warming is not None:
            self._warming.join()
            self._warming = None
        if self._browser:
            self._browser.close()
            self._browser = None
        if self._dir:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None


def render_many(figures: Iterable[go.Figure], formats: Sequence[str] = STATIC_FORMATS,
                renderer: FigureRenderer | None = None, scale: float = 1.0) -> list[dict[str, bytes]]:
    """Bytes per figure and format. Pass a started renderer to keep its browser warm across calls."""
    if renderer is not None:
        return renderer.render_many(figures, formats, scale)
    with FigureRenderer() as own:
        return own.render_many(figures, formats, scale)


@functools.cache
def _plotly_js_tag() -> bytes:
    return b'<script type="text/javascript">' + PLOTLY_JS.read_bytes() + b"</script>"


def topojson_names(fig: go.Figure) -> list[str]:
    """The map outlines a figure's geo subplots draw (`world_110m`...): plotly.js names them
    after the subplot's scope and resolution. Empty for a figure without a map."""
    subplots = dict.fromkeys(trace.geo or "geo" for trace in fig.data if trace.type in GEO_TRACES)
    names = []
    for key in subplots:
        geo = fig.layout[key]
        names.append(f"{(geo.scope or 'world').replace(' ', '-')}_{int(geo.resolution or 110)}m")
    return list(dict.fromkeys(names))


@functools.cache
def _topojson_text(name: str) -> str:
    path = TOPOJSON_DIR / f"{name}.json"
    if not path.is_file():
        raise RenderError(f"no map outlines {name!r} in {TOPOJSON_DIR}; the charts draw world maps at 110m")
    return path.read_text(encoding="utf-8")


def _geo_assets_tag(names: list[str]) -> bytes:
    """The outlines inline, where plotly.js looks before fetching (window.PlotlyGeoAssets):
    the HTML draws its map offline, from a single file."""
    assets = "".join(f"a.topojson[{json.dumps(n)}]={_topojson_text(n)};" for n in names)
    return ('<script type="text/javascript">(function(){var a=window.PlotlyGeoAssets='
            f"window.PlotlyGeoAssets||{{topojson:{{}}}};a.topojson=a.topojson||{{}};{assets}}})();</script>").encode()


def figure_html(fig: go.Figure) -> bytes:
    """Interactive, self-contained HTML (UTF-8): plotly.js inlined from the package, never a CDN,
    and a map's outlines inline too (its config points plotly.js beside the file, never at the
    CDN). The 4.8 MB script is read and encoded once per process, not once per chart; the
    figure was validated when it was built."""
    maps = topojson_names(fig)
    config = {"displaylogo": False, "responsive": True, **({"topojsonURL": "topojson/"} if maps else {})}
    html = pio.to_html(fig, include_plotlyjs=False, full_html=True, validate=False, config=config,
                       div_id="chart")  # not a random id: the same chart gives the same bytes (audit)
    head, body = html.split("<body>", 1)
    geo = _geo_assets_tag(maps) if maps else b""
    return b"".join((head.encode(), b"<body>\n", _plotly_js_tag(), geo, body.encode()))
