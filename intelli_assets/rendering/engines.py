"""Two engines for the same static files, and the fallback from one to the other.

`fast` is this project's one-page renderer (`renderer.FigureRenderer`). `kaleido` is Plotly's
own exporter through kaleido's sync server: the reference way to draw a Plotly figure,
~5x slower per image because kaleido reloads its page (and re-parses plotly.js) for every
image, and the fallback when the fast renderer cannot start or keeps crashing. Both drive the
same system Chromium with the same plotly.js, so they produce the same PNG and SVG files.
No Dagster imports.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio

from intelli_assets.rendering.browser import BrowserError, find_chromium
from intelli_assets.rendering.renderer import (
    PLOTLY_JS,
    STATIC_FORMATS,
    FigureRenderer,
    RenderError,
    figure_size,
)

log = logging.getLogger(__name__)
ENGINES = ("fast", "kaleido")
DEFAULT_ENGINE = "fast"
FAST_CRASH_LIMIT = 2  # the fast renderer's second crash in a run hands the rest to kaleido
# kaleido's server is one per process and its calls are not thread-safe (each waits on the
# shared task queue): one caller at a time, and it runs while any KaleidoRenderer uses it
_SERVER_LOCK = threading.Lock()
_server_users = 0
# beyond kaleido's own per-image timeout: its browser start (~1 s) and page reload
CALL_GRACE_SECONDS = 30.0


class Images(dict[str, bytes]):
    """A figure's bytes per format (`png`, `svg`, `preview`), and the engine that drew them."""

    def __init__(self, images: dict[str, bytes], engine: str):
        super().__init__(images)
        self.engine = engine


def engine_from_overrides(pairs: Iterable[str]) -> str:
    """The engine named by `--set engine=…` pairs (the last one wins), without importing the
    run machinery: the CLI picks which browser to warm up before its heavy imports. An
    unknown name gives the default here; the run's settings check reports it."""
    engine = DEFAULT_ENGINE
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if sep and key.strip() == "engine":
            engine = value.strip().lower()
    return engine if engine in ENGINES else DEFAULT_ENGINE


_server_error: BaseException | None = None  # why kaleido's server thread ended, if it failed
_previous_excepthook = threading.excepthook


def _install_excepthook() -> None:
    global _previous_excepthook
    if threading.excepthook is not _keep_server_error:
        _previous_excepthook = threading.excepthook
        threading.excepthook = _keep_server_error


def _keep_server_error(args: threading.ExceptHookArgs) -> None:
    """Keep the error that ended kaleido's server thread (e.g. its browser exited at once) for
    the call waiting on it to report, instead of a traceback on stderr; others pass through."""
    global _server_error
    import kaleido

    if args.thread is not None and args.thread is getattr(getattr(kaleido, "_global_server", None), "_thread", None):
        _server_error = args.exc_value
        return
    _previous_excepthook(args)


def _server_failure() -> str:
    """The first line of kaleido's error (the rest of it advises downloading a browser)."""
    error = _server_error
    if error is None:
        return "see the log"
    return str(error.args[0]) if error.args else type(error).__name__


def _server_running() -> bool:
    """Is kaleido's server thread alive? Once it is gone (its browser did not start, or died),
    a call would wait forever for a reply, and only its thread tells. Unknown: assume alive
    (the call's deadline still applies)."""
    import kaleido

    thread = getattr(getattr(kaleido, "_global_server", None), "_thread", None)
    return thread is None or thread.is_alive()


class KaleidoRenderer:
    """Static export through kaleido's sync server: the system Chromium (never a downloaded
    one), MathJax off and our local plotly.js (kaleido's defaults load both from a CDN)."""

    engine = "kaleido"

    def __init__(self, executable: str | None = None, timeout: float = 60.0, plotly_js: Path = PLOTLY_JS):
        self.executable = executable
        self.timeout = timeout
        self.plotly_js = plotly_js
        self._started = False
        self._path: str | None = None
        self._broken: str | None = None  # a call that never returned: the server is not to be trusted

    def start(self) -> None:
        """Start the server (it starts its browser in its own thread, so this returns at once)."""
        global _server_users, _server_error
        if self._started:
            return
        import kaleido

        path = self._path = self.executable or find_chromium()  # BrowserError when there is none
        with _SERVER_LOCK:
            _install_excepthook()
            if _server_users and not _server_running():  # another user's server died: start afresh
                kaleido.stop_sync_server(silence_warnings=True)
                _server_users = 0
            if _server_users == 0:
                _server_error = None
                kaleido.start_sync_server(path=path, mathjax=False, plotlyjs=self.plotly_js.as_uri(), n=1,
                                          timeout=self.timeout, silence_warnings=True)
            _server_users += 1
        self._started = True

    start_in_background = start

    def render(self, fig: go.Figure, formats: Sequence[str] = STATIC_FORMATS, scale: float = 1.0,
               preview_scale: float | None = None) -> dict[str, bytes]:
        """PNG and/or SVG bytes (plus a `preview` PNG when asked), one kaleido image each."""
        unknown = set(formats) - set(STATIC_FORMATS)
        if unknown:
            raise ValueError(f"unsupported static format(s) {sorted(unknown)}; use png and/or svg")
        self.start()
        width, height = figure_size(fig)
        figure = json.loads(pio.to_json(fig, validate=False))  # the JSON the fast renderer draws
        out: dict[str, bytes] = {}
        if "png" in formats:
            out["png"] = self._calc(figure, "png", width, height, scale)
        if "svg" in formats:  # vector: drawn at scale 1, as the fast renderer does
            out["svg"] = self._calc(figure, "svg", width, height, 1)
        if preview_scale:
            out["preview"] = self._calc(figure, "png", width, height, preview_scale)
        return out

    def _calc(self, figure: dict, fmt: str, width: int, height: int, scale: float) -> bytes:
        """One `kaleido.calc_fig_sync` call, in a helper thread so that a server that died
        (kaleido would wait forever) or never answers fails this chart instead of the run."""
        import kaleido

        if self._broken:
            raise BrowserError(self._broken)
        opts = {"format": fmt, "width": width, "height": height, "scale": scale}
        box: dict[str, Any] = {}

        def call() -> None:
            try:
                box["value"] = kaleido.calc_fig_sync(figure, opts=opts)
            except Exception as exc:  # noqa: BLE001 - re-raised below, in the caller's thread
                box["error"] = exc

        with _SERVER_LOCK:
            worker = threading.Thread(target=call, name="kaleido-call", daemon=True)
            worker.start()
            deadline = time.monotonic() + self.timeout + CALL_GRACE_SECONDS
            while worker.is_alive():
                worker.join(0.05)
                if worker.is_alive() and not _server_running():
                    self._broken = f"kaleido's browser {self._path} stopped: {_server_failure()}"
                    raise BrowserError(self._broken)
                if worker.is_alive() and time.monotonic() > deadline:
                    self._broken = f"kaleido did not answer a {fmt} export within {self.timeout + CALL_GRACE_SECONDS:.0f} s"
                    raise BrowserError(self._broken)
        if "error" in box:
            raise RenderError(f"kaleido: {box['error']}") from box["error"]
        return box["value"]

    def close(self) -> None:
        global _server_users
        if not self._started:
            return
        self._started = False
        import kaleido

        with _SERVER_LOCK:
            _server_users -= 1
            if _server_users == 0:
                kaleido.stop_sync_server(silence_warnings=True)


class EngineRenderer:
    """The `fast` or `kaleido` engine behind one interface (`FigureRenderer`'s). With `fast`,
    if that renderer cannot start, or crashes a second time, the rest is drawn with kaleido:
    `fallback_reason` says why, and each result's `engine` says which engine drew it."""

    def __init__(self, engine: str = DEFAULT_ENGINE, executable: str | None = None, timeout: float = 60.0,
                 fast: FigureRenderer | None = None):
        if engine not in ENGINES:
            raise ValueError(f"unknown rendering engine {engine!r}; use one of {', '.join(ENGINES)}")
        self.engine = engine
        self.fast: FigureRenderer | None = None
        if engine == "fast":
            self.fast = fast or FigureRenderer(executable, timeout=timeout)
            self.fast.crash_limit = FAST_CRASH_LIMIT
        self.kaleido = KaleidoRenderer(executable, timeout=timeout)
        self.fallback_reason: str | None = None
        self._queue: ThreadPoolExecutor | None = None

    def __enter__(self) -> EngineRenderer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def active(self) -> str:
        """The engine drawing now."""
        return "fast" if self.fast is not None else "kaleido"

    def start_in_background(self) -> None:
        (self.fast or self.kaleido).start_in_background()

    def start(self) -> None:
        if self.fast is not None:
            try:
                self.fast.start()
                return
            except (BrowserError, OSError) as exc:
                self._fall_back(exc)
        self.kaleido.start()

    def render(self, fig: go.Figure, formats: Sequence[str] = STATIC_FORMATS, scale: float = 1.0,
               preview_scale: float | None = None) -> Images:
        fast = self.fast
        if fast is not None:
            try:
                return Images(fast.render(fig, formats, scale, preview_scale), "fast")
            except (BrowserError, OSError) as exc:  # it could not (re)start, or crashed twice
                self._fall_back(exc)
        return Images(self.kaleido.render(fig, formats, scale, preview_scale), "kaleido")

    def _fall_back(self, error: BaseException) -> None:
        fast, self.fast = self.fast, None
        what = "crashed twice" if fast.crashes >= FAST_CRASH_LIMIT else "failed to start"
        self.fallback_reason = f"fast renderer {what}: {error}; rendering the rest with kaleido"
        log.warning(self.fallback_reason)
        fast.close()

    def submit(self, fig: go.Figure, formats: Sequence[str] = STATIC_FORMATS, scale: float = 1.0,
               preview_scale: float | None = None) -> Future[Images]:
        """`render` in the renderer's own thread, in submission order (see FigureRenderer.submit)."""
        if self._queue is None:
            self._queue = ThreadPoolExecutor(1, thread_name_prefix="chart-render")
        return self._queue.submit(self.render, fig, formats, scale, preview_scale)

    def render_many(self, figures: Iterable[go.Figure], formats: Sequence[str] = STATIC_FORMATS,
                    scale: float = 1.0) -> list[Images]:
        futures = [self.submit(fig, formats, scale) for fig in figures]
        return [future.result() for future in futures]

    def close(self) -> None:
        if self._queue is not None:  # a render in flight ends before its engine goes
            self._queue.shutdown(wait=True, cancel_futures=True)
            self._queue = None
        if self.fast is not None:
            self.fast.close()
        self.kaleido.close()
