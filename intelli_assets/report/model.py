"""What a report is made of: each chart's latest render read back from its recorded files
(checked against their sha256), or the reason it is missing; its description; the dataset.
No Dagster imports: the asset (or a bench) says which render is the latest, this reads it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import html
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from intelli_assets.errors import IntelliError
from intelli_assets.report.figures import KeyFigures

NEWPLOT = re.compile(r'Plotly\.newPlot\(\s*"[^"]*",\s*')
NOT_RENDERED = "not rendered yet"  # a chart's reason when no render or failure is known (the report says it in its language)
FOOTNOTE_LINE_HEIGHT = 1.45  # the charts' footnote lines are this many font sizes apart (charts/base.py)
FOOTNOTE_GAP = 20  # the space the charts leave above their footnotes


class RenderChanged(IntelliError):
    """A file a chart's materialization recorded is missing or changed since: re-render it."""


@dataclass(frozen=True)
class ChartDescription:
    """An AI description of the render shown."""

    text: str  # Markdown
    model: str
    language: str
    created_at: str  # ISO time
    path: Path | None = None


@dataclass
class ReportChart:
    """One chart of the report: included (a render read back) or missing (with the reason)."""

    key: str
    title: str
    reason: str | None = None  # why it is missing; None: included
    params_hash: str = ""
    run_id: str = ""
    rendered_at: dt.datetime | None = None
    files: dict[str, Path] = field(default_factory=dict)  # png, svg, html, chart_data as recorded
    chart_data: dict = field(default_factory=dict)
    figure: dict | None = None  # {data, layout, config} from chart.html, footnotes taken out
    scripts: list[str] = field(default_factory=list)  # chart.html's own helpers (e.g. a map's outlines)
    footnotes: list[str] = field(default_factory=list)
    description: ChartDescription | None = None
    stale: str | None = None  # the chart's latest attempt failed after this render: why

    @property
    def included(self) -> bool:
        return self.reason is None


def missing_chart(key: str, title: str, reason: str) -> ReportChart:
    return ReportChart(key, title, reason=reason)


def verified_files(chart: str, recorded: dict[str, dict]) -> dict[str, Path]:
    """The render's files, each checked against the sha256 its materialization recorded."""
    out: dict[str, Path] = {}
    for fmt, info in recorded.items():
        path = Path(info.get("path", ""))
        if not info.get("path") or fmt == "settings":
            continue
        if not path.is_file():
            raise RenderChanged(f"{path} of charts/{chart} is missing; re-render the chart")
        if info.get("sha256") and hashlib.sha256(path.read_bytes()).hexdigest() != info["sha256"]:
            raise RenderChanged(f"{path} of charts/{chart} has changed since it was rendered; re-render the chart")
        out[fmt] = path
    return out


def figure_from_html(page: bytes) -> dict:
    """The figure a chart.html draws ({data, layout, config}), read from its Plotly.newPlot call."""
    text = page.decode("utf-8")
    start = text.rfind("Plotly.newPlot(")  # the last one: the inlined plotly.js comes first
    match = NEWPLOT.match(text, start) if start >= 0 else None
    if match is None:
        raise ValueError("no Plotly.newPlot call")
    decoder, position, parts = json.JSONDecoder(), match.end(), []
    for _ in range(3):
        value, position = decoder.raw_decode(text, position)
        parts.append(value)
        position = re.compile(r"\s*,?\s*").match(text, position).end()
    return {"data": parts[0], "layout": parts[1], "config": parts[2]}


SCRIPT_OPEN, SCRIPT_CLOSE = b'<script type="text/javascript">', b"</script>"


def helper_scripts(page: bytes) -> list[str]:
    """The inline scripts of a chart.html other than plotly.js and the drawing call: what the
    figure needs besides plotly.js (a map's outlines, which plotly.js would otherwise fetch)."""
    out, position = [], 0
    while (start := page.find(SCRIPT_OPEN, position)) >= 0:
        body = start + len(SCRIPT_OPEN)
        end = page.find(SCRIPT_CLOSE, body)
        if end < 0:
            break
        position = end + len(SCRIPT_CLOSE)
        if b"plotly.js v" in page[body:body + 400]:  # plotly.js itself (its banner comes first)
            continue
        script = page[body:end]
        if b"Plotly.newPlot" not in script:
            out.append(script.decode("utf-8"))
    return out


def _is_footnote(annotation: dict) -> bool:
    """The charts' footnote block: a left-aligned paper annotation hanging below the plot."""
    return (annotation.get("xref") == "paper" and annotation.get("yref") == "paper" and annotation.get("y") == 0
            and annotation.get("yanchor") == "top" and annotation.get("showarrow") is False
            and annotation.get("align") == "left")


def take_footnotes(figure: dict) -> list[str]:
    """Move the footnotes out of the figure (they become text under the chart, readable at any
    size and in the PDF) and give their room back. Lines the chart wrapped are joined again."""
    layout = figure["layout"]
    annotations = layout.get("annotations") or []
    notes = [a for a in annotations if _is_footnote(a)]
    if not notes:
        return []
    lines: list[str] = []
    for note in notes:
        raw = [html.unescape(re.sub(r"<[^>]+>", "", part)).strip() for part in note.get("text", "").split("<br>")]
        font_px = (note.get("font") or {}).get("size") or 10
        room = int(len(raw) * font_px * FOOTNOTE_LINE_HEIGHT)
        for line in filter(None, raw):
            if lines and line[0].islower():  # a wrapped line's continuation
                lines[-1] += " " + line
            else:
                lines.append(line)
        margin = layout.setdefault("margin", {})
        if margin.get("b") and layout.get("height"):  # the plot keeps its own height
            freed = max(0, margin["b"] - max(40, margin["b"] - room - FOOTNOTE_GAP))
            margin["b"] -= freed
            layout["height"] -= freed
    layout["annotations"] = [a for a in annotations if not _is_footnote(a)]
    return lines


def load_render(key: str, title: str, recorded: dict[str, dict], *, params_hash: str, run_id: str,
                rendered_at: dt.datetime | None) -> ReportChart:
    """A chart's render read back from its recorded files (RenderChanged if one is gone or
    changed). The interactive figure comes from chart.html when the render kept one."""
    files = verified_files(key, recorded)
    if "chart_data" not in files:
        raise RenderChanged(f"charts/{key} (render {params_hash}) recorded no chart_data.json; re-render the chart")
    chart = ReportChart(key, title, params_hash=params_hash, run_id=run_id, rendered_at=rendered_at, files=files,
                        chart_data=json.loads(files["chart_data"].read_text(encoding="utf-8")))
    if "html" in files:
        try:
            page = files["html"].read_bytes()
            chart.figure = figure_from_html(page)
            chart.scripts = helper_scripts(page)
        except (ValueError, UnicodeDecodeError) as exc:
            raise RenderChanged(f"{files['html']} of charts/{key} holds no readable figure ({exc}); "
                                "re-render the chart") from None
        chart.footnotes = take_footnotes(chart.figure)
    elif "svg" not in files and "png" not in files:
        raise RenderChanged(f"charts/{key} (render {params_hash}) kept no HTML, SVG or PNG to show; re-render it")
    return chart


def read_description_file(path: Path) -> ChartDescription | None:
    """A description.md (front matter of JSON values, then the text), or None if unreadable."""
    try:
        raw = path.read_text(encoding="utf-8")
    except OSError:
        return None
    head: dict = {}
    body = raw
    if raw.startswith("---\n") and "\n---\n" in raw[4:]:
        front, body = raw[4:].split("\n---\n", 1)
        for line in front.splitlines():
            name, _, value = line.partition(": ")
            try:
                head[name] = json.loads(value)
            except ValueError:
                head[name] = value
    text = body.strip()
    if not text:
        return None
    return ChartDescription(text, str(head.get("model", "")), str(head.get("language", "")),
                            str(head.get("created_at", "")), path)


@dataclass
class Report:
    """Everything one report shows, in the registry's chart order."""

    partition: str
    language: str
    title: str
    manifest: dict
    figures: KeyFigures
    charts: list[ReportChart]
    created_at: dt.datetime
    run_id: str = ""

    @property
    def included(self) -> list[ReportChart]:
        return [c for c in self.charts if c.included]

    @property
    def missing(self) -> list[ReportChart]:
        return [c for c in self.charts if not c.included]
