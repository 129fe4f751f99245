"""The most cited families, as a table: each family once, with its most cited member's
cited-by count (Lens.org, or a results list's 'Cited by' column)."""

from __future__ import annotations

import math
import re

import pandas as pd
import plotly.graph_objects as go
import pyarrow as pa
import pyarrow.compute as pc

from intelli_assets.charts.bars import name_case
from intelli_assets.charts.base import (
    RECORDS,
    Chart,
    ChartSpec,
    Param,
    apply_layout,
    notice_figure,
    plotly_text,
    tighten_bottom,
    wrap_footnotes,
)
from intelli_assets.charts.labels import label
from intelli_assets.charts.record_data import all_families, family_citations, first_filing_years, records_of
from intelli_assets.dataset import Dataset
from intelli_assets.style import Style, lighten

COLUMNS = ("col_rank", "col_family", "col_title", "col_applicants", "col_first_filing", "col_publications",
           "col_cited_by")
WIDTHS = (0.35, 1.25, 3.6, 1.9, 0.85, 0.95, 0.75)  # relative column widths
TITLE_CHARS = 160
SHOWN_APPLICANTS = 2
CELL_PAD = 8  # plotly.js's table cell padding


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def applicants_text(names: list[str]) -> str:
    shown = [name_case(n) for n in names[:SHOWN_APPLICANTS]]
    more = len(names) - len(shown)
    return "; ".join(shown) + (f"\u00a0(+{more})" if more > 0 else "")  # "(+1)" never on a line of its own


def text_em(text: str) -> float:
    """Width of a text in em, from Arial's widths by kind of character (capitals and digits
    are wider than lower case): enough to wrap a cell before plotly.js would."""
    def em(c: str) -> float:
        if c.isupper() or c in "@%&mwMW":
            return 0.72
        if c.isdigit() or c.islower():
            return 0.56 if c not in "fijlrt" else 0.3
        return 0.3 if c in " .,;:'|!()[]-" else 0.6
    return sum(em(c) for c in text)


def wrapped(text: str, width_px: float, font_px: int, max_lines: int = 2) -> list[str]:
    """A cell's text in lines that fit its column (so plotly.js never wraps them again), at
    most `max_lines`; text that does not fit ends in '…'."""
    room = (width_px - 2 * CELL_PAD) / font_px  # in em
    lines: list[str] = []
    words = [w for w in re.split(r"[ \t\r\n]+", text) if w]  # a no-break space keeps "(+1)" on
    while words and len(lines) < max_lines:
        line = words.pop(0)
        if text_em(line) > room:  # a word wider than the column: what fits, the rest on the next line
            fits = max(1, max(n for n in range(1, len(line) + 1) if n == 1 or text_em(line[:n]) <= room))
            line, rest = line[:fits], line[fits:]
            if rest:
                words.insert(0, rest)
        while words and text_em(f"{line} {words[0]}") <= room:
            line = f"{line} {words.pop(0)}"
        lines.append(line)
    if words:  # more than fits: say so on the last line
        last = lines[-1]
        while last and text_em(last + " …") > room:  # whole words off the end, a long one cut
            last = last.rsplit(" ", 1)[0] if " " in last else last[:-1]
        lines[-1] = last.rstrip() + " …"
    return lines or [""]


def cell_text(lines: list[str]) -> str:
    return "<br>".join(plotly_text(line) for line in lines)  # escaped first, then our own breaks


def row_height(lines: int, font_px: int) -> int:
    """A row's height as plotly.js lays it out: the declared one-line height, or the text's
    box (lines 1.3 em apart) plus 8 px of padding above and below, whichever is taller."""
    one_line = math.ceil(font_px * 1.3 + 2 * CELL_PAD + 2)
    return max(one_line, math.ceil(font_px * (1.3 * (lines - 1) + 1.2) + 2 * CELL_PAD))


def most_cited_families(dataset: Dataset, params: dict, style: Style) -> Chart:
    records = records_of(dataset)
    lang, colors, fonts, top_n = style.language, style.colors, style.fonts, params["top_n"]
    families = all_families(records)
    cited = family_citations(records)
    if cited.empty:
        message = label("no_citations", lang, n=records.num_rows)
        fig = notice_figure(message, style)
        width, height = apply_layout(fig, style, height=500, default_title=label("title_most_cited", lang, n=top_n),
                                     left_margin=40)
        return Chart("most_cited_families", fig, {
            "type": "table", "counting": "families", "has_citation_data": False, "message": message,
            "families": [], "families_with_citation_data": 0, "total_families": len(families), "top_n": top_n,
            "warnings": [message]}, width, height)
    years, _ = first_filing_years(records)
    cited["year"] = cited["family"].map(years)
    ranked = cited.sort_values(["cited_by", "year", "publication_number"], ascending=[False, True, True],
                               na_position="last", kind="stable").head(top_n)
    shown = pa.array(ranked["publication_number"].tolist(), pa.string())  # only the listed members are read
    members = {m["publication_number"]: m for m in records.filter(pc.is_in(records["publication_number"], shown))
               .select(["publication_number", "title", "applicants"]).to_pylist()}
    rows = []
    for rank, row in enumerate(ranked.itertuples(index=False), start=1):
        member = members[row.publication_number]
        rows.append({
            "rank": rank,
            "family_id": str(row.family).removeprefix("pub:"),
            "publication_number": row.publication_number,
            "title": member["title"] or "",
            "applicants": [str(a) for a in member["applicants"] or []],
            "first_filing_year": None if pd.isna(row.year) else int(row.year),
            "publications": int(row.publications),
            "cited_by": int(row.cited_by),
            "cited_by_members_sum": int(row.cited_by_sum),
        })
    table = [
        [str(r["rank"]) for r in rows],
        [r["publication_number"] for r in rows],
        [cut(r["title"], TITLE_CHARS) for r in rows],
        [applicants_text(r["applicants"]) for r in rows],
        ["" if r["first_filing_year"] is None else str(r["first_filing_year"]) for r in rows],
        [f"{r['publications']:,}" for r in rows],
        [f"{r['cited_by']:,}" for r in rows],
    ]
    plot_px = style.width - 40
    widths_px = [plot_px * w / sum(WIDTHS) for w in WIDTHS]
    font_px = fonts.tick + 1
    cells = [[wrapped(v, px, font_px) for v in col] for col, px in zip(table, widths_px)]
    heights = [row_height(max(len(col[i]) for col in cells), font_px) for i in range(len(rows))]
    header = [wrapped(label(c, lang), px, font_px) for c, px in zip(COLUMNS, widths_px)]
    header_px = row_height(max(len(h) for h in header), font_px)
    fills = [colors.background if i % 2 == 0 else lighten(colors.primary, 0.92) for i in range(len(rows))]
    align = ["right", "left", "left", "left", "center", "right", "right"]
    fig = go.Figure(go.Table(
        columnwidth=list(WIDTHS),
        header={"values": [f"<b>{cell_text(h)}</b>" for h in header], "fill": {"color": colors.primary},
                "font": {"color": "#ffffff", "size": font_px}, "align": align, "height": header_px,
                "line": {"color": colors.background, "width": 1}},
        cells={"values": [[cell_text(v) for v in col] for col in cells], "fill": {"color": [fills]},
               "font": {"color": colors.text, "size": font_px}, "align": align, "height": row_height(1, font_px),
               "line": {"color": colors.grid, "width": 1}},
    ))
    notes = [label("note_most_cited", lang)]
    # exactly as tall as the table: a static image cannot scroll, and no blank band under it
    note_lines = wrap_footnotes(notes, style.width - 24, fonts.annotation) if style.show_footnotes else []
    top = 40 + (fonts.title * 3 if style.title else 0)
    bottom = 70 + int(len(note_lines) * fonts.annotation * 1.45)
    width, height = apply_layout(
        fig, style, height=top + header_px + row_height(1, font_px) + sum(heights) + bottom,
        default_title=label("title_most_cited", lang, n=len(rows)), footnotes=notes, left_margin=20, right_margin=20,
    )
    height = tighten_bottom(fig, 50)  # no axis under a table: its footnote moves up
    warnings = []
    if len(cited) < len(families):
        warnings.append(f"{len(families) - len(cited)} of {len(families)} families have no cited-by count "
                        "and are not ranked")
    chart_data = {
        "type": "table",
        "counting": "families",
        "citation_basis": "most cited member (members' counts are not added up)",
        "has_citation_data": True,
        "columns": [label(c, lang) for c in COLUMNS],
        "families": rows,
        "families_with_citation_data": int(len(cited)),
        "total_families": len(families),
        "top_n": top_n,
        "warnings": warnings,
    }
    return Chart("most_cited_families", fig, chart_data, width, height)


SPECS = [
    ChartSpec("most_cited_families", "1.0", RECORDS,
              "The most cited families, by their most cited member's cited-by count (Lens.org)", most_cited_families,
              (Param("top_n", 15, "how many families to list", maximum=50),), needs_records=True),
]
