"""The two rendering engines against a real Chromium: the same files from both, and the
fallback from the fast renderer to kaleido when it cannot start or crashes twice."""

from __future__ import annotations

import asyncio
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

import plotly.graph_objects as go
import pytest

from intelli_assets.charts import CHARTS
from intelli_assets.dataset import Dataset, build_manifest
from intelli_assets.rendering import (
    BrowserError,
    EngineRenderer,
    FigureRenderer,
    KaleidoRenderer,
    engine_from_overrides,
)
from intelli_assets.sources import read_source
from intelli_assets.style import Style
from intelli_assets_tests.conftest import real_workbook
from intelli_assets_tests.waiting import Background, wait_for

np = pytest.importorskip("numpy")
Image = pytest.importorskip("PIL.Image")

pytestmark = pytest.mark.slow
WORKBOOK = "Filters_20250331_1141"
PREVIEW_SCALE = 0.4  # as the charts step asks
# Parity of two PNGs of one chart: same size, and over all pixels and RGBA channels
MAX_MEAN_ABS_DIFF = 2.0  # mean |a - b| on 0-255: antialiasing may differ, the drawing may not
MAX_SHARE_OFF = 0.01  # pixels with any channel off by more than 32: at most 1% (a moved label is more)
OFF_BY = 32
HANG_GUARD = 120.0  # a hang guard, not a speed check
SVG_TEXT = "{http://www.w3.org/2000/svg}text"
INTELLI = str(Path(sys.executable).parent / "intelli")


def png_pixels(data: bytes):
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGBA"), dtype=np.int16)


def png_difference(a: bytes, b: bytes) -> tuple[float, float]:
    """(mean absolute per-channel difference, share of pixels with a channel off by > 32);
    both PNGs must have the same size."""
    pa, pb = png_pixels(a), png_pixels(b)
    assert pa.shape == pb.shape, f"PNG sizes differ: {pa.shape[1::-1]} vs {pb.shape[1::-1]}"
    diff = np.abs(pa - pb)
    return float(diff.mean()), float((diff.max(axis=2) > OFF_BY).mean())


def svg_labels(svg: bytes) -> Counter:
    """Every <text> element's full text (tspans included): the labels a reader sees."""
    return Counter("".join(el.itertext()) for el in ET.fromstring(svg).iter(SVG_TEXT))


def assert_same_images(fast: dict[str, bytes], kaleido: dict[str, bytes], what: str) -> tuple[float, float]:
    mean, share = png_difference(fast["png"], kaleido["png"])
    assert mean <= MAX_MEAN_ABS_DIFF and share <= MAX_SHARE_OFF, f"{what}: mean diff {mean:.3f}, {share:.2%} off"
    assert svg_labels(fast["svg"]) == svg_labels(kaleido["svg"]), what
    return mean, share


def fake_chromium(tmp_path: Path) -> tuple[Path, Path]:
    """An executable that notes it was started and exits at once: a browser that cannot start."""
    marker = tmp_path / "fake-chromium-started"
    fake = tmp_path / "fake-chromium"
    fake.write_text(f"#!/bin/sh\ntouch '{marker}'\nexit 1\n")
    fake.chmod(0o755)
    return fake, marker


def page_renderers(browser_pid: int) -> list[int]:
    """The page renderer processes of one browser (its own process group)."""
    pids = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and b"--type=renderer" in (proc / "cmdline").read_bytes() \
                    and os.getpgid(int(proc.name)) == browser_pid:
                pids.append(int(proc.name))
        except OSError:  # it exited meanwhile
            continue
    return pids


def small_figure(label: str) -> go.Figure:
    fig = go.Figure(go.Bar(x=[3, 5], y=[f"{label} A", f"{label} B"], orientation="h"))
    fig.update_layout(width=480, height=320, title=label)
    return fig


@pytest.fixture(scope="module")
def real_charts():
    data = read_source(real_workbook(WORKBOOK))
    dataset = Dataset(data.facets, build_manifest(data.facets, data, {}))
    return [spec.run(dataset, {}, Style()) for spec in CHARTS.values() if not spec.needs_records]


def test_both_engines_draw_the_charts_of_a_real_workbook_alike(real_charts):
    assert len(real_charts) == 9  # the eight facet charts and the map (its outlines from the package, both engines)
    with EngineRenderer("fast") as fast, EngineRenderer("kaleido") as kaleido:
        for chart in real_charts:
            a = fast.render(chart.figure, ["png", "svg"], preview_scale=PREVIEW_SCALE)
            b = kaleido.render(chart.figure, ["png", "svg"], preview_scale=PREVIEW_SCALE)
            assert (a.engine, b.engine) == ("fast", "kaleido")
            mean, share = assert_same_images(a, b, chart.key)
            assert png_pixels(a["png"]).shape[1::-1] == (chart.width, chart.height)
            assert png_pixels(a["preview"]).shape == png_pixels(b["preview"]).shape
            print(f"{chart.key}: mean |diff| {mean:.4f}, pixels off by >{OFF_BY}: {share:.4%}, "
                  f"PNG bytes equal: {a['png'] == b['png']}, {len(svg_labels(a['svg']))} labels")
    assert fast.fallback_reason is None and kaleido.fallback_reason is None


@pytest.mark.parametrize("broken", ["missing", "exits at once"])
def test_a_fast_renderer_that_cannot_start_hands_the_run_to_kaleido(broken, tmp_path):
    fake, marker = fake_chromium(tmp_path)
    executable = str(tmp_path / "no-such-chromium") if broken == "missing" else str(fake)
    renderer = EngineRenderer(fast=FigureRenderer(executable))
    renderer.start_in_background()  # as a run does: the failure shows at the first render
    try:
        out = Background(lambda: renderer.render_many([small_figure("one"), small_figure("two")], ["png", "svg"])) \
            .result(HANG_GUARD, "the fallback never rendered")
    finally:
        renderer.close()
    assert [o.engine for o in out] == ["kaleido", "kaleido"]
    assert b"one A" in out[0]["svg"] and out[1]["png"][:4] == b"\x89PNG"
    assert renderer.fallback_reason.startswith("fast renderer failed to start: ")
    assert renderer.fallback_reason.endswith("; rendering the rest with kaleido")
    if broken == "missing":
        assert "no-such-chromium' is not an executable file" in renderer.fallback_reason
    else:
        assert marker.exists()  # the fake browser was really started


def test_a_fast_renderer_whose_page_crashes_twice_hands_the_rest_to_kaleido():
    figures = [small_figure(label) for label in ("first", "second", "third", "fourth")]
    engines = []
    with EngineRenderer("fast") as renderer:
        fast = renderer.fast
        for i, fig in enumerate(figures):
            if i in (1, 2):  # kill the page's renderer process before the 2nd and 3rd figures
                browser = fast.browser_pid
                for pid in wait_for(lambda b=browser: page_renderers(b), message="no page renderer"):
                    os.kill(pid, signal.SIGKILL)
            out = Background(lambda f=fig: renderer.render(f, ["svg"])).result(HANG_GUARD, "a crash was not noticed")
            assert f"{('first', 'second', 'third', 'fourth')[i]} A".encode() in out["svg"]
            engines.append(out.engine)
        assert engines == ["fast", "fast", "kaleido", "kaleido"]  # one crash is restarted, the second is not
        assert fast.crashes == 2 and fast.browser_pid is None  # the fast browser is shut down
        assert renderer.fallback_reason.startswith("fast renderer crashed twice: Chromium's page renderer crashed")


def process_alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return False


def test_a_kaleido_start_that_hangs_is_cut_short_and_retried_with_a_new_browser(monkeypatch):
    """kaleido's start can wait forever for a page-load event it missed: here its first page
    load never ends (the browser itself answers), then a new browser starts."""
    import kaleido

    conform, browsers = kaleido.Kaleido._conform_tabs, []

    async def misses_the_load_once(self, tabs=None):
        if self.subprocess.pid not in browsers:
            browsers.append(self.subprocess.pid)
        if self.subprocess.pid == browsers[0]:
            await asyncio.sleep(600)
        await conform(self, tabs)

    monkeypatch.setattr(kaleido.Kaleido, "_conform_tabs", misses_the_load_once)
    renderer = KaleidoRenderer(start_timeout=5)
    try:
        out = Background(lambda: renderer.render(small_figure("retried"), ["svg"])).result(
            HANG_GUARD, "the hung start was not cut short")
    finally:
        renderer.close()
    assert b"retried A" in out["svg"]
    first, second = browsers
    assert not process_alive(first)  # the hung one was killed
    wait_for(lambda: not process_alive(second), message="kaleido's browser outlived close()")


def hanging_browser(tmp_path: Path) -> Path:
    """A 'browser' that starts and never answers (a wrong BROWSER_PATH, say)."""
    fake = tmp_path / "hangs"
    fake.write_text("#!/bin/sh\nexec sleep 600\n")
    fake.chmod(0o755)
    return fake


def test_a_browser_that_never_answers_is_named_with_both_engines_reasons_without_retries(tmp_path, caplog):
    fake = hanging_browser(tmp_path)
    renderer = EngineRenderer("fast", str(fake), start_timeout=3)
    renderer.start_in_background()
    try:
        with pytest.raises(BrowserError) as caught:
            Background(lambda: renderer.render(small_figure("hung"), ["png"])).result(HANG_GUARD, "no answer")
    finally:
        renderer.close()
    no_answer = f"the browser at {fake} did not answer within 3 s; check BROWSER_PATH or the Chromium install"
    assert str(caught.value) == f"both engines failed: the fast renderer failed to start: {no_answer}; " \
                                f"kaleido: {no_answer}"
    tries = [r.message for r in caplog.records if "kaleido's browser did not start" in r.message]
    assert tries == [f"kaleido's browser did not start (attempt 1 of 3): {no_answer}"]  # a new one would hang too
    assert "starting it once more" not in caplog.text  # nor is the fast renderer's hung browser started again


def test_a_missing_browser_stops_kaleido_at_once_with_the_reason(monkeypatch, tmp_path, caplog):
    monkeypatch.setenv("BROWSER_PATH", str(tmp_path / "nonexistent"))
    renderer = KaleidoRenderer()
    renderer.start_in_background()
    try:
        for _ in range(2):  # the later images fail at once, without a new log line
            with pytest.raises(BrowserError, match="^BROWSER_PATH=.*nonexistent' is not an executable file$"):
                renderer.render(small_figure("none"), ["png"])
    finally:
        renderer.close()
    notes = [r.message for r in caplog.records if "kaleido" in r.message]
    assert len(notes) == 1 and "is not an executable file" in notes[0], notes


@pytest.mark.parametrize("engine", ["fast", "kaleido"])
def test_a_render_leaves_nothing_in_tmpdir(engine, monkeypatch, request):
    """Chromium makes an `org.chromium.Chromium.*` folder in its TMPDIR, and a killed browser
    leaves it behind: each browser gets a TMPDIR in the renderer's own temporary folder."""
    private = Path(tempfile.mkdtemp(dir="/tmp"))  # short: Chromium's socket path has a limit
    request.addfinalizer(lambda: shutil.rmtree(private, ignore_errors=True))
    monkeypatch.setenv("TMPDIR", str(private))
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    seen: list[str] = []
    with EngineRenderer(engine) as renderer:
        out = renderer.render(small_figure("tidy"), ["png", "svg"], preview_scale=PREVIEW_SCALE)
        seen = [str(p.relative_to(private)) for p in private.rglob("org.chromium.Chromium.*")]
    assert out.engine == engine and b"tidy A" in out["svg"]
    assert seen and all(p.startswith(f"intelli-{'chromium' if engine == 'fast' else 'kaleido'}-") for p in seen)
    assert list(private.iterdir()) == []


def test_a_kaleido_browser_that_never_starts_fails_each_image_at_once_after_three_tries(tmp_path):
    fake, marker = fake_chromium(tmp_path)
    renderer = KaleidoRenderer(str(fake))
    try:
        for _ in range(2):
            with pytest.raises(BrowserError, match="did not start: The browser seemed to close immediately"):
                Background(lambda: renderer.render(small_figure("never"), ["png"])).result(HANG_GUARD, "no answer")
    finally:
        renderer.close()
    assert marker.exists()


def test_engine_setting_is_read_from_set_pairs_without_the_run_machinery():
    assert engine_from_overrides([]) == "fast"
    assert engine_from_overrides(["top_n=5", "engine = Kaleido"]) == "kaleido"
    assert engine_from_overrides(["engine=kaleido", "engine=fast"]) == "fast"  # the last one wins
    assert engine_from_overrides(["engine=turbo"]) == "fast"  # the run's settings check reports it
    with pytest.raises(ValueError, match="unknown rendering engine 'turbo'"):
        EngineRenderer("turbo")


def dg_key(chart: str):
    import dagster as dg

    return dg.AssetKey(["charts", chart])


def run_in_process(charts: list[str], renderer: EngineRenderer):
    """`run_workbook` as the CLI calls it, with the renderer started in the background first."""
    from intelli_assets.launch import open_instance, run_workbook

    instance = open_instance()
    renderer.start_in_background()
    try:
        return instance, run_workbook(real_workbook(WORKBOOK), charts, {}, instance, renderer=renderer)
    finally:
        renderer.close()


def test_a_run_whose_fast_renderer_fails_finishes_with_kaleido_and_says_so(dagster_home, tmp_path):
    fake, marker = fake_chromium(tmp_path)
    charts = ["top_patent_countries", "top_patent_inventors"]
    instance, report = run_in_process(charts, EngineRenderer(fast=FigureRenderer(str(fake))))
    assert report.status == "success" and marker.exists()
    for key in charts:
        (record,) = instance.fetch_materializations(dg_key(key), limit=1).records
        assert record.asset_materialization.metadata["engine"].value == "kaleido"
    notes = [e.user_message for e in instance.all_logs(report.run_id) if "rendering the rest with kaleido" in e.user_message]
    assert len(notes) == 1 and notes[0].startswith("fast renderer failed to start: ")


def test_cli_engine_kaleido_gives_the_same_charts_as_the_default(dagster_home):
    charts = ["top_patent_countries", "cpc_treemap"]
    instance, default = run_in_process(charts, EngineRenderer())
    assert default.status == "success"
    first = {key: {fmt: Path(path).read_bytes() for fmt, path in chart["files"].items()}
             for key, chart in default.charts.items()}
    env = {**os.environ, "DAGSTER_HOME": str(dagster_home)}
    env.pop("INTELLI_ARTIFACTS_DIR", None)
    proc = subprocess.run([INTELLI, "run", str(real_workbook(WORKBOOK)), "--charts", ",".join(charts),
                           "--set", "engine=kaleido", "--json"], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    kaleido = json.loads(proc.stdout)
    assert set(kaleido["charts"]) == set(charts)
    for key, chart in kaleido["charts"].items():
        assert chart["files"] == default.charts[key]["files"]  # same settings, same place
        again = {fmt: Path(path).read_bytes() for fmt, path in chart["files"].items()}
        assert again["html"] == first[key]["html"] and again["chart_data"] == first[key]["chart_data"]
        assert_same_images(first[key], again, key)
        engines = [r.asset_materialization.metadata["engine"].value
                   for r in instance.fetch_materializations(dg_key(key), limit=2).records]
        assert engines == ["kaleido", "fast"]  # newest first


def test_the_launchpad_sets_the_engine_as_resource_config(dagster_home):
    from intelli_assets.definitions import defs
    from intelli_assets.launch import open_instance, run_workbook

    job = defs.resolve_job_def("dataset_charts")
    renderer = job.run_config_schema.config_type.fields["resources"].config_type.fields["renderer"]
    engine = renderer.config_type.fields["config"].config_type.fields["engine"]
    assert [v.config_value for v in engine.config_type.enum_values] == ["fast", "kaleido"]
    assert engine.default_value == "fast"
    instance = open_instance()
    chart = "top_patent_inventors"
    first = run_workbook(real_workbook(WORKBOOK), [chart], {}, instance)  # the run's own ChartRenderer
    result = job.execute_in_process(
        instance=instance, partition_key=first.partition, asset_selection=[dg_key(chart)], raise_on_error=False,
        run_config={"resources": {"renderer": {"config": {"engine": "kaleido"}}}})  # as the Launchpad sends it
    assert first.status == "success" and result.success
    engines = [r.asset_materialization.metadata["engine"].value
               for r in instance.fetch_materializations(dg_key(chart), limit=2).records]
    assert engines == ["kaleido", "fast"]


def test_an_unknown_engine_is_invalid_input():
    from intelli_assets.errors import ChartParamError
    from intelli_assets.launch import chart_run_config

    with pytest.raises(ChartParamError, match="setting engine='turbo': must be one of fast, kaleido"):
        chart_run_config(["top_patent_countries"], {"engine": "turbo"})
    # a renderer setting, not the charts step's: it is checked, and left out of the step's config
    assert chart_run_config(["top_patent_countries"], {"engine": "kaleido", "top_n": "5"}) == \
        {"charts": {"config": {"top_patent_countries": {"top_n": 5}}}}
