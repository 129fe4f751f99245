"""Treemap of the largest CPC subgroups."""

from __future__ import annotations

import plotly.graph_objects as go

from intelli_assets.charts.bars import ranked
from intelli_assets.charts.base import (
    Chart,
    ChartSpec,
    Param,
    apply_layout,
    facet_total,
    plotly_text,
    share_text,
    truncated_note,
)
from intelli_assets.charts.labels import label
from intelli_assets.dataset import Dataset
from intelli_assets.style import Style, lighten


def cpc_treemap(dataset: Dataset, params: dict, style: Style) -> Chart:
    rows = ranked(dataset.facet("cpc_subgroups"))
    facet_total(rows, "cpc_subgroups")  # a clear error when every count is 0
    num_groups = params["num_groups"]
    warnings = []
    if len(rows) < num_groups:
        warnings.append(f"only {len(rows)} CPC subgroups in the data; showing all of them")
    shown = rows.head(num_groups)
    shown = shown[shown["count"] > 0]  # never empty: the largest count is positive
    names = shown["value"].tolist()
    values = [int(v) for v in shown["count"]]
    total = sum(values)
    pcts = [round(v / total * 100, 2) for v in values]
    lang, colors = style.language, style.colors
    fig = go.Figure(
        go.Treemap(
            labels=[plotly_text(n) for n in names],  # codes are user data: no Plotly markup
            parents=[""] * len(names),
            values=values,
            branchvalues="total",
            sort=True,
            # shares preformatted, so a tiny one reads "<0.1%" rather than "0.0%"
            texttemplate="<b>%{label}</b><br>%{value:,} (%{customdata})",
            customdata=[share_text(p) for p in pcts],
            hovertemplate="%{label}: %{value:,} (%{customdata})<extra></extra>",
            textposition="middle center",
            marker={
                "colors": values,
                "colorscale": [[0, lighten(colors.primary, 0.55)], [1, colors.primary]],
                "line": {"color": colors.background, "width": 2},
                "colorbar": {"title": {"text": label("publications_count", lang), "side": "right",
                                       "font": {"size": style.fonts.axis_label}},
                             "tickfont": {"size": style.fonts.tick}, "thickness": 18},
                "showscale": True,
                "pad": {"t": 2, "l": 2, "r": 2, "b": 2},
            },
            tiling={"pad": 2},
            insidetextfont={"color": "#ffffff", "size": style.fonts.axis_label + 2},
        )
    )
    # Plotly shrinks a label to its cell and hides the ones that still cannot fit
    fig.update_layout(uniformtext={"minsize": max(8, style.fonts.tick - 2), "mode": "hide"})
    width, height = apply_layout(
        fig, style, height=800, default_title=label("title_treemap", lang, n=len(names)),
        footnotes=[label("cpc_note", lang)] + truncated_note(dataset, "cpc_subgroups", lang),
        left_margin=20, right_margin=20,
    )
    chart_data = {
        "type": "treemap",
        "series": [{"name": n, "value": v, "percentage": p} for n, v, p in zip(names, values, pcts)],
        "total_publications": total,
        "num_groups": num_groups,
        "warnings": warnings,
    }
    return Chart("cpc_treemap", fig, chart_data, width, height)


SPECS = [
    ChartSpec("cpc_treemap", "2.1", "cpc_subgroups", "Treemap of the largest CPC subgroups", cpc_treemap,
              (Param("num_groups", 15, "how many CPC subgroups to show"),)),
]
