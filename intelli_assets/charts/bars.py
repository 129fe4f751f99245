"""Ranked horizontal bar charts: publication countries, applicants, inventors."""

from __future__ import annotations

import re
import textwrap
import unicodedata

import pandas as pd
import plotly.graph_objects as go

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
from intelli_assets.style import Style, gradient, lighten

COUNTRY_NOTES = {"WO": "WO indicates international patent publication under PCT, administered by WIPO",
                 "EP": "EP indicates European Patent Office publication, covering protection in member states"}


def ranked(rows: pd.DataFrame) -> pd.DataFrame:
    """Largest first; ties keep the source order (Espacenet's), so output is deterministic."""
    return rows.sort_values("count", ascending=False, kind="stable").reset_index(drop=True)


def bar_colors(values: list[int], style: Style) -> list[str]:
    # dark for large, as in the analysts' original design (the old app had it reversed)
    return gradient(values, lighten(style.colors.primary, 0.6), style.colors.primary)


def bar_figure(names: list[str], values: list[int], texts: list[str], colors: list[str], style: Style) -> go.Figure:
    fig = go.Figure(
        go.Bar(
            x=values,
            y=names,
            orientation="h",
            marker={"color": colors, "line": {"width": 0}},
            text=texts,
            textposition="outside",
            cliponaxis=False,
            textfont={"size": style.fonts.tick, "color": style.colors.text},
            hovertemplate="%{y}: %{x:,}<extra></extra>",
        )
    )
    fig.update_xaxes(range=[0, max(values or [1]) * 1.25], tickformat=",d", rangemode="tozero")
    fig.update_yaxes(type="category", showgrid=False, automargin=True)
    return fig


def label_margin(names: list[str], style: Style) -> int:
    """Room for the longest label line; pass the names before escaping (&lt; is one character)."""
    longest = max((len(line) for n in names for line in n.split("<br>")), default=4)
    return min(int(style.width * 0.4), 30 + int(longest * style.fonts.tick * 0.62))


def top_patent_countries(dataset: Dataset, params: dict, style: Style) -> Chart:
    rows = ranked(dataset.facet("countries"))
    top_n, code = params["top_n"], style.highlight
    rows["value"] = rows["value"].str.upper()
    total = facet_total(rows, "countries")
    highlight_idx = rows.index[rows["value"] == code].tolist() if code else []
    rank = highlight_idx[0] + 1 if highlight_idx else None
    shown = rows.head(top_n)
    rest = rows.iloc[top_n:]
    if rank and rank > top_n:  # outside the top N: show it as its own bar, once
        shown = pd.concat([shown, rows.iloc[[rank - 1]]])
        rest = rest[rest["value"] != code]
    display = shown.iloc[::-1]  # Plotly draws the first category at the bottom
    names = display["value"].tolist()
    values = [int(v) for v in display["count"]]
    colors = bar_colors(values, style)
    colors = [style.colors.accent if n == code else c for n, c in zip(names, colors)]
    others = int(rest["count"].sum())
    if len(rest):
        names.insert(0, label("others", style.language))
        values.insert(0, others)
        colors.insert(0, style.colors.secondary)
    texts = [f"{v:,} ({share_text(v / total * 100)})" for v in values]
    fig = bar_figure([plotly_text(n) for n in names], values, texts, colors, style)
    notes = []
    if rank:
        notes.append(label("rank_note", style.language, country=code, rank=rank, count=int(rows.loc[rank - 1, "count"])))
    present = set(rows["value"])
    notes += [label(f"{c.lower()}_note", style.language) for c in ("WO", "EP") if c in present]
    title = label("title_top_countries", style.language, n=min(top_n, len(rows)))  # never "Top 15" over 13 bars
    width, height = apply_layout(
        fig, style, height=max(600, 140 + 38 * len(names)),
        default_title=title, footnotes=notes,
        x_title=label("publications", style.language), y_title=label("jurisdiction", style.language),
        left_margin=label_margin(names, style) + 40, right_margin=60,
    )
    chart_names = ["Others" if i == 0 and len(rest) else n for i, n in enumerate(names)]
    chart_data = {
        "type": "horizontal_bar",
        "title": title,
        "x_axis": {"label": label("publications", style.language), "values": values},
        "y_axis": {"label": label("jurisdiction", style.language), "categories": chart_names},
        "series": [{"name": "Number of Publications", "data": values, "labels": chart_names}],
        "totals": {
            "total_publications": total,
            "top_n": top_n,
            "highlight_country": code or None,
            "highlight_rank": rank,
            "highlight_publications": int(rows.loc[rank - 1, "count"]) if rank else None,
            # old names, kept for existing consumers
            "ecuador_rank": rank if code == "EC" else None,
            "ecuador_publications": int(rows.loc[rank - 1, "count"]) if rank and code == "EC" else None,
            "others": others if len(rest) else None,
        },
        "warnings": [COUNTRY_NOTES[c] for c in ("WO", "EP") if c in present],
    }
    return Chart("top_patent_countries", fig, chart_data, width, height)


# Espacenet prints names in capitals. display_name title-cases each word, except:
# - words already in mixed case in the source (someone cased them) are kept as they are;
# - words in square brackets, such as a country code ("[EC]"), are kept;
# - words with a digit stay in capitals ("3M"), but ordinals read "8th", not "8TH";
# - in organisation names (applicants), also:
#   - KNOWN_ACRONYMS, acronyms that contain vowels ("INIAP", "ESPOL", "BASF"), stay in capitals;
#   - Latin words with no vowel (A E I O U Y) are acronyms and stay in capitals ("LG", "CNRS"),
#     unless TITLE_CASE_WORDS spells them ("LTD" -> "Ltd", "GMBH" -> "GmbH");
#   - LEGAL_FORMS stay in capitals as the name's last word ("BAYER AG" -> "Bayer AG"), where
#     they cannot be a syllable of a person's name ("CHOI SA RANG" -> "Choi Sa Rang").
# Inventors are people: their names are only title-cased ("GE HANWEN" -> "Ge Hanwen").
KNOWN_ACRONYMS = frozenset({
    # Ecuador and Latin America
    "INIAP", "ESPOL", "ESPE", "USFQ", "UTPL", "EPN", "UTE", "IKIAM", "SENESCYT", "UNAM", "IPN", "CINVESTAV",
    "CONICET", "INTA", "INIA", "UFRJ", "UFMG", "UNESP", "USP", "CIAT", "CIMMYT",
    # research organisations and universities
    "CSIC", "INRA", "INRAE", "INSERM", "CEA", "CIRAD", "IRD", "IFP", "MIT", "UCLA", "ETH", "EPFL", "KAIST",
    "KAUST", "KIST", "KRICT", "ETRI", "AIST", "RIKEN", "CSIRO", "CSIR", "CNR", "ENEA", "TNO", "NASA", "NIH",
    "USDA", "FAO", "IRRI", "ICRISAT", "IITA", "ICAR", "IIT", "ITRI", "NTU", "NUS", "UPM", "UPV", "UAB", "UAM",
    # companies
    "BASF", "IBM", "NEC", "NTT", "SAP", "ABB", "BOE", "TCL", "ZTE", "BYD", "DSM", "ASML", "SABIC",
})
LEGAL_FORMS = frozenset({"AG", "SA", "SE", "NV", "BV", "AB", "AS", "ASA", "SPA", "SRL", "SAS", "SARL", "SAU",
                         "LLC", "LLP", "LP", "KG", "KGAA", "OY", "OYJ", "SL", "KK", "PLC"})
TITLE_CASE_WORDS = {"LTD": "Ltd", "MFG": "Mfg", "PTY": "Pty", "BHD": "Bhd", "SDN": "Sdn", "GMBH": "GmbH",
                    "ST": "St", "DR": "Dr", "MR": "Mr", "MRS": "Mrs", "MS": "Ms", "JR": "Jr", "SR": "Sr",
                    "CTR": "Ctr", "GRP": "Grp", "HLDG": "Hldg", "HLDGS": "Hldgs", "MGMT": "Mgmt", "ENTPR": "Entpr",
                    "MFR": "Mfr", "NG": "Ng"}
NAME_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")  # letters and digits, apostrophes inside
BRACKETED = re.compile(r"(\[[^\]]*\])")
ORDINAL = re.compile(r"(\d+)(ST|ND|RD|TH)")


def _is_latin_without_vowel(word: str) -> bool:
    plain = unicodedata.normalize("NFD", word.upper()).encode("ascii", "ignore").decode()
    return plain.isalpha() and len(plain) == len(word) and not set(plain) & set("AEIOUY")


def _case_word(word: str, organisation: bool, last: bool) -> str:
    if any(c.islower() for c in word):
        return word
    if ordinal := ORDINAL.fullmatch(word):
        return ordinal.group(1) + ordinal.group(2).lower()
    if any(c.isdigit() for c in word):
        return word
    if organisation:
        if word in TITLE_CASE_WORDS:
            return TITLE_CASE_WORDS[word]
        if word in KNOWN_ACRONYMS or (last and word in LEGAL_FORMS) or _is_latin_without_vowel(word):
            return word
    # O'BRIEN -> O'Brien, DUPONT'S -> Dupont's (str.title() gives Dupont'S), CHANG'E -> Chang'e
    head, *tails = word.split("'")
    return "'".join([head.capitalize()] + [t.capitalize() if len(t) > 1 else t.lower() for t in tails])


def name_case(name: str, organisation: bool = True) -> str:
    """Title Case for Espacenet's capitalised names, keeping acronyms (rules above)."""
    parts = BRACKETED.split(name)
    words = [(i, m.start()) for i, part in enumerate(parts) if not BRACKETED.fullmatch(part)
             for m in NAME_WORD.finditer(part)]
    last = words[-1] if words else None

    def case_part(i: int, part: str) -> str:
        if BRACKETED.fullmatch(part):
            return part
        return NAME_WORD.sub(lambda m: _case_word(m.group(), organisation, (i, m.start()) == last), part)

    return "".join(case_part(i, part) for i, part in enumerate(parts))


def display_name(name: str, organisation: bool = True) -> str:
    """The old backend's label rule, cut at 40 (37 + '...') and wrapped at 30, with a casing
    that keeps acronyms ('LG Electronics Inc', not 'Lg Electronics Inc'). Cased before the
    cut, so a bracketed code or a final legal form is recognised whole; casing keeps the length."""
    name = name_case(str(name), organisation)
    if len(name) > 40:
        name = name[:37] + "..."
    return "\n".join(textwrap.wrap(name, 30)).strip()


def ranked_people_chart(key: str, facet: str, y_label: str, notes: tuple[str, str], organisations: bool):
    def build(dataset: Dataset, params: dict, style: Style) -> Chart:
        rows = ranked(dataset.facet(facet))
        top_n = params["top_n"]
        total = facet_total(rows, facet)
        warnings = []
        if len(rows) < top_n:
            warnings.append(f"only {len(rows)} {facet} in the data; showing all of them instead of the top {top_n}")
        shown = rows.head(top_n).iloc[::-1]
        names = [display_name(n, organisations) for n in shown["value"]]
        values = [int(v) for v in shown["count"]]
        pcts = [round(v / total * 100, 2) for v in values]
        texts = [f"{v:,} ({share_text(p)})" for v, p in zip(values, pcts)]
        # escape the names first, then break their lines with Plotly's own <br>
        plot_names = ["<br>".join(plotly_text(line) for line in n.split("\n")) for n in names]
        # names can repeat after cutting; keep bars apart with invisible suffixes
        seen: dict[str, int] = {}
        for i, n in enumerate(plot_names):
            seen[n] = seen.get(n, 0) + 1
            plot_names[i] = n + "\u200b" * (seen[n] - 1)
        fig = bar_figure(plot_names, values, texts, bar_colors(values, style), style)
        lang = style.language
        width, height = apply_layout(
            fig, style, height=max(600, 160 + 46 * len(names)),
            default_title=label(f"title_top_{facet}", lang, n=len(names)),
            footnotes=[label(n, lang) for n in notes] + truncated_note(dataset, facet, lang),
            x_title=label("publications", lang), y_title=label(y_label, lang),
            left_margin=label_margin([n.replace("\n", "<br>") for n in names], style) + 40, right_margin=70,
        )
        chart_data = {
            "type": "horizontal_bar",
            "x_axis": label("publications", lang),
            "y_axis": label(y_label, lang),
            "series": [{"name": n, "value": v, "percentage": p} for n, v, p in zip(names, values, pcts)],
            "total_publications": total,
            "top_n": top_n,
            "truncated_source": bool(rows["truncated"].iloc[0]),
            "warnings": warnings,
        }
        return Chart(key, fig, chart_data, width, height)

    return build


SPECS = [
    ChartSpec("top_patent_countries", "2.1", "countries", "Top publication jurisdictions, with the highlight country and Others",
              top_patent_countries, (Param("top_n", 15, "how many countries to show"),)),
    ChartSpec("top_patent_applicants", "2.1", "applicants", "Top applicants by published patents",
              ranked_people_chart("top_patent_applicants", "applicants", "applicants", ("applicants_note_1", "applicants_note_2"),
                                  organisations=True),
              (Param("top_n", 15, "how many applicants to show"),)),
    ChartSpec("top_patent_inventors", "2.1", "inventors", "Top inventors by published patents",
              ranked_people_chart("top_patent_inventors", "inventors", "inventors", ("inventors_note_1", "inventors_note_2"),
                                  organisations=False),
              (Param("top_n", 10, "how many inventors to show"),)),
]
