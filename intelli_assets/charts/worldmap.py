"""A world map of filing jurisdictions (choropleth) from the `countries` facet, so it draws
Filters workbooks and record-level sources alike. Offices that are no country (EP, WO, EA,
AP, OA, GC...) are listed beside the map instead of being painted on one; countries too small
for the 1:110m outlines get a dot. The outlines ship with the package (rendering/topojson/)."""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path

import plotly.graph_objects as go

from intelli_assets.charts.bars import ranked
from intelli_assets.charts.base import (
    Chart,
    ChartSpec,
    apply_layout,
    facet_total,
    plotly_text,
    starred,
    tighten_bottom,
    truncated_note,
    wrap_footnotes,
)
from intelli_assets.charts.citations import text_em
from intelli_assets.charts.countries import ALIASES, COUNTRIES, OFFICES, SMALL_COUNTRY_CENTRES
from intelli_assets.charts.labels import label
from intelli_assets.dataset import Dataset
from intelli_assets.style import Style, lighten

WORLD_OUTLINES = Path(__file__).resolve().parent.parent / "rendering" / "topojson" / "world_110m.json"
MAP_RIGHT = 0.76  # the map's share of the width when offices are listed beside it
MAP_BOTTOM = 0.14  # below it, the colour bar
MAP_ASPECT = 2.2  # width / height of the natural-earth world between 57°S and 85°N
NICE_STEPS = (1, 2, 5)
# the narrowest width the map is laid out at: the report lays charts out 820 px wide for paper
# (report/page.py), and the offices' labels left of their bars must fit between map and bars there
NARROWEST_LAYOUT = 820
LABEL_GAP_PX = 14  # between the map's edge and the widest office label
NO_COUNTRY = {"es": "Ningún país tiene publicaciones: todas están en oficinas regionales o internacionales, "
                    "listadas junto al mapa.",
              "en": "No country has publications: all of them are at regional or international offices, "
                    "listed beside the map."}


@functools.cache
def outlined_countries() -> frozenset[str]:
    """ISO alpha-3 codes the shipped world outlines draw."""
    topology = json.loads(WORLD_OUTLINES.read_text(encoding="utf-8"))
    return frozenset(g.get("id") for g in topology["objects"]["countries"]["geometries"])


def placement(code: str) -> tuple[str, str | None]:
    """Where a jurisdiction goes: ('area', alpha-3), ('dot', alpha-3), or ('aside', None)."""
    if code in OFFICES or code not in COUNTRIES:
        return "aside", None
    iso3 = COUNTRIES[code][0]
    if iso3 in outlined_countries():
        return "area", iso3
    return ("dot", iso3) if code in SMALL_COUNTRY_CENTRES else ("aside", None)


def aside_entry(code: str, count: int, language: str) -> dict:
    if code in OFFICES:
        short, kind, english, spanish = OFFICES[code]
        return {"code": code, "short": short, "kind": kind, "name": spanish if language == "es" else english,
                "count": count}
    if code in COUNTRIES:  # a country the outlines cannot show (e.g. a remote island)
        return {"code": code, "short": code, "kind": "not_on_map", "name": COUNTRIES[code][1], "count": count}
    return {"code": code, "short": code, "kind": "unknown", "name": code, "count": count}


def log_ticks(largest: int) -> tuple[list[float], list[str]]:
    """Colour-bar ticks 1, 2, 5, 10, 20, 50... up to the largest count (colours are log10)."""
    values, power = [], 0
    while True:
        for step in NICE_STEPS:
            value = step * 10 ** power
            if value > largest:
                return [math.log10(v) for v in values], [f"{v:,}" for v in values]
            values.append(value)
        power += 1


def panel_gap(aside: list[dict], font_px: int, right_margin: int) -> float:
    """The share of the width between the map and the offices' bars: room for the widest label
    ('GC · GCCPO') at the narrowest layout, or the map (drawn above the axis) hides its start."""
    widest = max(text_em(f"{a['code']} · {a['short']}") for a in aside) * font_px
    return max(0.07, (widest + LABEL_GAP_PX) / (NARROWEST_LAYOUT - 20 - right_margin))


def jurisdiction_map(dataset: Dataset, params: dict, style: Style) -> Chart:
    rows = ranked(dataset.facet("countries"))
    total = facet_total(rows, "countries")
    lang, colors, fonts = style.language, style.colors, style.fonts
    codes = rows["value"].astype(str).str.strip().str.upper().map(lambda c: ALIASES.get(c, c))
    counts = rows.assign(code=codes).groupby("code", sort=False)["count"].sum()  # UK and GB are one country
    counts = counts[counts > 0].sort_values(ascending=False, kind="stable")
    by_family = bool(rows["by_family"].iloc[0]) if "by_family" in rows else True
    countries, aside = [], []
    for code, count in counts.items():
        kind, iso3 = placement(code)
        if kind == "aside":
            aside.append(aside_entry(code, int(count), lang))
        else:
            countries.append({"code": code, "iso3": iso3, "name": COUNTRIES[code][1], "count": int(count),
                              "drawn_as": kind})
    largest = max([c["count"] for c in countries] or [1])
    tickvals, ticktext = log_ticks(largest)
    traces: list = []
    areas = [c for c in countries if c["drawn_as"] == "area"]
    dots = [c for c in countries if c["drawn_as"] == "dot"]
    line = {"color": colors.background, "width": 0.5}
    if not countries:  # nothing to paint: an empty layer still draws the world (and says why it is grey)
        traces.append(go.Choropleth(locations=[], z=[], locationmode="ISO-3", coloraxis="coloraxis",
                                    hoverinfo="skip", showscale=False))
    if areas:
        traces.append(go.Choropleth(
            locations=[c["iso3"] for c in areas], z=[math.log10(c["count"]) for c in areas], locationmode="ISO-3",
            coloraxis="coloraxis", marker={"line": line},
            customdata=[plotly_text(f"{c['name']} ({c['code']}): {c['count']:,}") for c in areas],
            hovertemplate="%{customdata}<extra></extra>"))
    if dots:
        centres = [SMALL_COUNTRY_CENTRES[c["code"]] for c in dots]
        traces.append(go.Scattergeo(
            lon=[lon for lon, _ in centres], lat=[lat for _, lat in centres], mode="markers",
            marker={"size": 9, "color": [math.log10(c["count"]) for c in dots], "coloraxis": "coloraxis",
                    "line": {"color": colors.text, "width": 0.8}},
            customdata=[plotly_text(f"{c['name']} ({c['code']}): {c['count']:,}") for c in dots],
            hovertemplate="%{customdata}<extra></extra>", showlegend=False))
    code = style.highlight
    rank = next((i + 1 for i, c in enumerate(counts.index) if c == code), None)
    highlight = next((c for c in countries if c["code"] == code), None)
    if highlight and highlight["drawn_as"] == "area":
        traces.append(go.Choropleth(
            locations=[highlight["iso3"]], z=[math.log10(highlight["count"])], locationmode="ISO-3",
            coloraxis="coloraxis", marker={"line": {"color": colors.accent, "width": 2.5}},
            customdata=[plotly_text(f"{highlight['name']} ({code}): {highlight['count']:,}")],
            hovertemplate="%{customdata}<extra></extra>"))
    if aside:
        shown = aside[::-1]  # Plotly draws the first category at the bottom
        traces.append(go.Bar(
            x=[a["count"] for a in shown], y=[plotly_text(f"{a['code']} · {a['short']}") for a in shown],
            orientation="h", marker={"color": colors.secondary, "line": {"width": 0}},
            text=[f"{a['count']:,}" for a in shown], textposition="outside", cliponaxis=False,
            textfont={"size": fonts.tick, "color": colors.text},
            customdata=[plotly_text(a["name"]) for a in shown],
            hovertemplate="%{customdata}: %{x:,}<extra></extra>", showlegend=False))
    fig = go.Figure(traces)
    map_right = MAP_RIGHT if aside else 1.0
    fig.update_layout(
        geo={"domain": {"x": [0, map_right], "y": [MAP_BOTTOM, 1]}, "scope": "world", "resolution": 110,
             "projection": {"type": "natural earth"}, "showframe": False, "showcoastlines": False,
             "showland": True, "landcolor": lighten(colors.text, 0.88),  # no data: a neutral grey
             "showcountries": True,
             "countrycolor": colors.background, "countrywidth": 0.5, "showocean": False, "showlakes": False,
             "lataxis": {"range": [-57, 85]}, "bgcolor": colors.background},
        coloraxis={
            "showscale": bool(countries),
            "cmin": 0, "cmax": max(math.log10(largest), 1.0),
            "colorscale": [[0, lighten(colors.primary, 0.78)], [1, colors.primary]],
            "colorbar": {"orientation": "h", "x": map_right / 2, "xanchor": "center", "y": MAP_BOTTOM - 0.03,
                         "yanchor": "top", "len": 0.45 * map_right, "thickness": 12,
                         "tickvals": tickvals, "ticktext": ticktext, "tickfont": {"size": fonts.tick},
                         "title": {"text": label("families_count" if by_family else "publications_count", lang),
                                   "side": "top", "font": {"size": fonts.axis_label}}},
        },
    )
    notes = [label("note_map_families" if by_family else "note_map_publications", lang)]
    if not countries:
        notes.append(NO_COUNTRY[lang])
    if aside:
        notes.append(label("note_map_aside", lang))
    if dots:
        notes.append(label("note_map_small", lang, codes=", ".join(c["code"] for c in dots)))
    if rank:
        notes.append(label("rank_note_families" if by_family else "rank_note", lang, country=code, rank=rank,
                           count=int(counts[code])))
    notes = starred(notes) + truncated_note(dataset, "countries", lang)
    right = 60 if aside else 20
    # as tall as the map needs at this width: no bands of empty paper above and below it
    map_px = (style.width - 20 - right) * map_right / MAP_ASPECT / (1 - MAP_BOTTOM)
    lines = wrap_footnotes(notes, style.width - 24, fonts.annotation) if style.show_footnotes else []
    title_px = fonts.title * 3 if style.title else 0
    width, height = apply_layout(fig, style, default_title=label("title_map", lang), footnotes=notes,
                                 height=int(map_px + 110 + title_px + len(lines) * fonts.annotation * 1.45),
                                 left_margin=20, right_margin=right)
    height = tighten_bottom(fig, 30)  # no axis title under the colour bar
    if aside:
        panel_top = min(0.95, 0.3 + 0.07 * len(aside))
        fig.update_xaxes(domain=[map_right + panel_gap(aside, fonts.tick, right), 1], showticklabels=False, showgrid=False, showline=False,
                         range=[0, max(a["count"] for a in aside) * 1.35])
        fig.update_yaxes(domain=[0.3, panel_top], type="category", showgrid=False, automargin=True,
                         anchor="x", ticks="")
        fig.add_annotation(text=f"<b>{label('map_aside_title', lang)}</b>", xref="paper", yref="paper",
                           x=map_right + panel_gap(aside, fonts.tick, right), y=panel_top, yshift=8, xanchor="left", yanchor="bottom",
                           align="left", showarrow=False, font={"size": fonts.axis_label, "color": colors.text})
    else:
        fig.update_xaxes(visible=False)
        fig.update_yaxes(visible=False)
    chart_data = {
        "type": "choropleth",
        "counting": "families" if by_family else "publications",
        "source_facet": "countries",
        "scale": "log10 colours",
        "countries": countries,
        "beside_map": aside,
        "total": total,
        "highlight_country": code or None,
        "highlight_rank": rank,
        "highlight_count": int(counts[code]) if rank else None,
        "truncated_source": bool(rows["truncated"].iloc[0]) if "truncated" in rows else False,
        "warnings": [f"{a['code']} ({a['name']}) is listed beside the map: it is no country on today's map"
                     for a in aside if a["kind"] in ("former", "unknown", "not_on_map")],
    }
    return Chart("jurisdiction_map", fig, chart_data, width, height)


SPECS = [
    ChartSpec("jurisdiction_map", "1.0", "countries",
              "World map of filing jurisdictions; regional and international offices listed beside it",
              jurisdiction_map),
]
