"""Where inventions come from and where they are protected: a Sankey diagram from the
offices of the priority claims to the jurisdictions of the publications, counted by family."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from intelli_assets.charts.base import (
    RECORDS,
    Chart,
    ChartSpec,
    Param,
    apply_layout,
    notice_figure,
    plotly_text,
)
from intelli_assets.charts.labels import label
from intelli_assets.charts.record_data import all_families, family_pairs, ranked_values, records_of
from intelli_assets.dataset import Dataset
from intelli_assets.style import Style, lighten

OTHERS = "__others__"  # the node of everything past the top N, on either side
NODE_PAD = 14


def grouped(pairs: pd.DataFrame, top: pd.Index) -> pd.DataFrame:
    """(family, node) pairs: a value in `top` is its own node, the rest share OTHERS; a family
    counts once per node."""
    nodes = pairs["value"].where(pairs["value"].isin(top), OTHERS)
    return pd.DataFrame({"family": pairs["family"], "node": nodes}).drop_duplicates()


def node_order(pairs: pd.DataFrame, top: pd.Index) -> list[tuple[str, int]]:
    """(node, families) in rank order, OTHERS last when present."""
    counts = pairs.groupby("node")["family"].nunique()
    order = [v for v in top if v in counts.index] + ([OTHERS] if OTHERS in counts.index else [])
    return [(node, int(counts[node])) for node in order]


def positions(sizes: list[int], total_height: float = 1.0) -> list[float]:
    """Node centres from top to bottom in the given order, each as tall as its flows."""
    total = sum(sizes) or 1
    gap = 0.02 if len(sizes) > 1 else 0
    usable = max(0.1, total_height - gap * (len(sizes) - 1))
    out, top = [], 0.0
    for size in sizes:
        height = usable * size / total
        out.append(min(0.999, max(0.001, top + height / 2)))
        top += height + gap
    return out


def distinct_colors(style: Style) -> list[str]:
    """The palette's colours a flow can be told apart by: not its pale ones (they vanish in
    the translucent links) nor its greys (Others is drawn in the palette's secondary)."""
    def pale_or_grey(color: str) -> bool:
        r, g, b = (int(color[i:i + 2], 16) for i in (1, 3, 5))
        saturation = (max(r, g, b) - min(r, g, b)) / max(r, g, b, 1)
        return 0.299 * r + 0.587 * g + 0.114 * b > 185 or saturation < 0.4

    return [c for c in style.colors.colors if not pale_or_grey(c)] or [style.colors.primary]


def rgba(color: str, alpha: float) -> str:
    r, g, b = (int(color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def priority_flows(dataset: Dataset, params: dict, style: Style) -> Chart:
    records = records_of(dataset)
    lang, colors = style.language, style.colors
    families = all_families(records)
    priorities = family_pairs(records, "priority_countries").assign(value=lambda f: f["value"].str.upper())
    if priorities.empty:
        message = label("no_priority", lang, n=len(families))
        fig = notice_figure(message, style)
        width, height = apply_layout(fig, style, height=500, default_title=label("title_priority_flows", lang),
                                     left_margin=40)
        return Chart("priority_flows", fig, {
            "type": "sankey", "counting": "families", "has_priority_data": False, "message": message,
            "families": len(families), "families_with_priority": 0, "sources": [], "targets": [], "links": [],
            "warnings": [message]}, width, height)
    with_priority = pd.Index(priorities["family"].unique())
    offices = family_pairs(records, "jurisdiction").assign(value=lambda f: f["value"].str.upper())
    offices = offices[offices["family"].isin(with_priority)].drop_duplicates()
    left = grouped(priorities.drop_duplicates(), ranked_values(priorities).head(params["top_n"]).index)
    right = grouped(offices, ranked_values(offices).head(params["top_jurisdictions"]).index)
    sources = node_order(left, ranked_values(priorities).head(params["top_n"]).index)
    targets = node_order(right, ranked_values(offices).head(params["top_jurisdictions"]).index)
    links = left.merge(right, on="family", suffixes=("_from", "_to"))
    flows = links.groupby(["node_from", "node_to"])["family"].nunique()
    index_of = {("L", n): i for i, (n, _) in enumerate(sources)}
    index_of.update({("R", n): len(sources) + i for i, (n, _) in enumerate(targets)})

    def name(node: str) -> str:
        return label("others", lang) if node == OTHERS else node

    palette = distinct_colors(style)
    neutral = lighten(colors.text, 0.5)  # Others and the jurisdictions: no colour of a country's flows
    source_colors = [neutral if n == OTHERS else palette[i % len(palette)] for i, (n, _) in enumerate(sources)]
    target_color = neutral
    ordered = sorted(flows.items(), key=lambda kv: (index_of[("L", kv[0][0])], index_of[("R", kv[0][1])]))
    link_rows = [{"source": name(a), "target": name(b), "families": int(n)} for (a, b), n in ordered]
    # node heights follow their flows: place each side's nodes in rank order, by those heights
    out_sizes = [int(sum(n for (a, _), n in flows.items() if a == node)) for node, _ in sources]
    in_sizes = [int(sum(n for (_, b), n in flows.items() if b == node)) for node, _ in targets]
    fig = go.Figure(go.Sankey(
        arrangement="snap",  # in the order given, moved apart where labels would collide
        node={
            "label": [plotly_text(f"{name(n)} · {c:,}") for n, c in sources + targets],
            "color": source_colors + [target_color] * len(targets),
            "x": [0.001] * len(sources) + [0.999] * len(targets),
            "y": positions(out_sizes) + positions(in_sizes),
            "pad": NODE_PAD, "thickness": 18, "line": {"width": 0},
            "hovertemplate": "%{label}<extra></extra>",
        },
        link={
            "source": [index_of[("L", a)] for (a, _), _ in ordered],
            "target": [index_of[("R", b)] for (_, b), _ in ordered],
            "value": [int(n) for _, n in ordered],
            "color": [rgba(source_colors[index_of[("L", a)]], 0.35) for (a, _), _ in ordered],
            "hovertemplate": "%{source.label} → %{target.label}: %{value:,}<extra></extra>",
        },
        # a halo of the background: labels stay readable where flows pass under them
        textfont={"size": style.fonts.tick + 1, "color": colors.text,
                  "shadow": ", ".join([f"0 0 3px {colors.background}"] * 4)},
    ))
    for x, anchor, key in ((0, "left", "flows_left"), (1, "right", "flows_right")):
        fig.add_annotation(text=f"<b>{label(key, lang)}</b>", xref="paper", yref="paper", x=x, y=1.0,
                           yshift=14, xanchor=anchor, yanchor="bottom", showarrow=False,
                           font={"size": style.fonts.axis_label, "color": colors.text})
    without = len(families) - len(with_priority)
    notes = [label("note_flows", lang)] + ([label("note_flows_missing", lang, n=without)] if without else [])
    present = {n for n, _ in targets}
    notes += [label(f"{c.lower()}_note", lang) for c in ("WO", "EP") if c in present]
    width, height = apply_layout(fig, style, height=max(640, 220 + 44 * max(len(sources), len(targets))),
                                 default_title=label("title_priority_flows", lang), footnotes=notes,
                                 left_margin=40, right_margin=40)
    fig.update_layout(margin={"t": fig.layout.margin.t + 34})
    chart_data = {
        "type": "sankey",
        "counting": "families",
        "has_priority_data": True,
        "sources": [{"code": name(n), "families": c} for n, c in sources],
        "targets": [{"code": name(n), "families": c} for n, c in targets],
        "links": link_rows,
        "families": len(families),
        "families_with_priority": len(with_priority),
        "families_without_priority": without,
        "top_n": params["top_n"],
        "top_jurisdictions": params["top_jurisdictions"],
        "warnings": [],
    }
    return Chart("priority_flows", fig, chart_data, width, height)


SPECS = [
    ChartSpec("priority_flows", "1.0", RECORDS,
              "Flows of families from priority countries to filing jurisdictions (Sankey)", priority_flows,
              (Param("top_n", 10, "how many priority countries to show (the rest: Others)", maximum=40),
               Param("top_jurisdictions", 12, "how many filing jurisdictions to show (the rest: Others)",
                     maximum=40)),
              needs_records=True),
]
