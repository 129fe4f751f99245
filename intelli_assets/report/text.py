"""The landscape report's own words, in Spanish and English, and how it writes numbers and
dates. Chart headings for the charts known here; any other chart is headed by its spec's
description. No Dagster imports."""

from __future__ import annotations

import datetime as dt

LANGUAGES = ("es", "en")

TEXT: dict[str, dict[str, str]] = {
    "report": {"es": "Informe de panorama de patentes", "en": "Patent landscape report"},
    "default_title": {"es": "Panorama de patentes: {source}", "en": "Patent landscape: {source}"},
    "source_file": {"es": "Archivo de origen", "en": "Source file"},
    "source_kind": {"es": "Tipo de fuente", "en": "Source type"},
    "query": {"es": "Consulta", "en": "Query"},
    "date_range": {"es": "Periodo cubierto", "en": "Date range"},
    "counting": {"es": "Regla de conteo", "en": "Counting rule"},
    "dataset": {"es": "Conjunto de datos", "en": "Dataset"},
    "generated": {"es": "Generado", "en": "Generated"},
    "charts_line": {"es": "{included} gráficos incluidos, {missing} faltantes",
                    "en": "{included} charts included, {missing} missing"},
    "contents": {"es": "Contenido", "en": "Contents"},
    "key_figures": {"es": "Cifras clave", "en": "Key figures"},
    "families": {"es": "Familias de patentes", "en": "Patent families"},
    "publications": {"es": "Publicaciones", "en": "Publications"},
    "years": {"es": "Años cubiertos", "en": "Years covered"},
    "years_value": {"es": "{start}–{end} ({years})", "en": "{start}–{end} ({years})"},
    "cagr": {"es": "Crecimiento anual compuesto (CAGR)", "en": "Compound annual growth (CAGR)"},
    "cagr_period_families": {"es": "familias por año de primera publicación, {start}–{end} (como el pronóstico)",
                             "en": "families per year of first publication, {start}–{end} (as the forecast)"},
    "cagr_period_publications": {"es": "publicaciones por año, {start}–{end} (como el pronóstico)",
                                 "en": "publications per year, {start}–{end} (as the forecast)"},
    "top_jurisdiction": {"es": "Jurisdicción principal", "en": "Top jurisdiction"},
    "top_applicant": {"es": "Solicitante principal", "en": "Top applicant"},
    "highlight_share": {"es": "Participación de {country}", "en": "Share of {country}"},
    "count_of": {"es": "{count} de {total}", "en": "{count} of {total}"},
    "count_only": {"es": "{count}, como las cuenta Espacenet (una publicación cuenta para cada solicitante: "
                         "sin total del que tomar una parte)",
                   "en": "{count} as Espacenet counts them (a publication counts for each of its applicants: "
                         "no total to take a share of)"},
    "rank": {"es": "puesto {rank}", "en": "rank {rank}"},
    "no_family": {"es": "ninguna de las {total} se publicó en {country}",
                  "en": "none of the {total} was published in {country}"},
    "no_publication": {"es": "ninguna publicación en {country}", "en": "no publication in {country}"},
    "ties": {"es": "empatado con {n} más", "en": "tied with {n} more"},
    "not_available": {"es": "no disponible", "en": "not available"},
    "families_note_filters": {"es": "resultados de la búsqueda en Espacenet", "en": "results of the Espacenet search"},
    "families_note_records": {"es": "familias distintas en la lista", "en": "distinct families in the list"},
    "publications_note_filters": {"es": "una familia cuenta una vez por oficina que la publicó",
                                  "en": "a family counts once per office that published it"},
    "publications_note_records": {"es": "documentos publicados en la lista", "en": "published documents in the list"},
    "charts": {"es": "Gráficos", "en": "Charts"},
    "chart_language": {"es": "Idioma de los gráficos", "en": "Charts' language"},
    "chart_language_value": {"es": "{languages}, como se dibujaron (dibújelos de nuevo con language={target} "
                                   "para cambiarlo)",
                             "en": "{languages}, as they were drawn (render them again with language={target} "
                                   "to change it)"},
    "footnotes": {"es": "Notas", "en": "Notes"},
    "description": {"es": "Descripción", "en": "Description"},
    "ai_note": {"es": "Texto generado por IA ({model}, {date}); revíselo antes de citarlo.",
                "en": "AI-generated text ({model}, {date}); review it before quoting it."},
    "render_line": {"es": "Render {hash} del {date} · charts/{key}", "en": "Render {hash} of {date} · charts/{key}"},
    "stale": {"es": "El último intento de dibujar este gráfico falló ({reason}); se muestra el render anterior.",
              "en": "The latest attempt to draw this chart failed ({reason}); the earlier render is shown."},
    "static": {"es": "Imagen estática: este render no guardó su versión interactiva (HTML).",
               "en": "Static image: this render kept no interactive (HTML) version."},
    "missing": {"es": "Gráficos faltantes", "en": "Missing charts"},
    "missing_intro": {"es": "Estos gráficos no están en el informe, y por qué:",
                      "en": "These charts are not in the report, and why:"},
    "not_rendered": {"es": "aún no se ha dibujado", "en": "not rendered yet"},
    "about": {"es": "Acerca de este informe", "en": "About this report"},
    "about_text": {
        "es": "Cada gráfico es el último render guardado de su activo charts/&lt;gráfico&gt; para este conjunto de "
              "datos; sus datos exactos están en report-data.xlsx y, por gráfico, en chart_data.json.",
        "en": "Each chart is the latest stored render of its charts/&lt;chart&gt; asset for this dataset; its exact "
              "numbers are in report-data.xlsx and, per chart, in chart_data.json."},
    "page_footer": {"es": "Página", "en": "Page"},
    "page_of": {"es": "de", "en": "of"},
    "summary_sheet": {"es": "Resumen", "en": "Summary"},
    "facet": {"es": "faceta", "en": "facet"},
    "kind_espacenet_excel": {"es": "Espacenet, libro Filters (conteos agregados)",
                             "en": "Espacenet Filters workbook (aggregated counts)"},
    "kind_espacenet_results_list": {"es": "Espacenet, lista de resultados (un registro por publicación)",
                                    "en": "Espacenet results list (one record per publication)"},
    "kind_lens_query": {"es": "Consulta a la API de patentes de Lens.org", "en": "Lens.org Patent API query"},
    "counting_filters": {
        "es": "Conteos tal como los exporta Espacenet: las hojas marcadas «(family)» cuentan cada familia de "
              "patentes una vez por valor; las demás, como las cuenta Espacenet.",
        "en": "Counts as Espacenet exports them: sheets marked '(family)' count each patent family once per "
              "value; the others as Espacenet counts them."},
    "counting_records": {
        "es": "Por familia: una familia cuenta una vez por país, solicitante, inventor, símbolo CPC/IPC e idioma "
              "que tiene, y una vez en el año de su primera publicación.",
        "en": "By family: a family counts once per country, applicant, inventor, CPC/IPC symbol and language it "
              "has, and once in the year of its earliest publication."},
}

# headings of the charts known here; a chart added later is headed by its spec's description
CHART_TITLES: dict[str, dict[str, str]] = {
    "top_patent_countries": {"es": "Principales jurisdicciones de publicación", "en": "Top publication jurisdictions"},
    "top_patent_applicants": {"es": "Principales solicitantes", "en": "Top applicants"},
    "top_patent_inventors": {"es": "Principales inventores", "en": "Top inventors"},
    "patent_evolution": {"es": "Evolución de publicaciones de patentes", "en": "Patent publications per year"},
    "patent_cumulative": {"es": "Publicaciones de patentes acumuladas", "en": "Cumulative patent publications"},
    "patent_trends_cumulative": {"es": "Tendencia anual y acumulada", "en": "Annual and cumulative trend"},
    "patent_forecast": {"es": "Pronóstico de publicaciones", "en": "Publication forecast"},
    "cpc_treemap": {"es": "Principales subgrupos CPC", "en": "Top CPC subgroups"},
    "jurisdiction_map": {"es": "Jurisdicciones de presentación", "en": "Filing jurisdictions"},
    "applicant_year_heatmap": {"es": "Principales solicitantes por año de primera presentación",
                               "en": "Top applicants by first filing year"},
    "technology_jurisdiction_matrix": {"es": "Subclases CPC por jurisdicción", "en": "CPC subclasses by jurisdiction"},
    "priority_flows": {"es": "Del país de prioridad a la jurisdicción de presentación",
                       "en": "From priority country to filing jurisdiction"},
    "family_size_distribution": {"es": "Distribución del tamaño de las familias", "en": "Family size distribution"},
    "legal_status_by_year": {"es": "Estado legal por año de publicación", "en": "Legal status by publication year"},
    "most_cited_families": {"es": "Las familias más citadas", "en": "The most cited families"},
}


UNITS = {  # (one, many)
    "families": {"es": ("familia", "familias"), "en": ("family", "families")},
    "publications": {"es": ("publicación", "publicaciones"), "en": ("publication", "publications")},
    "years": {"es": ("año", "años"), "en": ("year", "years")},
}


def counted(n: int, unit: str, language: str) -> str:
    """'1 family', '1,234 families', '1 año'."""
    one, many = UNITS[unit][language]
    return f"{number(n, language)} {one if n == 1 else many}"


def t(name: str, language: str, /, **fmt: object) -> str:
    text = TEXT[name][language]
    return text.format(**fmt) if fmt else text


def chart_title(key: str, language: str, fallback: str) -> str:
    return CHART_TITLES.get(key, {}).get(language) or fallback


def number(value: int | float, language: str, decimals: int = 0) -> str:
    """1,234.5 in English, 1.234,5 in Spanish."""
    text = f"{value:,.{decimals}f}"
    return text.translate(str.maketrans(",.", ".,")) if language == "es" else text


def percent(value: float, language: str, decimals: int = 1) -> str:
    return f"{number(value, language, decimals)}%"


def date_text(moment: dt.datetime | dt.date, language: str) -> str:
    """2026-11-30 (ISO in both languages: unambiguous for any reader)."""
    return moment.strftime("%Y-%m-%d %H:%M UTC") if isinstance(moment, dt.datetime) else moment.isoformat()
