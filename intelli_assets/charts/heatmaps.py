"""Record-level heatmaps: top applicants by first filing year, and CPC subclasses by
jurisdiction. Both count families (a family counts once per cell it belongs to)."""

from __future__ import annotations

import plotly.graph_objects as go

from intelli_assets.charts.bars import display_name, label_margin
from intelli_assets.charts.base import RECORDS, Chart, ChartSpec, Param, apply_layout, plotly_text
from intelli_assets.charts.labels import label
from intelli_assets.charts.record_data import (
    CPC_SUBCLASS,
    family_pairs,
    first_filing_years,
    ranked_values,
    records_of,
)
from intelli_assets.dataset import Dataset
from intelli_assets.errors import EmptyFacetError
from intelli_assets.style import Style, lighten

MAX_YEARS = 25  # year columns at most: older first filings are counted in a footnote


def unique_labels(names: list[str]) -> list[str]:
    """Plot labels that stay apart after cutting: invisible suffixes on repeats."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name + "\u200b" * (seen[name] - 1))
    return out


def count_step(largest: int, ticks: int = 5) -> int:
    """A whole, round colour-bar step (1, 2, 5, 10, 20...) giving about `ticks` ticks."""
    raw = max(1.0, largest / ticks)
    power = 10 ** (len(str(int(raw))) - 1)
    return next(step * power for step in (1, 2, 5, 10) if step * power >= raw)


def heatmap_figure(z: list[list[int]], x: list[str], y: list[str], style: Style, hover: str) -> go.Figure:
    """Cells shaded from the palette's lightest primary to the primary; empty cells blank, and
    each count written in its cell."""
    colors, fonts = style.colors, style.fonts
    shown = [[v if v else None for v in row] for row in z]
    texts = [[f"{v:,}" if v else "" for v in row] for row in z]
    largest = max((v for row in z for v in row), default=1) or 1
    fig = go.Figure(go.Heatmap(
        z=shown, x=x, y=y, text=texts, texttemplate="%{text}",
        textfont={"size": fonts.tick},  # no colour: plotly.js writes dark on light cells, white on dark ones
        colorscale=[[0, lighten(colors.primary, 0.85)], [1, colors.primary]], zmin=0, zmax=largest,
        xgap=2, ygap=2, hoverongaps=False, hovertemplate=hover + "<extra></extra>",
        colorbar={"title": {"text": label("families_count", style.language), "side": "right",
                            "font": {"size": fonts.axis_label}},
                  "tickfont": {"size": fonts.tick}, "thickness": 16, "tickformat": ",d",
                  "tick0": 0, "dtick": count_step(largest)},
    ))
    fig.update_xaxes(type="category", showgrid=False, side="bottom", tickangle=-45 if len(x) > 12 else 0)
    fig.update_yaxes(type="category", showgrid=False, autorange="reversed", automargin=True)
    return fig


def applicant_year_heatmap(dataset: Dataset, params: dict, style: Style) -> Chart:
    records = records_of(dataset)
    lang, top_n = style.language, params["top_n"]
    pairs = family_pairs(records, "applicants")
    if pairs.empty:
        raise EmptyFacetError("none of the records names an applicant; there is no applicant to chart")
    ranking = ranked_values(pairs)
    top = ranking.head(top_n)
    years, by_publication = first_filing_years(records)
    shown_pairs = pairs[pairs["value"].isin(top.index)].assign(year=lambda f: f["family"].map(years))
    dated = shown_pairs.dropna(subset=["year"]).astype({"year": int})
    undated = int(shown_pairs.loc[shown_pairs["year"].isna(), "family"].nunique())
    if dated.empty:
        raise EmptyFacetError("none of the top applicants' families has a priority or publication date")
    last = int(dated["year"].max())
    first = max(int(dated["year"].min()), last - MAX_YEARS + 1)
    before = int(dated.loc[dated["year"] < first, "family"].nunique())
    window = dated[dated["year"] >= first]
    counts = window.groupby(["value", "year"])["family"].nunique()
    year_list = list(range(first, last + 1))
    z = [[int(counts.get((name, y), 0)) for y in year_list] for name in top.index]
    names = [display_name(n) for n in top.index]
    y_labels = unique_labels(["<br>".join(plotly_text(line) for line in n.split("\n")) for n in names])
    fig = heatmap_figure(z, [str(y) for y in year_list], y_labels, style,
                         "%{y}<br>%{x}: %{z:,}")
    fallback = len(set(window["family"].unique()) & set(by_publication))  # among those drawn
    notes = [label("note_applicant_year", lang)]
    if fallback:
        notes.append(label("note_year_fallback_one" if fallback == 1 else "note_year_fallback", lang, n=fallback))
    warnings = []
    if before:
        warnings.append(f"{before} families of these applicants were first filed before {first} and are not shown")
    if len(ranking) < top_n:
        warnings.append(f"only {len(ranking)} applicants in the data; showing all of them instead of the top {top_n}")
    width, height = apply_layout(
        fig, style, height=max(560, 200 + 44 * len(names)),
        default_title=label("title_applicant_year", lang, n=len(names)), footnotes=notes,
        x_title=label("first_filing_year", lang), y_title=label("applicants", lang),
        left_margin=label_margin([n.replace("\n", "<br>") for n in names], style) + 40, right_margin=40,
    )
    chart_data = {
        "type": "heatmap",
        "counting": "families",
        "year_basis": "earliest priority date (first publication when a family has none)",
        "x_axis": label("first_filing_year", lang),
        "y_axis": label("applicants", lang),
        "applicants": [str(n) for n in top.index],
        "labels": names,
        "years": year_list,
        "z": z,
        "applicant_families": [int(v) for v in top],
        "families_before_window": before,
        "families_without_date": undated,
        "families_dated_by_publication": fallback,
        "top_n": top_n,
        "warnings": warnings,
    }
    return Chart("applicant_year_heatmap", fig, chart_data, width, height)


def technology_jurisdiction_matrix(dataset: Dataset, params: dict, style: Style) -> Chart:
    records = records_of(dataset)
    lang, top_n, top_j = style.language, params["top_n"], params["top_jurisdictions"]
    cpc = family_pairs(records, "cpc")
    symbols = cpc["value"].str.upper()
    valid = symbols.str.match(CPC_SUBCLASS)
    subclasses = cpc[valid].assign(value=symbols[valid].str[:4]).drop_duplicates()
    if subclasses.empty:
        raise EmptyFacetError("none of the records has a CPC symbol; there is no technology to chart")
    offices = family_pairs(records, "jurisdiction").assign(value=lambda f: f["value"].str.upper()).drop_duplicates()
    tech_rank, office_rank = ranked_values(subclasses), ranked_values(offices)
    techs, codes = tech_rank.head(top_n), office_rank.head(top_j)
    cells = subclasses[subclasses["value"].isin(techs.index)].merge(
        offices[offices["value"].isin(codes.index)], on="family", suffixes=("_tech", "_office"))
    counts = cells.groupby(["value_tech", "value_office"])["family"].nunique()
    z = [[int(counts.get((t, c), 0)) for c in codes.index] for t in techs.index]
    fig = heatmap_figure(z, [plotly_text(c) for c in codes.index], [plotly_text(t) for t in techs.index], style,
                         "%{y} · %{x}: %{z:,}")
    notes = [label("note_tech_jurisdiction", lang)]
    notes += [label(f"{c.lower()}_note", lang) for c in ("WO", "EP") if c in set(codes.index)]
    warnings = []
    if int((~valid).sum()):
        warnings.append(f"{int((~valid).sum())} CPC symbols without a subclass (such as G01N) were left out")
    width, height = apply_layout(
        fig, style, height=max(600, 220 + 40 * len(techs)),
        default_title=label("title_tech_jurisdiction", lang, n=len(techs)), footnotes=notes,
        x_title=label("jurisdiction", lang), y_title=label("cpc_subclass", lang), left_margin=110, right_margin=40,
    )
    chart_data = {
        "type": "heatmap",
        "counting": "families",
        "x_axis": label("jurisdiction", lang),
        "y_axis": label("cpc_subclass", lang),
        "technologies": [str(t) for t in techs.index],
        "jurisdictions": [str(c) for c in codes.index],
        "z": z,
        "technology_families": [int(v) for v in techs],
        "jurisdiction_families": [int(v) for v in codes],
        "families_with_cpc": int(subclasses["family"].nunique()),
        "top_n": top_n,
        "top_jurisdictions": top_j,
        "warnings": warnings,
    }
    return Chart("technology_jurisdiction_matrix", fig, chart_data, width, height)


SPECS = [
    ChartSpec("applicant_year_heatmap", "1.0", RECORDS,
              "Top applicants by the first filing year of their families (families per cell)",
              applicant_year_heatmap, (Param("top_n", 15, "how many applicants to show", maximum=60),),
              needs_records=True),
    ChartSpec("technology_jurisdiction_matrix", "1.0", RECORDS,
              "Families per CPC subclass and filing jurisdiction (top subclasses x top jurisdictions)",
              technology_jurisdiction_matrix,
              (Param("top_n", 15, "how many CPC subclasses to show", maximum=60),
               Param("top_jurisdictions", 12, "how many jurisdictions to show", maximum=60)),
              needs_records=True),
]
