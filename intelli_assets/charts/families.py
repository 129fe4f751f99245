"""Record-level distributions: how large the families are (counted by family), and the
legal status of the publications per year (counted by publication)."""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from intelli_assets.charts.base import RECORDS, Chart, ChartSpec, Param, apply_layout, plotly_text, share_text
from intelli_assets.charts.labels import label
from intelli_assets.charts.record_data import STATUS_GROUPS, family_sizes, records_of, status_group
from intelli_assets.charts.timeseries import year_axis
from intelli_assets.dataset import Dataset
from intelli_assets.errors import EmptyFacetError
from intelli_assets.style import Style, lighten

MAX_YEARS = 25  # year bars at most: older publications are counted in a footnote


def family_size_distribution(dataset: Dataset, params: dict, style: Style) -> Chart:
    records = records_of(dataset)
    lang, colors, cap = style.language, style.colors, params["max_size"]
    sizes = family_sizes(records)
    counts = sizes["size"].value_counts()
    largest = int(sizes["size"].max())
    bins = list(range(1, min(largest, cap) + 1))
    names = [str(s) for s in bins]
    values = [int(counts.get(s, 0)) for s in bins]
    over = int((sizes["size"] > cap).sum())
    if over:
        names.append(f"{cap + 1}+")
        values.append(over)
    total = len(sizes)
    pcts = [round(v / total * 100, 2) for v in values]
    fig = go.Figure(go.Bar(
        x=names, y=values, text=[f"{v:,}<br>({share_text(p)})" if v else "" for v, p in zip(values, pcts)],
        textposition="outside", cliponaxis=False, textfont={"size": style.fonts.tick, "color": colors.text},
        marker={"color": [colors.secondary if n.endswith("+") else colors.primary for n in names],
                "line": {"width": 0}},
        hovertemplate="%{x}: %{y:,}<extra></extra>",
    ))
    fig.update_xaxes(type="category", showgrid=False)
    fig.update_yaxes(range=[0, max(values) * 1.2], tickformat=",d", rangemode="tozero")
    basis = sizes["basis"].value_counts()
    width, height = apply_layout(
        fig, style, height=640, default_title=label("title_family_size", lang),
        footnotes=[label("note_family_size", lang)],
        x_title=label("family_size_axis", lang), y_title=label("families_count", lang),
    )
    biggest = sizes.sort_values(["size"], ascending=False, kind="stable").index[0]
    chart_data = {
        "type": "bar",
        "counting": "families",
        "x_axis": label("family_size_axis", lang),
        "y_axis": label("families_count", lang),
        "series": [{"size": n, "families": v, "percentage": p} for n, v, p in zip(names, values, pcts)],
        "total_families": total,
        "size_basis": {"source": int(basis.get("source", 0)),
                       "records_in_dataset": int(basis.get("records_in_dataset", 0))},
        "mean_size": round(float(sizes["size"].mean()), 2),
        "median_size": float(sizes["size"].median()),
        "largest_family": {"family": str(biggest).removeprefix("pub:"), "size": largest},
        "max_size": cap,
        "warnings": [],
    }
    return Chart("family_size_distribution", fig, chart_data, width, height)


def status_colors(style: Style) -> dict[str, str]:
    """Active in the palette's primary, pending in its accent, inactive in a grey and unknown
    in a pale grey (both from its text colour): the same meaning in every palette."""
    colors = style.colors
    return {"active": colors.primary, "pending": colors.accent, "inactive": lighten(colors.text, 0.45),
            "unknown": lighten(colors.text, 0.8)}


def legal_status_by_year(dataset: Dataset, params: dict, style: Style) -> Chart:
    records = records_of(dataset)
    lang = style.language
    raw = records["legal_status"].to_pandas().fillna("").str.strip().str.lower()
    frame = pd.DataFrame({
        "raw": raw,
        "group": raw.map({v: status_group(v) for v in raw.unique()}),  # one lookup per distinct status
        "year": pd.to_datetime(records["publication_date"].to_pandas()).dt.year,
    })
    undated = int(frame["year"].isna().sum())
    dated = frame.dropna(subset=["year"]).astype({"year": int})
    if dated.empty:
        raise EmptyFacetError("none of the records has a publication date; there is no year to chart")
    last = int(dated["year"].max())
    first = max(int(dated["year"].min()), last - MAX_YEARS + 1)
    before = int((dated["year"] < first).sum())
    window = dated[dated["year"] >= first]
    years = list(range(first, last + 1))
    counts = window.groupby(["group", "year"]).size()
    series = [{"status": g, "label": label(f"status_{g}", lang),
               "data": [int(counts.get((g, y), 0)) for y in years]} for g in STATUS_GROUPS]
    for s in series:
        s["total"] = sum(s["data"])
    palette = status_colors(style)
    fig = go.Figure([
        go.Bar(x=years, y=s["data"], name=plotly_text(s["label"]), marker={"color": palette[s["status"]],
                                                                           "line": {"width": 0}},
               hovertemplate=f"{plotly_text(s['label'])} · %{{x}}: %{{y:,}}<extra></extra>")
        for s in series if s["total"]
    ])
    fig.update_layout(barmode="stack", bargap=0.25)
    fig.update_yaxes(tickformat=",d", rangemode="tozero")
    year_axis(fig, years)
    notes = [label("note_legal_status", lang), label("note_legal_groups", lang)]
    warnings = []
    unrecognised = frame.loc[(frame["group"] == "unknown") & ~frame["raw"].isin(["", "unknown"]), "raw"].value_counts()
    if len(unrecognised):
        warnings.append("statuses counted as unknown: " + ", ".join(f"{v!r} ({n})" for v, n in unrecognised.items()))
    if (frame["group"] == "unknown").all():
        warnings.append("the source gives no legal status for any publication: every one is drawn as unknown")
    if before:
        warnings.append(f"{before} publications before {first} are not shown")
    width, height = apply_layout(
        fig, style, height=700, default_title=label("title_legal_status", lang), footnotes=notes,
        x_title=label("publication_year_axis", lang), y_title=label("publications_count", lang), legend=True,
    )
    fig.update_layout(legend={"orientation": "h", "x": 0, "y": 1.02, "yanchor": "bottom", "traceorder": "normal"})
    chart_data = {
        "type": "stacked_bar",
        "counting": "publications",
        "year_basis": "publication date",
        "x_axis": label("publication_year_axis", lang),
        "y_axis": label("publications_count", lang),
        "years": years,
        "series": series,
        "total_publications": int(len(window)),
        "publications_before_window": before,
        "publications_without_date": undated,
        "statuses": {str(v): status_group(v) for v in sorted(frame["raw"].unique())},
        "warnings": warnings,
    }
    return Chart("legal_status_by_year", fig, chart_data, width, height)


SPECS = [
    ChartSpec("family_size_distribution", "1.0", RECORDS, "How many families have 1, 2, 3... members",
              family_size_distribution,
              (Param("max_size", 15, "largest size with its own bar; larger families share the last bar",
                     minimum=2, maximum=100),),
              needs_records=True),
    ChartSpec("legal_status_by_year", "1.0", RECORDS,
              "Publications per year by legal status (active, pending, inactive, unknown)", legal_status_by_year,
              needs_records=True),
]
