"""The renderer against a real Chromium: bytes, sizes, speed-independent behaviour, cleanup."""

from __future__ import annotations

import os
import re
import signal
import struct
import subprocess
import time

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

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_MAGIC
    return struct.unpack(">II", data[16:24])


def chromium_pids() -> set[int]:
    out = subprocess.run(["pgrep", "-f", "intelli-chromium-"], capture_output=True, text=True).stdout
    return {int(p) for p in out.split()}


def test_png_and_svg_from_one_layout(renderer):
    fig = go.Figure(go.Bar(x=[1, 2], y=["alpha", "beta"], orientation="h"))
    fig.update_layout(width=640, height=360, title="Probe")
    out = renderer.render(fig, ["png", "svg"], scale=2, preview_scale=0.5)
    assert png_size(out["png"]) == (1280, 720)
    assert png_size(out["preview"]) == (320, 180)
    svg = out["svg"].decode()
    assert svg.startswith("<svg") and "alpha" in svg and "Probe" in svg


def test_render_many_module_function_starts_and_stops_its_own_browser():
    before = chromium_pids()
    figs = [go.Figure(go.Scatter(x=[1, 2, 3], y=[i, i + 1, i])) for i in range(3)]
    out = render_many(figs, formats=("svg",))
    assert len(out) == 3 and all(set(o) == {"svg"} for o in out)
    assert chromium_pids() <= before


@pytest.mark.parametrize("key", sorted(CHARTS))
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
               for key in sorted(CHARTS) for lang in LANGUAGES]
    with FigureRenderer(plotly_js=PACKAGE_PLOTLY_JS) as full:
        expected = [full.render(fig, ["png"])["png"] for fig in figures]
    assert [renderer.render(fig, ["png"])["png"] for fig in figures] == expected


@pytest.mark.parametrize("palette", sorted(PALETTES))
@pytest.mark.parametrize("language", LANGUAGES)
def test_every_palette_and_language_renders(palette, language, renderer, sample_dataset):
    style = Style(palette=palette, language=language, font_size="large")
    figures = [get_chart(k).run(sample_dataset, {}, style).figure for k in ("top_patent_countries", "patent_forecast")]
    outs = renderer.render_many(figures, ["svg"])
    svg = outs[0]["svg"].decode()
    assert PALETTES[palette].background in svg or "rgb(" in svg
    assert ("Jurisdicción" if language == "es" else "Jurisdiction") in svg


def test_browser_is_restarted_after_a_crash():
    with FigureRenderer() as r:
        fig = go.Figure(go.Scatter(x=[1, 2], y=[3, 4]))
        r.render(fig, ["svg"])
        os.killpg(r.browser_pid, signal.SIGKILL)
        time.sleep(0.2)
        out = r.render(fig, ["png"])
        assert out["png"][:8] == PNG_MAGIC
        assert r.restarts == 1


def test_bad_figure_is_a_render_error_not_a_dead_browser(renderer):
    fig = go.Figure()
    fig.update_layout(width=400, height=300)
    bogus = {"data": [{"type": "no-such-trace"}], "layout": {}}
    ok = renderer.render(fig, ["svg"])
    assert b"<svg" in ok["svg"]
    with pytest.raises(ValueError):
        renderer.render(go.Figure(bogus), ["svg"])  # plotly.py refuses it before the browser sees it
    with pytest.raises(ValueError, match="unsupported static format"):
        renderer.render(fig, ["pdf"])
    assert renderer.render(fig, ["svg"])["svg"]  # still usable
    assert RenderError  # exported for callers


def test_close_leaves_no_chromium_behind():
    before = chromium_pids()
    r = FigureRenderer()
    r.start()
    pid = r.browser_pid
    assert pid in chromium_pids()
    r.close()
    time.sleep(0.3)
    assert chromium_pids() <= before


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
        target = browser.send("Target.createTarget", {"url": page.as_uri()})
        session = browser.send("Target.attachToTarget", {"targetId": target["targetId"], "flatten": True})["sessionId"]
        drawn = 0
        for _ in range(100):  # the figure's own traces, drawn by the inlined plotly.js
            reply = browser.send("Runtime.evaluate", {"expression": (
                "document.querySelectorAll('.main-svg .trace, .main-svg .slice, .main-svg .point').length"),
                "returnByValue": True}, session)
            drawn = reply["result"].get("value") or 0
            if drawn:
                break
            time.sleep(0.05)
        assert drawn > 0
    finally:
        browser.close()
