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
    # --- record-level charts (results lists, Lens.org) and the map -----------------------------
    "families_count": {"es": "Número de familias", "en": "Number of families"},
    "first_filing_year": {"es": "Año de primera presentación", "en": "First filing year"},
    "cpc_subclass": {"es": "Subclase CPC", "en": "CPC subclass"},
    "family_size_axis": {"es": "Tamaño de la familia (miembros)", "en": "Family size (members)"},
    "publication_year_axis": {"es": "Año de publicación", "en": "Publication year"},
    "title_applicant_year": {"es": "Top {n} solicitantes por año de primera presentación",
                             "en": "Top {n} applicants by first filing year"},
    "title_tech_jurisdiction": {"es": "Top {n} subclases CPC por jurisdicción",
                                "en": "Top {n} CPC subclasses by jurisdiction"},
    "title_priority_flows": {"es": "Del país de prioridad a la jurisdicción de presentación",
                             "en": "From priority country to filing jurisdiction"},
    "title_family_size": {"es": "Distribución del tamaño de las familias", "en": "Family size distribution"},
    "title_legal_status": {"es": "Estado legal por año de publicación", "en": "Legal status by publication year"},
    "title_most_cited": {"es": "Las {n} familias más citadas", "en": "The {n} most cited families"},
    "title_map": {"es": "Jurisdicciones de presentación", "en": "Filing jurisdictions"},
    "note_applicant_year": {
        "es": "* Cada celda cuenta las familias de un solicitante cuya primera presentación (la prioridad más "
        "antigua) fue ese año; una familia con varios solicitantes cuenta una vez para cada uno.",
        "en": "* Each cell counts the families of an applicant first filed (earliest priority) in that year; a "
        "family with several applicants counts once for each.",
    },
    "note_year_fallback": {
        "es": "** {n} familias sin fecha de prioridad se ubican en el año de su primera publicación.",
        "en": "** {n} families without a priority date are placed in the year of their first publication.",
    },
    "note_year_fallback_one": {
        "es": "** 1 familia sin fecha de prioridad se ubica en el año de su primera publicación.",
        "en": "** 1 family without a priority date is placed in the year of its first publication.",
    },
    "note_tech_jurisdiction": {
        "es": "* Cada celda cuenta las familias con algún símbolo CPC de la subclase y una publicación en la "
        "jurisdicción: una familia cuenta una vez por subclase y por jurisdicción.",
        "en": "* Each cell counts the families with a CPC symbol in the subclass and a publication in the "
        "jurisdiction: a family counts once per subclass and per jurisdiction.",
    },
    "note_flows": {
        "es": "* Cada flujo cuenta las familias con una prioridad en el país de la izquierda y una publicación en "
        "la jurisdicción de la derecha; una familia con varias cuenta en cada par. Junto a cada código, su "
        "número de familias.",
        "en": "* Each flow counts the families with a priority in the country on the left and a publication in "
        "the jurisdiction on the right; a family with several counts in each pair. Beside each code, its "
        "number of families.",
    },
    "note_flows_missing": {
        "es": "** No se muestran {n} familias sin país de prioridad en la fuente.",
        "en": "** {n} families whose source names no priority country are not shown.",
    },
    "note_family_size": {
        "es": "* Cada familia cuenta una vez. Tamaño: los miembros de su familia simple según la fuente, o, si "
        "la fuente no lo dice, sus publicaciones en este conjunto de datos.",
        "en": "* Each family counts once. Size: the members of its simple family as the source reports them, "
        "or, where the source does not say, its publications in this dataset.",
    },
    "note_legal_status": {
        "es": "* Cada publicación cuenta una vez, en su año de publicación y con su propio estado legal (los "
        "miembros de una familia pueden diferir).",
        "en": "* Each publication counts once, in its publication year and under its own legal status (members "
        "of one family can differ).",
    },
    "note_legal_groups": {
        "es": "** Vigente: concedida o en vigor; en trámite: solicitud pendiente; inactiva: caducada, expirada, "
        "retirada o denegada; desconocido: la fuente no lo indica.",
        "en": "** Active: granted or in force; pending: application not yet decided; inactive: lapsed, "
        "expired, withdrawn or refused; unknown: the source does not say.",
    },
    "note_most_cited": {
        "es": "* Cada familia aparece una vez, con el recuento «citada por» de su miembro más citado; no se "
        "suman los de sus miembros, porque una patente que cita suele citar a varios.",
        "en": "* Each family appears once, with the cited-by count of its most cited member; members' counts "
        "are not added up, since one citing patent often cites several of them.",
    },
    "note_map_families": {
        "es": "* Cada familia cuenta una vez en cada jurisdicción donde tiene una publicación.",
        "en": "* Each family counts once in each jurisdiction where it has a publication.",
    },
    "note_map_publications": {
        "es": "* Cada publicación cuenta una vez, en su jurisdicción.",
        "en": "* Each publication counts once, in its jurisdiction.",
    },
    "note_map_aside": {
        "es": "** Las oficinas regionales e internacionales (EP, WO...) no son un país: se listan junto al mapa.",
        "en": "** Regional and international offices (EP, WO...) are not one country: they are listed beside "
        "the map.",
    },
    "note_map_small": {
        "es": "*** Un punto marca las jurisdicciones demasiado pequeñas para el mapa ({codes}).",
        "en": "*** A dot marks the jurisdictions too small for the map ({codes}).",
    },
    "rank_note_families": {
        "es": "* {country} ocupa el puesto {rank} con {count} familias.",
        "en": "* {country} ranks {rank} with {count} families.",
    },
    "map_aside_title": {"es": "Oficinas regionales e<br>internacionales", "en": "Regional and<br>international offices"},
    "no_citations": {
        "es": "Esta fuente no tiene datos de citas: los recuentos «citada por» vienen de Lens.org (o de la columna "
        "«Cited by» de una lista de resultados), y ninguna de sus {n} publicaciones tiene uno.",
        "en": "This source has no citation data: cited-by counts come from Lens.org (or a results list's "
        "'Cited by' column), and none of its {n} publications has one.",
    },
    "no_priority": {
        "es": "Esta fuente no indica países de prioridad: ninguna de sus {n} familias tiene uno (una lista de "
        "resultados los trae si incluye la columna «Priority numbers»).",
        "en": "This source names no priority countries: none of its {n} families has one (a results list has "
        "them when it includes the 'Priority numbers' column).",
    },
    "status_active": {"es": "Vigente", "en": "Active"},
    "status_pending": {"es": "En trámite", "en": "Pending"},
    "status_inactive": {"es": "Inactiva", "en": "Inactive"},
    "status_unknown": {"es": "Desconocido", "en": "Unknown"},
    "col_rank": {"es": "#", "en": "#"},
    "col_family": {"es": "Publicación más citada", "en": "Most cited member"},
    "col_title": {"es": "Título", "en": "Title"},
    "col_applicants": {"es": "Solicitantes", "en": "Applicants"},
    "col_first_filing": {"es": "1.ª presentación", "en": "First filed"},
    "col_publications": {"es": "Publicaciones", "en": "Publications"},
    "col_cited_by": {"es": "Citada por", "en": "Cited by"},
    "flows_left": {"es": "País de prioridad", "en": "Priority country"},
    "flows_right": {"es": "Jurisdicción de presentación", "en": "Filing jurisdiction"},
}


def label(key: str, language: str, **fmt: object) -> str:
    text = LABELS[key][language]
    return text.format(**fmt) if fmt else text
