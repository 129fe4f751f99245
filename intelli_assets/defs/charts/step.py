"""The `charts` step's work: build each selected chart, have Chromium draw it while the next
one is built, write its files, and report progress, cancels and failures per chart.

Progress is structured: an `AssetObservation` per chart with `event` start / skipped /
cancelled / error (error class and message) and `progress` 0-100, beside the chart's
materialization (done). Each observation is an event-log write (~40 ms on SQLite), so there is
none between a chart's start and its materialization, ~50 ms later, and the runs of an inbox
batch leave out `start`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
import traceback
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, wait
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg

from intelli_assets.artifacts import ArtifactLayout, params_hash, write_atomic
from intelli_assets.charts import CHARTS, Chart, charts_fed_by, selects_every_chart
from intelli_assets.charts.base import records_required_message
from intelli_assets.dataset import Dataset
from intelli_assets.defs.charts.resources import ChartRenderer
from intelli_assets.defs.runs.cancels import cancel_requests, run_cancel_requested
from intelli_assets.defs.runs.tags import BATCH_TAG
from intelli_assets.errors import IntelliError, StorageError
from intelli_assets.forecast_worker import Forecaster
from intelli_assets.rendering import figure_html
from intelli_assets.style import Style

PREVIEW_SCALE = 0.4
CANCEL_POLL_SECONDS = 1.0  # cancels take effect within this + one chart's build
FIT_POLL_SECONDS = 0.1  # a chart drawn while the fits run is materialized within this
Settings = tuple[dict, Style, list[str]]  # params, style, formats


@dataclass
class PendingChart:
    """A built chart whose images Chromium is drawing."""

    key: str
    chart: Chart
    settings: dict
    folder: Path
    files: dict[str, dict]  # format -> {"path", "sha256", "bytes"} (+ "staged" until published)
    build_ms: float
    images: Future
    submitted: float
    rendered: list[float] = field(default_factory=list)  # set by the future's callback


def stage_file(path: Path, data: bytes | str) -> dict:
    """Write a chart file beside its final place (`.NAME.staged-PID`); `publish` moves it into
    place when the whole chart is done, `discard` removes it otherwise: a chart that fails or
    is cancelled leaves no file, and never disturbs the files of an earlier materialization
    with the same settings. Returns what the audit trail records of the file."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    staged = write_atomic(path.with_name(f".{path.name}.staged-{os.getpid()}"), raw)
    return {"path": str(path), "sha256": hashlib.sha256(raw).hexdigest(), "bytes": len(raw), "staged": staged}


def publish(pending: PendingChart) -> None:
    for info in pending.files.values():
        staged = info.pop("staged", None)
        if staged is not None:
            try:
                staged.replace(info["path"])
            except OSError as exc:
                raise StorageError(info["path"], exc) from None


def discard(pending: PendingChart) -> None:
    for info in pending.files.values():
        if info.get("staged") is not None:
            info["staged"].unlink(missing_ok=True)
    try:
        pending.folder.rmdir()  # only if nothing else is in it
    except OSError:
        pass


class ChartsStep:
    def __init__(self, context: dg.AssetExecutionContext, renderer: ChartRenderer, layout: ArtifactLayout,
                 forecaster: Forecaster):
        self.context = context
        self.renderer = renderer
        self.forecaster = forecaster
        self.layout = layout
        self.failures: dict[str, str] = {}
        self.queue: deque[PendingChart] = deque()
        self.last_done = 0.0  # when Chromium finished the previous chart: render_ms excludes queueing
        self.dropped: set[str] = set()  # charts whose cancel was requested
        self.undecided: list[str] = []  # charts neither materialized, failed nor dropped yet
        self.cancels_read_at: float | None = None  # when cancels were last read
        self.run_cancelling = False
        self.fallbacks_noted: set[str] = set()
        # a run of an inbox batch, which nobody follows chart by chart: no "start" observation
        # (an asset event, ~1/5 of its run's event writes); its other progress is reported
        self.report_starts = BATCH_TAG not in context.run.tags

    def note_fallback(self) -> None:
        """Say once in the run log that the renderer fell back to kaleido, or the forecast worker
        was given up, and why. (A renderer passed in by the caller may be a bare FigureRenderer,
        which never falls back.)"""
        for service in (self.renderer, self.forecaster):
            reason = getattr(service, "fallback_reason", None)
            if reason and reason not in self.fallbacks_noted:
                self.fallbacks_noted.add(reason)
                self.context.log.warning(reason)

    # --- progress ---------------------------------------------------------------------------

    def report(self, key: str, event: str, progress: int, **extra: str) -> None:
        self.context.log_event(dg.AssetObservation(
            asset_key=dg.AssetKey(["charts", key]), partition=self.context.partition_key,
            metadata={"event": event, "progress": progress, **extra}))

    def fail(self, key: str, message: str, error: BaseException | None = None) -> None:
        self.failures[key] = message
        self.report(key, "error", 100, error_class=type(error).__name__ if error else "Error", message=message)

    # --- cancels ----------------------------------------------------------------------------

    def cancel_state(self) -> tuple[bool, set[str]]:
        """(the whole run is cancelling, charts whose cancel was requested), from the cancel
        requests and the run's status: queries (~0.05 s each on SQLite), so read before the first
        chart and then at most once a second. A cancel from another process takes effect within
        that and one chart. A cancel recorded while the run was starting counts too
        (`run_cancel_requested`)."""
        now = time.monotonic()
        if self.cancels_read_at is not None and now - self.cancels_read_at < CANCEL_POLL_SECONDS:
            return self.run_cancelling, self.dropped
        self.cancels_read_at = now
        instance = self.context.instance
        run = instance.get_run_by_id(self.context.run.run_id)
        if run is None:
            return False, set()
        undecided = [k for k in self.undecided if k not in self.dropped]
        self.dropped |= set(cancel_requests(instance, run, undecided))
        self.run_cancelling = run_cancel_requested(instance, run)
        return self.run_cancelling, self.dropped

    # --- one chart --------------------------------------------------------------------------

    def start(self, key: str, dataset: Dataset, settings: Settings) -> PendingChart:
        """Build a chart, hand its figure to Chromium, and write the files that need no image
        (HTML, chart_data.json, settings.json) while Chromium draws."""
        spec, (params, style, formats) = CHARTS[key], settings
        started = time.perf_counter()
        chart = spec.run(dataset, params, style, self.forecaster)
        built = time.perf_counter()
        static = [f for f in formats if f in ("png", "svg")]
        images = self.renderer.submit(chart.figure, static, style.scale, preview_scale=PREVIEW_SCALE)
        chart_settings = {"chart": key, "version": spec.version, "params": params, "style": style.to_dict(),
                          "formats": formats}
        folder = self.layout.chart_dir(self.context.partition_key, key, params_hash(chart_settings))
        pending = PendingChart(key, chart, chart_settings, folder, {}, round((built - started) * 1000, 1), images,
                               submitted=built)
        images.add_done_callback(lambda _f: pending.rendered.append(time.perf_counter()))
        try:
            if "html" in formats:
                pending.files["html"] = stage_file(folder / "chart.html", figure_html(chart.figure))
            pending.files["chart_data"] = stage_file(folder / "chart_data.json",
                                                     json.dumps(chart.chart_data, indent=2, ensure_ascii=False))
            pending.files["settings"] = stage_file(folder / "settings.json", json.dumps(chart_settings, indent=2))
        except BaseException:
            images.cancel()
            discard(pending)
            raise
        return pending

    def finish(self, pending: PendingChart) -> Iterator[dg.MaterializeResult]:
        """Write a drawn chart's images and yield its materialization (or record its failure)."""
        if pending.key in self.undecided:
            self.undecided.remove(pending.key)
        try:
            images = pending.images.result()
        except Exception as exc:  # noqa: BLE001 - a render error belongs to this chart only
            self.note_fallback()
            discard(pending)
            self.fail(pending.key, f"rendering failed: {exc}", exc)
            return
        self.note_fallback()
        done = pending.rendered[0] if pending.rendered else time.perf_counter()
        render_ms, self.last_done = (done - max(pending.submitted, self.last_done)) * 1000, done
        try:  # e.g. the disk is full: this chart fails, and leaves no file
            for fmt in ("png", "svg"):
                if fmt in images:
                    pending.files[fmt] = stage_file(pending.folder / f"chart.{fmt}", images[fmt])
            publish(pending)
        except IntelliError as exc:
            discard(pending)
            self.fail(pending.key, str(exc), exc)
            return
        warnings = pending.chart.chart_data.get("warnings", [])
        if warnings:  # one log event for all: each is an event-log write
            self.context.log.warning("\n".join(f"{pending.key}: {warning}" for warning in warnings))
        yield materialization(pending, images["preview"], render_ms, getattr(images, "engine", "fast"))

    # --- the step ---------------------------------------------------------------------------

    def checkpoint(self) -> Iterator[dg.MaterializeResult]:
        """Honour cancels: a cancelled run keeps the charts already drawn and stops; a
        cancelled chart is dropped (not started, or its result not materialized)."""
        run_cancelled, self.dropped = self.cancel_state()
        if run_cancelled:
            for pending in self.queue:
                if pending.images.done():
                    yield from self.finish(pending)
                else:
                    pending.images.cancel()
                    discard(pending)
            self.queue.clear()
            raise dg.DagsterExecutionInterruptedError("the run was cancelled")
        for pending in [p for p in self.queue if p.key in self.dropped]:
            self.queue.remove(pending)
            pending.images.cancel()
            discard(pending)
            self.report(pending.key, "cancelled", 100)

    def finish_drawn(self) -> Iterator[dg.MaterializeResult]:
        """Materialize the charts Chromium has drawn so far, in order."""
        while self.queue and self.queue[0].images.done():
            yield from self.finish(self.queue.popleft())

    def await_fits(self, key: str) -> Iterator[dg.MaterializeResult]:
        """Wait for the prefetched model fits of chart `key`, materializing the charts drawn
        meanwhile and honouring cancels, its own too (a cold forecast worker takes seconds to
        import statsmodels; a stuck one is given up after its time-out)."""
        while key not in self.dropped and not self.forecaster.fits_ready(FIT_POLL_SECONDS):
            yield from self.checkpoint()
            yield from self.finish_drawn()

    def fed_charts(self, keys: list[str], dataset: Dataset) -> list[str]:
        """The charts to draw. A run of every chart (the main job, Materialize all) on a dataset
        without records draws the ones it can feed (`charts_fed_by`) and notes the others as
        skipped, each with its reason; a chart selected by name is always attempted (a
        record-level one then fails with that one sentence)."""
        if dataset.records is not None or not selects_every_chart(keys):
            return keys
        fed = charts_fed_by(keys, has_records=False)
        skipped = [key for key in keys if key not in fed]
        for key in skipped:
            self.report(key, "skipped", 100, message=records_required_message(key, dataset))
        if skipped:
            self.context.log.info(f"not drawn, they need records (a results list or a Lens query), which this "
                                  f"dataset does not have: {', '.join(skipped)}")
        return fed

    def run(self, keys: list[str], dataset: Dataset, settings: dict[str, Settings]) -> Iterator[dg.MaterializeResult]:
        keys = self.fed_charts(keys, dataset)
        try:
            yield from self.draw(keys, dataset, settings)
        finally:  # interrupted or cancelled: what was not materialized leaves no file
            for pending in self.queue:
                pending.images.cancel()
                discard(pending)

    def draw(self, keys: list[str], dataset: Dataset, settings: dict[str, Settings]) -> Iterator[dg.MaterializeResult]:
        self.undecided = list(keys)
        for key in keys:  # model fits start in their worker now, while the other charts are drawn
            if CHARTS[key].prefetch:
                try:
                    CHARTS[key].prefetch(dataset, settings[key][0], self.forecaster)
                except (IntelliError, ValueError):
                    pass  # the chart's own build reports it
        for key in keys:
            if CHARTS[key].fits_models:
                yield from self.await_fits(key)
            yield from self.checkpoint()
            if key in self.dropped:
                self.report(key, "cancelled", 100)
                continue
            if self.report_starts:
                self.report(key, "start", 0)
            try:
                self.queue.append(self.start(key, dataset, settings[key]))
            except (IntelliError, ValueError) as exc:  # bad data or params: the user's to fix
                self.fail(key, str(exc), exc)
            except Exception as exc:  # noqa: BLE001 - a bug in one chart must not cost the others
                self.context.log.error(f"{key}: unexpected error\n{traceback.format_exc()}")
                self.fail(key, f"internal error ({type(exc).__name__}: {exc}); traceback in the run log", exc)
            yield from self.finish_drawn()
        while self.queue:
            yield from self.checkpoint()
            # wait a poll at a time, not a whole render: a cancel must not wait for a large image
            if self.queue and wait([self.queue[0].images], timeout=CANCEL_POLL_SECONDS).done:
                yield from self.finish(self.queue.popleft())
        self.cancels_read_at = None  # a last look: a cancel that landed during the last chart ends the run CANCELED
        yield from self.checkpoint()
        if self.failures:
            raise dg.Failure(
                description="; ".join(f"{key}: {error}" for key, error in self.failures.items()),
                metadata={"failed_charts": dg.MetadataValue.json(self.failures)},
            )


def materialization(pending: PendingChart, preview_png: bytes, render_ms: float,
                    engine: str = "fast") -> dg.MaterializeResult:
    """A chart's materialization: inline preview, paths, params, chart_data, each file's sha256
    (the audit trail `intelli audit` verifies) and the engine that drew the images."""
    preview = base64.b64encode(preview_png).decode()
    chart_data = pending.chart.chart_data
    files = {fmt: info for fmt, info in sorted(pending.files.items()) if fmt != "settings"}
    return dg.MaterializeResult(
        asset_key=dg.AssetKey(["charts", pending.key]),
        metadata={
            "preview": dg.MetadataValue.md(f"![{pending.key}](data:image/png;base64,{preview})"),
            **{f"{fmt}_path": dg.MetadataValue.path(info["path"]) for fmt, info in files.items()},
            "files": dg.MetadataValue.json(pending.files),
            "params": dg.MetadataValue.json(pending.settings),
            "params_hash": pending.folder.name,
            "chart_data": dg.MetadataValue.json(chart_data),
            "warnings": len(chart_data.get("warnings", [])),
            "build_ms": pending.build_ms,
            "render_ms": round(render_ms, 1),
            "engine": engine,  # fast or kaleido (a fallback shows here)
        },
    )
