"""Two engines for the same static files, and the fallback from one to the other.

`fast` is this project's one-page renderer (`renderer.FigureRenderer`). `kaleido` is Plotly's
own exporter: the reference way to draw a Plotly figure, ~5x slower per image because kaleido
reloads its page (and re-parses plotly.js) for every image, and the fallback when the fast
renderer cannot start or keeps crashing. Both drive the same system Chromium with the same
plotly.js, so they produce the same PNG and SVG files. No Dagster imports.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import functools
import json
import logging
import os
import shutil
import signal
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
import plotly.io as pio

from intelli_assets.rendering.browser import BrowserError, chromium_env, find_chromium, no_answer, owned_tempdir
from intelli_assets.rendering.renderer import (
    FAST_START_SECONDS,
    PLOTLY_JS,
    STATIC_FORMATS,
    TOPOJSON_URL,
    FigureRenderer,
    RenderError,
    figure_size,
)

log = logging.getLogger(__name__)
ENGINES = ("fast", "kaleido")
DEFAULT_ENGINE = "fast"
FAST_CRASH_LIMIT = 2  # the fast renderer's second crash in a run hands the rest to kaleido
# kaleido's browser start (~1.3 s here) can hang for good: its tab waits for a page-load event
# that Chromium never sends when the page loads before kaleido enables page events (a race
# that busy threads lose). So the start has a deadline, and is retried with a new browser,
# unless the browser never answered at all: a new one would not either.
KALEIDO_START_SECONDS = 15.0
KALEIDO_START_ATTEMPTS = 3
CALL_GRACE_SECONDS = 15.0  # beyond kaleido's own per-image timeout: its page reload after the image


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


def kill_browser(browser: Any) -> None:
    """Kill a kaleido browser's process group (its launcher runs it in a session of its own)."""
    process = getattr(browser, "subprocess", None)
    if process is None or process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        process.kill()


@functools.cache
def owned_tmp_chromium() -> type:
    """choreographer's Chromium, launched with TMPDIR set to its `tmp_dir` (see `chromium_env`).
    Made on first use: choreographer is imported with kaleido, only when kaleido draws."""
    from choreographer.browsers.chromium import Chromium

    class OwnedTmpChromium(Chromium):
        def __init__(self, *args: Any, **kwargs: Any):
            self.owned_tmp = kwargs.get("tmp_dir")
            super().__init__(*args, **kwargs)

        def get_env(self) -> dict[str, str]:
            return chromium_env(self.owned_tmp) if self.owned_tmp else super().get_env()

    return OwnedTmpChromium


class KaleidoRenderer:
    """Static export with kaleido (`kaleido.Kaleido.calc_fig`, what its sync server runs) on
    the system Chromium (never a downloaded one), MathJax off and our local plotly.js (kaleido's
    defaults load both from a CDN). Its own event-loop thread, not kaleido's process-wide sync
    server: that one cannot be given a start deadline, and once hung, stopping it hangs too."""

    engine = "kaleido"

    def __init__(self, executable: str | None = None, timeout: float = 60.0, plotly_js: Path = PLOTLY_JS,
                 start_timeout: float = KALEIDO_START_SECONDS):
        self.executable = executable
        self.timeout = timeout
        self.plotly_js = plotly_js
        self.start_timeout = start_timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._opening: concurrent.futures.Future | None = None
        self._kaleido: Any = None  # an open kaleido.Kaleido
        self._path: str | None = None
        self._failed: str | None = None  # why it could not start: later images fail at once

    def start_in_background(self) -> None:
        """Start kaleido's browser in the loop thread; returns at once."""
        if self._kaleido is not None or self._opening is not None or self._failed:
            return
        try:
            self._path = self._path or self.executable or find_chromium()
        except BrowserError as exc:  # raised by the first image, as the fast renderer does
            self._failed = str(exc)
            log.warning("kaleido's browser cannot start: %s", exc)
            return
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            self._thread = threading.Thread(target=self._loop.run_forever, name="kaleido-loop", daemon=True)
            self._thread.start()
        self._opening = asyncio.run_coroutine_threadsafe(self._open(self._path), self._loop)

    async def _open(self, path: str) -> Any:
        import kaleido

        # its profile and Chromium's TMPDIR in a folder of ours: removed by `_discard`, or by
        # the sweep of dead owners after a SIGKILL
        folder = owned_tempdir("intelli-kaleido-")
        try:
            browser = kaleido.Kaleido(path=path, mathjax=False, plotlyjs=self.plotly_js.as_uri(), n=1,
                                      timeout=self.timeout, browser_cls=owned_tmp_chromium(), tmp_dir=folder)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        browser.intelli_folder = folder
        # not asyncio.wait_for: choreographer turns the cancel into "the browser seemed to close
        # immediately", which hides that it hung
        opening = asyncio.ensure_future(browser.open())
        try:
            done, _ = await asyncio.wait({opening}, timeout=self.start_timeout)
            if not done:
                answered = bool(browser.tabs)  # it listed its page: then kaleido's page load hung
                opening.cancel()
                await asyncio.gather(opening, return_exceptions=True)
                if not answered:
                    raise no_answer(path, self.start_timeout)
                raise TimeoutError(f"its page did not load within {self.start_timeout:.0f} s")
            opening.result()
        except BaseException:
            opening.cancel()
            await self._discard(browser)
            raise
        return browser

    @staticmethod
    async def _discard(browser: Any, hung: bool = True) -> None:
        """Close a kaleido browser. A hung one is killed first (it would never answer
        Browser.close) and kaleido's close is cut short (after such a kill it waits ~10 s for
        nothing); a healthy one is closed the normal way, and killed if that fails."""
        if hung:
            kill_browser(browser)
        try:
            await asyncio.wait_for(browser.close(), 2 if hung else 10)
        except Exception as exc:  # noqa: BLE001 - killed below; only its folders may be left
            log.debug("closing kaleido's browser: %s", exc)
            kill_browser(browser)
        page_dir = getattr(browser, "_html_tmp_dir", None)  # its page
        if page_dir is not None:
            page_dir.clean()
        shutil.rmtree(browser.intelli_folder, ignore_errors=True)  # profile and Chromium's TMPDIR

    def start(self) -> None:
        """Wait for the browser; a start that fails or passes its deadline is retried afresh."""
        if self._kaleido is not None:
            return
        if self._failed:
            raise BrowserError(self._failed)
        error: BaseException | None = None
        for attempt in range(1, KALEIDO_START_ATTEMPTS + 1):
            self.start_in_background()
            opening, self._opening = self._opening, None
            if opening is None:  # no browser to start (e.g. BROWSER_PATH is wrong): no retry
                raise BrowserError(self._failed)
            try:
                self._kaleido = opening.result(self.start_timeout + 15)
                return
            except TimeoutError:  # ours beyond the start's own deadline
                error = TimeoutError(f"no answer within {self.start_timeout + 15:.0f} s")
            except Exception as exc:  # noqa: BLE001 - reported below with the path
                error = exc
            log.warning("kaleido's browser did not start (attempt %d of %d): %s", attempt,
                        KALEIDO_START_ATTEMPTS, first_line(error))
            if isinstance(error, BrowserError):  # it never answered: a new one would not either
                break
        self._failed = (str(error) if isinstance(error, BrowserError)
                        else f"kaleido's browser {self._path} did not start: {first_line(error)}")
        raise BrowserError(self._failed)

    def render(self, fig: go.Figure, formats: Sequence[str] = STATIC_FORMATS, scale: float = 1.0,
               preview_scale: float | None = None) -> dict[str, bytes]:
        """PNG and/or SVG bytes (plus a `preview` PNG when asked), one kaleido image each."""
        unknown = set(formats) - set(STATIC_FORMATS)
        if unknown:
            raise ValueError(f"unsupported static format(s) {sorted(unknown)}; use png and/or svg")
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
        self.start()
        opts = {"format": fmt, "width": width, "height": height, "scale": scale}
        # a map's outlines from the package's folder, never from kaleido's default (the CDN)
        call = asyncio.run_coroutine_threadsafe(self._kaleido.calc_fig(figure, opts=opts, topojson=TOPOJSON_URL),
                                                self._loop)
        try:
            return call.result(self.timeout + CALL_GRACE_SECONDS)
        except TimeoutError:  # kaleido's own per-image limit, or ours beyond it
            call.cancel()
            self._drop()  # the next image gets a new browser
            raise BrowserError(f"kaleido did not finish a {fmt} export within {self.timeout:.0f} s") from None
        except Exception as exc:
            if self._kaleido.subprocess.poll() is not None:  # its browser died: a new one next time
                self._drop()
                raise BrowserError(f"kaleido's browser died: {first_line(exc)}") from None
            raise RenderError(f"kaleido: {first_line(exc)}") from None

    def _drop(self, hung: bool = True) -> None:
        browser, self._kaleido = self._kaleido, None
        if browser is not None and self._loop is not None:
            try:
                asyncio.run_coroutine_threadsafe(self._discard(browser, hung), self._loop).result(20)
            except Exception as exc:  # noqa: BLE001 - killed already; only its folders may remain
                log.warning("kaleido's browser did not close cleanly: %s", exc)

    def close(self) -> None:
        if self._loop is None:
            return
        if self._opening is not None:  # a start in flight: let it end (bounded), then close it
            try:
                self._kaleido = self._opening.result(self.start_timeout + 15)
            except Exception:  # noqa: BLE001 - nothing was opened
                pass
            self._opening = None
        self._drop(hung=False)
        try:  # e.g. the watchdog of a killed browser: end them before the loop goes
            asyncio.run_coroutine_threadsafe(cancel_pending_tasks(), self._loop).result(10)
        except Exception as exc:  # noqa: BLE001 - the loop is stopped regardless
            log.debug("kaleido's loop did not wind down: %s", exc)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        if not self._thread.is_alive():
            self._loop.close()
        self._loop = self._thread = None


async def cancel_pending_tasks() -> None:
    tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def first_line(error: BaseException | None) -> str:
    """An error's own first line (choreographer's go on to advise downloading a browser)."""
    if error is None:
        return "unknown error"
    text = str(error.args[0]) if error.args else ""
    return text.splitlines()[0] if text else type(error).__name__


class EngineRenderer:
    """The `fast` or `kaleido` engine behind one interface (`FigureRenderer`'s). With `fast`,
    if that renderer cannot start, or crashes a second time, the rest is drawn with kaleido:
    `fallback_reason` says why, and each result's `engine` says which engine drew it."""

    def __init__(self, engine: str = DEFAULT_ENGINE, executable: str | None = None, timeout: float = 60.0,
                 fast: FigureRenderer | None = None, start_timeout: float | None = None):
        """`start_timeout`: how long a starting browser may take to answer (default: 30 s for
        fast, 15 s per try for kaleido)."""
        if engine not in ENGINES:
            raise ValueError(f"unknown rendering engine {engine!r}; use one of {', '.join(ENGINES)}")
        self.engine = engine
        self.fast: FigureRenderer | None = None
        if engine == "fast":
            self.fast = fast or FigureRenderer(executable, timeout=timeout,
                                               start_timeout=start_timeout or FAST_START_SECONDS)
            self.fast.crash_limit = FAST_CRASH_LIMIT
        self.kaleido = KaleidoRenderer(executable, timeout=timeout, start_timeout=start_timeout or KALEIDO_START_SECONDS)
        self.fallback_reason: str | None = None
        self._fast_error: str | None = None  # why fast gave up: told again if kaleido fails too
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

    @property
    def died_idle(self) -> bool:
        """Its fast renderer's browser was started and has exited since, before drawing."""
        return self.fast is not None and self.fast.died_idle

    def start(self) -> None:
        if self.fast is not None:
            try:
                self.fast.start()
                return
            except (BrowserError, OSError) as exc:
                self._fall_back(exc)
        self._with_kaleido(self.kaleido.start)

    def render(self, fig: go.Figure, formats: Sequence[str] = STATIC_FORMATS, scale: float = 1.0,
               preview_scale: float | None = None) -> Images:
        fast = self.fast
        if fast is not None:
            try:
                return Images(fast.render(fig, formats, scale, preview_scale), "fast")
            except (BrowserError, OSError) as exc:  # it could not (re)start, or crashed twice
                self._fall_back(exc)
        return Images(self._with_kaleido(self.kaleido.render, fig, formats, scale, preview_scale), "kaleido")

    def _with_kaleido(self, call: Any, *args: Any) -> Any:
        """`call(*args)`; a browser failure after the fast renderer's says both reasons."""
        try:
            return call(*args)
        except BrowserError as exc:
            if self._fast_error is None:
                raise
            raise BrowserError(f"both engines failed: the fast renderer {self._fast_error}; "
                               f"kaleido: {exc}") from None

    def _fall_back(self, error: BaseException) -> None:
        fast, self.fast = self.fast, None
        what = "crashed twice" if fast.crashes >= FAST_CRASH_LIMIT else "failed to start"
        self._fast_error = f"{what}: {error}"
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
