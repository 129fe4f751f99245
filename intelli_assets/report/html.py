"""report.html: one self-contained file (plotly.js inlined once, every figure's data inline,
no URL to fetch) with a cover, a table of contents, the key figures and each chart with its
footnotes and description; charts that are missing are listed with the reason. No Dagster
imports."""

from __future__ import annotations

import base64
import json
import re
from html import escape
from pathlib import Path

from intelli_assets.rendering import PACKAGE_PLOTLY_JS, PLOTLY_JS
from intelli_assets.report.figures import KeyFigures
from intelli_assets.report.model import NOT_RENDERED, Report, ReportChart
from intelli_assets.report.page import CSS, SCRIPT, print_size
from intelli_assets.report.text import TEXT, counted, date_text, number, percent, t

PLOT_CONFIG = {"displaylogo": False, "responsive": True}


def trace_types(path: Path) -> set[str]:
    """The trace types a plotly.js bundle registers."""
    return set(re.findall(r'moduleType:"trace",name:"(\w+)"', path.read_text(encoding="utf-8", errors="ignore")))


def plotly_bundle(charts: list[ReportChart]) -> Path:
    """The renderer's plotly.js when it draws every trace type of the report (the partial
    bundle: 1.3 MB), else the package's full one."""
    needed = {trace.get("type", "scatter") for c in charts if c.figure for trace in c.figure["data"]}
    return PLOTLY_JS if needed <= trace_types(PLOTLY_JS) else PACKAGE_PLOTLY_JS


def markdown_html(text: str) -> str:
    """The few Markdown forms a description uses (paragraphs, bullet lists, bold, italics,
    code), with everything else shown as text: a model's answer is never trusted as HTML."""
    def inline(line: str) -> str:
        out = escape(line, quote=False)
        out = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", out)
        out = re.sub(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])", r"<em>\1</em>", out)
        return re.sub(r"`([^`]+)`", r"<code>\1</code>", out)

    blocks = []
    for block in re.split(r"\n\s*\n", text.strip()):
        lines = [line.strip() for line in block.splitlines() if line.strip()]
        if lines and all(re.match(r"^([-*•]|\d+[.)])\s+", line) for line in lines):
            items = "".join(f"<li>{inline(re.sub(r'^([-*•]|[0-9]+[.)])[ ]+', '', line))}</li>" for line in lines)
            blocks.append(f"<ul>{items}</ul>")
        elif lines:
            blocks.append("<p>" + "<br>".join(inline(re.sub(r"^#+\s*", "", line)) for line in lines) + "</p>")
    return "".join(blocks)


def source_kind(manifest: dict, language: str) -> str:
    kind = str(manifest.get("source_type", ""))
    key = f"kind_{kind}"
    return TEXT[key][language] if key in TEXT else kind


def date_range(figures: KeyFigures, language: str) -> str:
    if figures.first_date and figures.last_date:
        return f"{figures.first_date} – {figures.last_date}"
    if figures.first_year is not None:
        return f"{figures.first_year}–{figures.last_year}"
    return t("not_available", language)


def cover(report: Report) -> str:
    lang, manifest = report.language, report.manifest
    source = manifest.get("source") or {}
    rows = [(t("source_file", lang), escape(str(source.get("original_name") or "—"))),
            (t("source_kind", lang), escape(source_kind(manifest, lang)))]
    if manifest.get("query"):
        rows.append((t("query", lang), f"<code>{escape(str(manifest['query']))}</code>"))
    rows += [(t("date_range", lang), escape(date_range(report.figures, lang))),
             (t("counting", lang), escape(t("counting_records" if report.figures.record_level else "counting_filters",
                                            lang))),
             (t("dataset", lang), f"<code>{escape(report.partition)}</code>"),
             (t("generated", lang), escape(date_text(report.created_at, lang))),
             (t("charts", lang), escape(t("charts_line", lang, included=len(report.included),
                                          missing=len(report.missing))))]
    languages = sorted({str(((c.chart_data.get("meta") or {}).get("style") or {}).get("language") or "")
                        for c in report.included} - {"", lang})
    if languages:  # the charts keep the language they were drawn in
        rows.append((t("chart_language", lang), escape(t("chart_language_value", lang, languages=", ".join(languages),
                                                         target=lang))))
    table = "".join(f"<tr><th>{name}</th><td>{value}</td></tr>" for name, value in rows)
    return (f'<header class="cover"><div class="kicker">{escape(t("report", lang))}</div>'
            f"<h1>{escape(report.title)}</h1><table>{table}</table></header>")


def contents(report: Report) -> str:
    lang = report.language
    items = [f'<li><a href="#key-figures">{escape(t("key_figures", lang))}</a></li>']
    for n, chart in enumerate(report.included, 1):
        items.append(f'<li><a href="#chart-{chart.key}">{n}. {escape(chart.title)}</a></li>')
    if report.missing:
        names = ", ".join(escape(c.title) for c in report.missing)
        items.append(f'<li class="missing"><a href="#missing">{escape(t("missing", lang))} '
                     f"({len(report.missing)})</a>: {names}</li>")
    items.append(f'<li><a href="#about">{escape(t("about", lang))}</a></li>')
    return f'<nav class="toc"><h2>{escape(t("contents", lang))}</h2><ul>{"".join(items)}</ul>' \
           f"{key_figures(report)}</nav>"


def _figure_card(label: str, value: str, note: str = "") -> str:
    return (f'<div class="figure"><div class="label">{escape(label)}</div><div class="value">{escape(value)}</div>'
            + (f'<div class="note">{escape(note)}</div>' if note else "") + "</div>")


def _share_note(count: int, total: int | None, unit: str, lang: str) -> str:
    """'12 of 150 families (8.0%)', or the count alone when there is no total to share."""
    if total is None:
        return t("count_only", lang, count=counted(count, unit, lang))
    return (t("count_of", lang, count=number(count, lang), total=counted(total, unit, lang))
            + f" ({percent(100.0 * count / total, lang) if total else '—'})")


def key_figures(report: Report) -> str:
    f, lang = report.figures, report.language
    na = t("not_available", lang)
    suffix = "records" if f.record_level else "filters"
    years = (t("years_value", lang, start=f.first_year, end=f.last_year,
               years=counted(f.last_year - f.first_year + 1, "years", lang)) if f.first_year is not None else na)
    cards = [
        _figure_card(t("families", lang), number(f.families, lang) if f.families is not None else na,
                     t(f"families_note_{suffix}", lang)),
        _figure_card(t("publications", lang), number(f.publications, lang) if f.publications is not None else na,
                     t(f"publications_note_{suffix}", lang)),
        _figure_card(t("years", lang), years),
        _figure_card(t("cagr", lang), percent(f.cagr_percent, lang, 2) if f.cagr_percent is not None else na,
                     t(f"cagr_period_{f.cagr_unit}", lang, start=f.cagr_start, end=f.cagr_end)
                     if f.cagr_percent is not None else ""),
    ]
    for label, leader in ((t("top_jurisdiction", lang), f.top_jurisdiction), (t("top_applicant", lang),
                                                                             f.top_applicant)):
        note = ""
        if leader:
            note = _share_note(leader.count, leader.total, leader.unit, lang) + (
                f" · {t('ties', lang, n=leader.ties)}" if leader.ties else "")
        cards.append(_figure_card(label, leader.value if leader else na, note))
    if f.highlight is not None:
        h = f.highlight
        title = t("highlight_share", lang, country=h.country)
        if h.count:
            value = percent(h.share, lang) if h.share is not None else counted(h.count, h.unit, lang)
            cards.append(_figure_card(title, value, _share_note(h.count, h.total, h.unit, lang)
                                      + (f" · {t('rank', lang, rank=h.rank)}" if h.rank else "")))
        elif h.total is not None:  # 0.0% would read as "a little"
            cards.append(_figure_card(title, "0%", t("no_family", lang, country=h.country,
                                                     total=counted(h.total, h.unit, lang))))
        else:
            cards.append(_figure_card(title, "0", t("no_publication", lang, country=h.country)))
    return (f'<section id="key-figures"><h2>{escape(t("key_figures", lang))}</h2>'
            f'<div class="figures">{"".join(cards)}</div></section>')


def static_chart(chart: ReportChart) -> str:
    """A render without HTML: its SVG inline (vectors), else its PNG."""
    if "svg" in chart.files:
        svg = chart.files["svg"].read_text(encoding="utf-8")
        return f'<div class="static-chart">{re.sub(r"^<[?]xml[^>]*>", "", svg.strip())}</div>'
    png = base64.b64encode(chart.files["png"].read_bytes()).decode()
    return f'<div class="static-chart"><img alt="{escape(chart.title)}" src="data:image/png;base64,{png}"></div>'


def chart_section(report: Report, n: int, chart: ReportChart) -> str:
    lang = report.language
    plot = f'<div class="plot" id="plot-{chart.key}"></div>' if chart.figure else static_chart(chart)
    parts = [f'<section class="chart" id="chart-{chart.key}"><div class="chart-block">',
             f"<h2>{n}. {escape(chart.title)}</h2>"]
    if chart.stale:
        parts.append(f'<div class="stale">{escape(t("stale", lang, reason=chart.stale))}</div>')
    parts.append(plot)
    if not chart.figure:
        parts.append(f'<div class="static-note">{escape(t("static", lang))}</div>')
    if chart.footnotes:
        parts.append('<ul class="footnotes">' + "".join(f"<li>{escape(line)}</li>" for line in chart.footnotes)
                     + "</ul>")
    rendered = date_text(chart.rendered_at, lang) if chart.rendered_at else "—"
    parts.append(f'<p class="render-line">{escape(t("render_line", lang, hash=chart.params_hash, date=rendered, key=chart.key))}'
                 "</p></div>")
    if chart.description is not None:
        d = chart.description
        parts.append(f'<div class="description"><h3>{escape(t("description", lang))}</h3>{markdown_html(d.text)}'
                     f'<p class="ai-note">{escape(t("ai_note", lang, model=d.model or "?", date=d.created_at[:10]))}'
                     "</p></div>")
    parts.append("</section>")
    return "".join(parts)


def reason(chart: ReportChart, language: str) -> str:
    return t("not_rendered", language) if chart.reason == NOT_RENDERED else chart.reason or ""


def missing_section(report: Report) -> str:
    if not report.missing:
        return ""
    lang = report.language
    items = "".join(f'<li><strong>{escape(c.title)}</strong> (<code>charts/{escape(c.key)}</code>): '
                    f'<span class="reason">{escape(reason(c, lang))}</span></li>' for c in report.missing)
    return (f'<section id="missing"><h2>{escape(t("missing", lang))}</h2><p>{escape(t("missing_intro", lang))}</p>'
            f'<ul class="missing-list">{items}</ul></section>')


def figures_json(charts: list[ReportChart]) -> str:
    """Every interactive figure, with its size on paper, as JSON safe inside a <script>."""
    out = {}
    for chart in charts:
        if chart.figure is None:
            continue
        layout = chart.figure["layout"]
        size = int(layout.get("width") or 1200), int(layout.get("height") or 500)
        table = any(trace.get("type") == "table" for trace in chart.figure["data"])
        out[chart.key] = {"data": chart.figure["data"], "layout": layout,
                          "config": {**chart.figure.get("config", {}), **PLOT_CONFIG},
                          "print": print_size(*size, fixed=table)}
    text = json.dumps(out, ensure_ascii=False, separators=(",", ":"))
    return text.replace("</", "<\\/").replace("<!--", "<\\!--")


def report_html(report: Report) -> bytes:
    """The whole report as one HTML file (UTF-8)."""
    lang = report.language
    charts = report.included
    bundle = plotly_bundle(charts).read_bytes() if any(c.figure for c in charts) else b""
    sections = "".join(chart_section(report, n, chart) for n, chart in enumerate(charts, 1))
    about = (f'<section id="about" class="about"><h2>{escape(t("about", lang))}</h2>'
             f'<p>{t("about_text", lang)}</p></section>')
    head = (f'<!DOCTYPE html><html lang="{lang}"><head><meta charset="utf-8">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{escape(report.title)}</title><style>{CSS}</style>")
    body = (f"</head><body><main>{cover(report)}{contents(report)}{sections}{missing_section(report)}{about}</main>"
            f'<script type="application/json" id="report-figures">{figures_json(charts)}</script>')
    helpers = "".join(f'<script type="text/javascript">{script}</script>'
                      for script in dict.fromkeys(s for c in charts for s in c.scripts))
    return b"".join((head.encode(), b'<script type="text/javascript">', bundle, b"</script>", helpers.encode(),
                     body.encode(),
                     b"<script>", SCRIPT.encode(), b"</script></body></html>"))


def default_title(manifest: dict, language: str) -> str:
    source = (manifest.get("source") or {}).get("original_name") or manifest.get("partition_key") or "dataset"
    return t("default_title", language, source=Path(str(source)).stem.removesuffix(".lens"))


__all__ = ["default_title", "markdown_html", "plotly_bundle", "report_html"]
