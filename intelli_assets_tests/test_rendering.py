"""The renderer against a real Chromium: bytes, sizes, speed-independent behaviour, cleanup."""

from __future__ import annotations

import os
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import plotly.graph_objects as go
import pytest

from intelli_assets.charts import CHARTS, get_chart
from intelli_assets.rendering import (
    CHARTS_PLOTLY_JS,
    PACKAGE_PLOTLY_JS,
    PLOTLY_JS,
    FigureRenderer,
    RenderError,
    figure_html,
    plotly_js_version,
    render_many,
)
from intelli_assets.rendering.browser import BrowserError, ChromiumPipe, find_chromium
from intelli_assets.style import LANGUAGES, PALETTES, Style
from intelli_assets_tests.waiting import Background, wait_for

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# renders after a crash run with a 600 s timeout, so a crash that is not noticed would stall
# them for 10 minutes; this bound fails the test instead. A hang guard, not a speed check.
HANG_GUARD = 120.0


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_MAGIC
    return struct.unpack(">II", data[16:24])


def chromium_pids() -> set[int]:
    """Our Chromium processes started by this test process (its descendants): browsers of other
    processes on the machine (other test runs, benches) come and go meanwhile."""
    out = subprocess.run(["pgrep", "-f", "intelli-chromium-"], capture_output=True, text=True).stdout
    return {int(p) for p in out.split() if descends_from(int(p), os.getpid())}


def parent_pid(pid: int) -> int | None:
    """A process's parent, from /proc (None: it is gone)."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (OSError, ValueError, IndexError):
        return None


def descends_from(pid: int | None, ancestor: int) -> bool:
    while pid is not None and pid > 1:
        if pid == ancestor:
            return True
        pid = parent_pid(pid)
    return False


def browser_processes(browser_pid: int, kind: bytes = b"") -> list[int]:
    """The live processes of one browser (`kind`: e.g. b"--type=renderer" for page renderers).
    Chromium runs in its own session, so its process group id is the browser's pid; unlike
    `chromium_pids`, this ignores the browsers of other test runs."""
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes()  # empty for a zombie
            if cmdline and kind in cmdline and os.getpgid(int(proc.name)) == browser_pid:
                pids.append(int(proc.name))
        except OSError:  # it exited meanwhile
            continue
    return pids


def wait_until_gone(*browser_pids: int) -> None:
    wait_for(lambda: not any(browser_processes(pid) for pid in browser_pids),
             message="Chromium processes left behind")


def waiting_for_chromium(thread: threading.Thread) -> bool:
    """Has `thread` sent a command and is it waiting for Chromium's reply?"""
    frame = sys._current_frames().get(thread.ident)
    while frame is not None:
        if frame.f_code is ChromiumPipe._read_reply.__code__:
            return True
        frame = frame.f_back
    return False


def rgb(hex_colour: str) -> str:
    """'#b45309' as plotly writes it in SVG: 'rgb(180, 83, 9)'."""
    return "rgb({}, {}, {})".format(*(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5)))


def test_png_and_svg_from_one_layout(renderer):
    fig = go.Figure(go.Bar(x=[1, 2], y=["alpha", "beta"], orientation="h"))
    fig.update_layout(width=640, height=360, title="Probe")
    out = renderer.render(fig, ["png", "svg"], scale=2, preview_scale=0.5)
    assert png_size(out["png"]) == (1280, 720)
    assert png_size(out["preview"]) == (320, 180)
    svg = out["svg"].decode()
    assert svg.startswith("<svg") and "alpha" in svg and "Probe" in svg


def chromium_browsers() -> set[int]:
    """The browsers (process groups: each Chromium runs in its own session) of `chromium_pids`.
    A browser already running may start a child process at any time; a new browser is new."""
    groups = set()
    for pid in chromium_pids():
        try:
            groups.add(os.getpgid(pid))
        except ProcessLookupError:  # it exited meanwhile
            continue
    return groups


def test_render_many_module_function_starts_and_stops_its_own_browser():
    before = chromium_browsers()
    figs = [go.Figure(go.Scatter(x=[1, 2, 3], y=[i, i + 1, i])) for i in range(3)]
    out = render_many(figs, formats=("svg",))
    assert len(out) == 3 and all(set(o) == {"svg"} for o in out)
    # its browser is killed, not waited for (the kernel takes ~0.15 s, longer on a busy host)
    wait_for(lambda: chromium_browsers() <= before, message="render_many left its browser running")


FILTERS_CHARTS = sorted(k for k, spec in CHARTS.items() if not spec.needs_records)  # the rest: test_record_charts


@pytest.mark.parametrize("key", FILTERS_CHARTS)
def test_every_chart_renders(key, renderer, sample_dataset):
    chart = get_chart(key).run(sample_dataset, {}, Style())
    out = renderer.render(chart.figure, ["png", "svg"])
    assert png_size(out["png"]) == (chart.width, chart.height)
    assert len(out["png"]) > 20_000  # a real chart, not a blank canvas
    assert b"<svg" in out["svg"][:200]


def test_the_partial_plotly_bundle_draws_every_chart_exactly_as_the_full_one(renderer, sample_dataset):
    assert PLOTLY_JS == CHARTS_PLOTLY_JS  # built from the version the plotly package ships
    assert plotly_js_version(CHARTS_PLOTLY_JS) == plotly_js_version(PACKAGE_PLOTLY_JS)
    figures = [get_chart(key).run(sample_dataset, {}, Style(language=lang, title="auto")).figure
               for key in FILTERS_CHARTS for lang in LANGUAGES]
    with FigureRenderer(plotly_js=PACKAGE_PLOTLY_JS) as full:
        expected = [full.render(fig, ["png"])["png"] for fig in figures]
    assert [renderer.render(fig, ["png"])["png"] for fig in figures] == expected



def test_png_and_preview_are_the_bytes_plotly_toimage_gives(renderer, sample_dataset):
    """The renderer decodes each SVG once for the PNG and the preview; Plotly.toImage decodes
    it per image. Same steps otherwise, so the same bytes, at every scale."""
    import base64
    import json

    import plotly.io as pio

    from intelli_assets.rendering.renderer import TOPOJSON_URL, figure_size

    for key in FILTERS_CHARTS:
        figure = get_chart(key).run(sample_dataset, {}, Style()).figure
        width, height = figure_size(figure)
        out = renderer.render(figure, ["png"], scale=2, preview_scale=0.4)
        spec = json.loads(pio.to_json(figure, validate=False))
        for name, scale in (("png", 2), ("preview", 0.4)):
            # the page's own Plotly, asked directly: no public call of the renderer does this
            plotly_png = renderer._evaluate(  # noqa: SLF001
                f"Plotly.toImage({{data: {json.dumps(spec['data'])}, layout: {json.dumps(spec['layout'])}, "
                f"config: {{topojsonURL: {json.dumps(TOPOJSON_URL)}}}}}, "
                f"{{format: 'png', width: {width}, height: {height}, scale: {scale}, imageDataOnly: true}})")
            assert out[name] == base64.b64decode(plotly_png), f"{key}: {name} differs from Plotly.toImage's"


@pytest.mark.parametrize("palette", sorted(PALETTES))
@pytest.mark.parametrize("language", LANGUAGES)
def test_every_palette_and_language_renders(palette, language, renderer, sample_dataset):
    style = Style(palette=palette, language=language, font_size="large")
    figures = [get_chart(k).run(sample_dataset, {}, style).figure for k in ("top_patent_countries", "patent_forecast")]
    outs = renderer.render_many(figures, ["svg"])
    bars, forecast = (out["svg"].decode() for out in outs)
    colours = PALETTES[palette]
    paper = rf'<rect x="0" y="0" width="\d+" height="\d+" style="fill: {re.escape(rgb(colours.background))};'
    assert re.search(paper, bars) and re.search(paper, forecast)  # the first rect, as large as the figure
    # the top country's bar (bars shade from a light primary up to the primary itself)
    assert re.search(rf'<g class="point"><path [^>]*fill: {re.escape(rgb(colours.primary))};', bars)
    assert ("Jurisdicción" if language == "es" else "Jurisdiction") in bars


def test_browser_is_restarted_after_a_crash():
    with FigureRenderer() as r:
        fig = go.Figure(go.Scatter(x=[1, 2], y=[3, 4]))
        r.render(fig, ["svg"])
        killed = r.browser_pid
        os.killpg(killed, signal.SIGKILL)
        wait_for(lambda: r.browser_pid is None, message="the killed browser still runs")
        out = r.render(fig, ["png"])
        assert out["png"][:8] == PNG_MAGIC
        assert r.restarts == 1
        restarted = r.browser_pid
    wait_until_gone(killed, restarted)


def test_browser_killed_mid_render_is_restarted_at_once(caplog):
    fig = go.Figure(go.Scatter(x=[1, 2], y=[3, 4]))
    with FigureRenderer(timeout=600) as r:
        r.render(fig, ["svg"])
        # this page now never finishes a figure: only a fresh browser can render it
        r._evaluate("void (window.renderFigure = () => new Promise(() => {}))")
        browser_pid = r.browser_pid
        render = Background(lambda: r.render(fig, ["png"]))
        wait_for(lambda: waiting_for_chromium(render), message="the render never reached the browser")
        os.kill(browser_pid, signal.SIGKILL)  # the main process only; its children follow it
        out = render.result(HANG_GUARD, "the browser's death was not noticed; the render waited for its timeout")
        assert out["png"][:8] == PNG_MAGIC
        assert r.restarts == 1 and r.browser_pid != browser_pid
        assert "Chromium closed its pipe during Runtime.evaluate" in caplog.text  # killed mid-render
        restarted = r.browser_pid
    wait_until_gone(browser_pid, restarted)


def test_a_killed_page_renderer_is_noticed_at_once_and_the_browser_restarted(caplog):
    fig = go.Figure(go.Scatter(x=[1, 2], y=[3, 4]))
    with FigureRenderer(timeout=600) as r:
        r.render(fig, ["svg"])
        crashed = r.browser_pid
        children = browser_processes(crashed, b"--type=renderer")
        assert children
        for pid in children:  # our tab's renderer among them (which one it is is not visible here)
            os.kill(pid, signal.SIGKILL)
        out = Background(lambda: r.render(fig, ["png"])).result(
            HANG_GUARD, "the renderer crash was not noticed; the render waited for its timeout")
        assert out["png"][:8] == PNG_MAGIC
        assert r.restarts == 1
        assert "Chromium's page renderer crashed during Runtime.evaluate" in caplog.text
        restarted = r.browser_pid
    wait_until_gone(crashed, restarted)


def crash_page(browser: ChromiumPipe, session: str) -> None:
    try:
        browser.send("Page.crash", session_id=session)
    except BrowserError:
        pass  # Page.crash gets no reply: the crash is noticed instead


def close_page(browser: ChromiumPipe, session: str) -> None:
    target = browser.send("Target.getTargetInfo", session_id=session)["targetInfo"]["targetId"]
    browser.send("Target.closeTarget", {"targetId": target})


@pytest.mark.parametrize("end_page", [crash_page, close_page])
def test_a_command_to_a_gone_page_fails_at_once(end_page):
    browser = ChromiumPipe(timeout=600)
    browser.start()
    try:
        session = browser.open_page()
        assert browser.send("Runtime.evaluate", {"expression": "6 * 7"}, session)["result"]["value"] == 42

        def end_then_evaluate() -> None:
            end_page(browser, session)
            browser.send("Runtime.evaluate", {"expression": "6 * 7"}, session)

        with pytest.raises(BrowserError, match="Chromium's page (renderer crashed|was detached|was closed)"):
            Background(end_then_evaluate).result(HANG_GUARD, "the page's end was not noticed")
        assert browser.alive  # only the page is gone
    finally:
        browser.close()


def test_the_browser_starts_no_hidden_browser_ui():
    """Headless Chromium (156 here) loads the omnibox popup's WebUI at start, in a renderer process of
    its own (~1 CPU-s a start, more than the browser itself); the flags keep it out."""
    browser = ChromiumPipe()
    browser.start()
    try:
        browser.open_page()
        targets = browser.send("Target.getTargets")["targetInfos"]
        assert ("page", "about:blank") in [(t["type"], t["url"]) for t in targets]
        hidden = [t["url"] for t in targets if t["type"] == "browser_ui" or t["url"].startswith("chrome://")]
        assert hidden == []
    finally:
        browser.close()


def flaky_chromium(tmp_path: Path, failures: int, fail: str = "exit 1") -> tuple[Path, Path]:
    """A Chromium whose first `failures` starts end at once by `fail` (each noted in a log file)."""
    log = tmp_path / "starts.log"
    script = tmp_path / "flaky-chromium"
    script.write_text(f"#!/bin/sh\necho start >> '{log}'\n"
                      f"[ $(wc -l < '{log}') -le {failures} ] && {fail}\nexec '{find_chromium()}' \"$@\"\n")
    script.chmod(0o755)
    return script, log


@pytest.mark.parametrize(("fail", "died"), [("exit 1", "exited (code 1)"),
                                            ("kill -SEGV $$", "was killed by signal 11 (SIGSEGV)")])
def test_a_chromium_that_exits_as_it_starts_is_started_once_more(fail, died, tmp_path, caplog):
    script, starts = flaky_chromium(tmp_path, failures=1, fail=fail)
    with FigureRenderer(str(script)) as r:
        assert png_size(r.render(go.Figure(go.Bar(x=["a"], y=[1]), layout={"width": 300, "height": 200}),
                                 ["png"])["png"]) == (300, 200)
        assert r.restarts == 0  # a second try at starting, not a restart of a browser that ran
    assert starts.read_text().split() == ["start", "start"]
    assert f"the browser at {script} {died} as it started (Chromium closed its pipe during " \
           "Target.setDiscoverTargets); starting it once more" in caplog.text


def test_a_chromium_that_exits_at_every_start_is_a_clear_error_after_two_tries(tmp_path):
    script, starts = flaky_chromium(tmp_path, failures=99)
    renderer = FigureRenderer(str(script))
    try:
        with pytest.raises(BrowserError) as caught:
            renderer.start()
    finally:
        renderer.close()
    assert str(caught.value) == (f"the browser at {script} exited (code 1) as it started (Chromium closed its pipe "
                                 "during Target.setDiscoverTargets), twice; check BROWSER_PATH or the Chromium install")
    assert starts.read_text().split() == ["start", "start"]


def test_a_page_that_fails_to_load_is_not_retried_with_a_new_browser(tmp_path, caplog):
    script, starts = flaky_chromium(tmp_path, failures=0)
    ours = Path(tempfile.gettempdir()).glob(f"intelli-render-{os.getpid()}-*")  # the session's renderer has one
    before = set(ours)
    with pytest.raises(BrowserError, match="plotly.js"), FigureRenderer(str(script), plotly_js=tmp_path / "none.js"):
        pass
    assert starts.read_text().split() == ["start"]  # the same page would fail the same way
    assert "starting it once more" not in caplog.text
    assert set(Path(tempfile.gettempdir()).glob(f"intelli-render-{os.getpid()}-*")) == before  # its page folder gone


def test_bad_figure_is_a_render_error_not_a_dead_browser(renderer):
    fig = go.Figure()
    fig.update_layout(width=400, height=300)
    bogus = {"data": [{"type": "no-such-trace"}], "layout": {}}
    restarts = renderer.restarts
    ok = renderer.render(fig, ["svg"])
    assert b"<svg" in ok["svg"]
    with pytest.raises(ValueError):
        renderer.render(go.Figure(bogus), ["svg"])  # plotly.py refuses it before the browser sees it
    with pytest.raises(ValueError, match="unsupported static format"):
        renderer.render(fig, ["pdf"])
    # the browser refuses this one: 24000x18000 px is over Chromium's canvas limit
    with pytest.raises(RenderError, match="24000x18000 px PNG is too large"):
        renderer.render(fig, ["png"], scale=60)
    assert png_size(renderer.render(fig, ["png"])["png"]) == (400, 300)  # still usable
    assert renderer.restarts == restarts  # the same browser


def test_close_leaves_no_chromium_behind():
    r = FigureRenderer()
    r.start()
    pid = r.browser_pid
    assert pid in chromium_pids() and len(browser_processes(pid)) > 1  # the browser and its children
    r.close()
    wait_until_gone(pid)


def test_background_warmup_then_render():
    with FigureRenderer() as r:
        r.start_in_background()
        out = r.render(go.Figure(go.Bar(x=["a"], y=[1])), ["svg"])
        assert b"<svg" in out["svg"]


def test_missing_browser_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("BROWSER_PATH", str(tmp_path / "no-chrome"))
    with pytest.raises(BrowserError, match="BROWSER_PATH"):
        find_chromium()


@pytest.mark.parametrize("key", ["cpc_treemap", "patent_trends_cumulative", "top_patent_countries"])
def test_html_is_self_contained_and_draws_the_chart_offline(key, sample_dataset, tmp_path):
    html = figure_html(get_chart(key).run(sample_dataset, {}, Style()).figure).decode()
    assert not re.findall(r"<script[^>]*\bsrc=", html)  # nothing fetched from a CDN
    assert len(html) > 1_000_000 and "plotly.js v" in html[:2000]  # plotly.js is inlined
    page = tmp_path / "chart.html"
    page.write_text(html, encoding="utf-8")
    browser = ChromiumPipe()
    browser.start()
    try:
        session = browser.open_page(page.as_uri())

        def drawn() -> int:  # the figure's own traces, drawn by the inlined plotly.js
            reply = browser.send("Runtime.evaluate", {"expression": (
                "document.querySelectorAll('.main-svg .trace, .main-svg .slice, .main-svg .point').length"),
                "returnByValue": True}, session)
            return reply["result"].get("value") or 0

        wait_for(drawn, timeout=30, message="the chart's HTML drew no trace")
    finally:
        browser.close()


def test_folders_left_by_a_killed_run_are_removed_by_the_next_browser(tmp_path):
    """A run killed with SIGKILL leaves its Chromium profile and render page behind (a few MB
    each); the next renderer removes the ones whose process is gone, and no one else's."""
    import tempfile

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    base = Path(tempfile.gettempdir())
    stale = [base / f"intelli-chromium-{gone.pid}-test", base / f"intelli-render-{gone.pid}-test"]
    alive = base / f"intelli-chromium-{os.getpid()}-test-alive"  # this process: still in use
    for folder in (*stale, alive):
        folder.mkdir(exist_ok=True)
        (folder / "Preferences").write_text("{}")
    try:
        with FigureRenderer() as r:
            r.render(go.Figure(go.Bar(x=["a"], y=[1])), ["svg"])
        assert not any(folder.exists() for folder in stale)
        assert alive.exists()
    finally:
        shutil.rmtree(alive, ignore_errors=True)


def test_chromium_gets_a_tmpdir_of_ours_unless_its_socket_path_would_be_too_long():
    from intelli_assets.rendering.browser import chromium_env

    assert chromium_env("/tmp/intelli-chromium-1-abc")["TMPDIR"] == "/tmp/intelli-chromium-1-abc"
    too_long = "/tmp/" + "x" * 60  # Chromium would exit: its singleton socket path is over the limit
    assert chromium_env(too_long).get("TMPDIR") == os.environ.get("TMPDIR")
