"""Every user-visible chart string, in Spanish (the old backend's wording) and English."""

from __future__ import annotations

LABELS: dict[str, dict[str, str]] = {
    "publications": {"es": "Número de Patentes Publicadas", "en": "Number of Published Patents"},
    "jurisdiction": {"es": "Jurisdicción", "en": "Jurisdiction"},
    "applicants": {"es": "Solicitantes", "en": "Applicants"},
    "inventors": {"es": "Inventores", "en": "Inventors"},
    "year": {"es": "Año", "en": "Year"},
    "cumulative": {"es": "Publicaciones de Patentes Acumulativas", "en": "Cumulative Patent Publications"},
    "cumulative_short": {"es": "Publicaciones Acumulativas", "en": "Cumulative Publications"},
    "annual": {"es": "Publicaciones anuales", "en": "Annual publications"},
    "families": {"es": "Número de Familias de Patentes Publicadas", "en": "Number of Published Patent Families"},
    "history": {"es": "Histórico", "en": "Historical"},
    "cagr_line": {"es": "Línea Proyectada CAGR", "en": "Projected CAGR line"},
    "forecast_ets": {"es": "Pronóstico ETS", "en": "ETS forecast"},
    "forecast_arima": {"es": "Pronóstico ARIMA", "en": "ARIMA forecast"},
    "forecast_zone": {"es": "Pronóstico", "en": "Forecast"},
    "others": {"es": "Otros", "en": "Others"},
    "publications_count": {"es": "Número de Publicaciones", "en": "Number of Publications"},
    "rank_note": {
        "es": "* {country} ocupa el puesto {rank} con {count} publicaciones.",
        "en": "* {country} ranks {rank} with {count} publications.",
    },
    "wo_note": {
        "es": "WO: publicación internacional PCT, administrada por la OMPI.",
        "en": "WO: international PCT publication, administered by WIPO.",
    },
    "ep_note": {
        "es": "EP: publicación de la Oficina Europea de Patentes, con protección en los estados miembros.",
        "en": "EP: European Patent Office publication, covering protection in member states.",
    },
    "applicants_note_1": {
        "es": "* Los solicitantes tienen el derecho legal de reclamar la protección de una invención.",
        "en": "* Applicants hold the legal right to claim protection for an invention.",
    },
    "applicants_note_2": {
        "es": "** Un solicitante puede ser persona física o jurídica que busca proteger una invención.",
        "en": "** An applicant may be a natural or legal person seeking to protect an invention.",
    },
    "inventors_note_1": {
        "es": "* Los inventores son las personas físicas que realizaron la creación de la invención.",
        "en": "* Inventors are the natural persons who created the invention.",
    },
    "inventors_note_2": {
        "es": "** Un inventor contribuye de manera original y directa a la concepción de la invención.",
        "en": "** An inventor contributes originally and directly to the conception of the invention.",
    },
    "recent_years_note": {
        "es": "* Se muestran las publicaciones hasta hace 2 años, porque los documentos de patente "
        "suelen demorar hasta 18 meses en su publicación.",
        "en": "* Publications are shown up to two years ago, because patent documents are usually "
        "published up to 18 months after filing.",
    },
    "cagr_note": {
        "es": "* El crecimiento anual compuesto (CAGR) indica la tasa de crecimiento promedio de un "
        "valor entre dos puntos en el tiempo.",
        "en": "* The compound annual growth rate (CAGR) is the average growth rate of a value "
        "between two points in time.",
    },
    "arima_note": {
        "es": "** El modelo ARIMA proyecta series temporales considerando patrones históricos de "
        "autocorrelación y tendencias.",
        "en": "** The ARIMA model projects time series from historical autocorrelation and trend.",
    },
    "ets_note": {
        "es": "*** El modelo ETS utiliza descomposición exponencial para prever tendencias y nivel "
        "de una serie temporal.",
        "en": "*** The ETS model uses exponential smoothing to forecast a series' level and trend.",
    },
    "cagr_value_note": {
        "es": "**** CAGR de {rate}% para el periodo {start}-{end}.",
        "en": "**** CAGR of {rate}% over {start}-{end}.",
    },
    "cpc_note": {
        "es": "* Un subgrupo CPC es una clasificación dentro del Sistema de Clasificación Cooperativa "
        "de Patentes, utilizado para categorizar invenciones según su tecnología y campo de aplicación.",
        "en": "* A CPC subgroup is a class of the Cooperative Patent Classification, used to "
        "categorise inventions by technology and field of application.",
    },
    "truncated_note": {
        "es": "Nota: Espacenet recortó esta lista a {rows} filas.",
        "en": "Note: Espacenet cut this list at {rows} rows.",
    },
    # years the 20-year window leaves out: "Shown: 2005-2024. Not shown: 12 publications
    # before 2005 and 31 after 2024 (the cutoff year)."
    "window_note": {
        "es": "Se muestran {start}-{end}. No se muestran: {parts}.",
        "en": "Shown: {start}-{end}. Not shown: {parts}.",
    },
    "window_before": {"es": "{count} anteriores a {year}", "en": "{count} before {year}"},
    "window_before_one": {"es": "{count} anterior a {year}", "en": "{count} before {year}"},
    "window_after": {"es": "{count} posteriores a {year} (el año de corte)", "en": "{count} after {year} (the cutoff year)"},
    "window_after_one": {"es": "{count} posterior a {year} (el año de corte)", "en": "{count} after {year} (the cutoff year)"},
    "window_and": {"es": " y ", "en": " and "},
    "n_publications": {"es": "{n} publicaciones", "en": "{n} publications"},
    "one_publication": {"es": "{n} publicación", "en": "{n} publication"},
    "title_top_countries": {"es": "Top {n} jurisdicciones de publicación", "en": "Top {n} publication jurisdictions"},
    "title_top_applicants": {"es": "Top {n} solicitantes", "en": "Top {n} applicants"},
    "title_top_inventors": {"es": "Top {n} inventores", "en": "Top {n} inventors"},
    "title_evolution": {"es": "Evolución de publicaciones de patentes", "en": "Patent publications per year"},
    "title_cumulative": {"es": "Publicaciones de patentes acumuladas", "en": "Cumulative patent publications"},
    "title_trends": {"es": "Tendencia anual y acumulada", "en": "Annual and cumulative trend"},
    "title_forecast": {"es": "Pronóstico de publicaciones", "en": "Publication forecast"},
    "title_treemap": {"es": "Top {n} subgrupos CPC", "en": "Top {n} CPC subgroups"},
}


def label(key: str, language: str, **fmt: object) -> str:
    text = LABELS[key][language]
    return text.format(**fmt) if fmt else text
