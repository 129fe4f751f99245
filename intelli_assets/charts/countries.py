"""Country codes for the map: ISO 3166-1 alpha-2 -> (alpha-3, English name), as plotly.js's own
country lookup (the `country-iso-search` package of plotly.js 4.1.1) has them, and where to
put a dot for the countries too small for the 1:110m world outlines. Patent offices that are
no country (EP, WO, EA...) are listed in `OFFICES`. Generated once from plotly.js; no Dagster.
"""

from __future__ import annotations

COUNTRY_TABLE = (  # "AA AAA Name|" entries
    "AD AND Andorra|AE ARE United Arab Emirates|AF AFG Afghanistan|AG ATG Antigua and Barbuda|AI AIA Anguilla|"
    "AL ALB Albania|AM ARM Armenia|AO AGO Angola|AQ ATA Antarctica|AR ARG Argentina|AS ASM American Samoa|"
    "AT AUT Austria|AU AUS Australia|AW ABW Aruba|AX ALA Åland Islands|AZ AZE Azerbaijan|"
    "BA BIH Bosnia and Herzegovina|BB BRB Barbados|BD BGD Bangladesh|BE BEL Belgium|BF BFA Burkina Faso|"
    "BG BGR Bulgaria|BH BHR Bahrain|BI BDI Burundi|BJ BEN Benin|BL BLM Saint Barthélemy|BM BMU Bermuda|"
    "BN BRN Brunei Darussalam|BO BOL Bolivia (Plurinational State of)|BQ BES Bonaire, Sint Eustatius and Saba|"
    "BR BRA Brazil|BS BHS Bahamas|BT BTN Bhutan|BV BVT Bouvet Island|BW BWA Botswana|BY BLR Belarus|BZ BLZ Belize|"
    "CA CAN Canada|CC CCK Cocos (Keeling) Islands|CD COD Democratic Republic of the Congo|"
    "CF CAF Central African Republic|CG COG Congo|CH CHE Switzerland|CI CIV Côte d'Ivoire|CK COK Cook Islands|"
    "CL CHL Chile|CM CMR Cameroon|CN CHN China|CO COL Colombia|CR CRI Costa Rica|CU CUB Cuba|CV CPV Cabo Verde|"
    "CW CUW Curaçao|CX CXR Christmas Island|CY CYP Cyprus|CZ CZE Czechia|DE DEU Germany|DJ DJI Djibouti|"
    "DK DNK Denmark|DM DMA Dominica|DO DOM Dominican Republic|DZ DZA Algeria|EC ECU Ecuador|EE EST Estonia|"
    "EG EGY Egypt|EH ESH Western Sahara|ER ERI Eritrea|ES ESP Spain|ET ETH Ethiopia|FI FIN Finland|FJ FJI Fiji|"
    "FK FLK Falkland Islands (Malvinas)|FM FSM Micronesia (Federated States of)|FO FRO Faroe Islands|"
    "FR FRA France|GA GAB Gabon|GB GBR United Kingdom of Great Britain and Northern Ireland|GD GRD Grenada|"
    "GE GEO Georgia|GF GUF French Guiana|GG GGY Guernsey|GH GHA Ghana|GI GIB Gibraltar|GL GRL Greenland|"
    "GM GMB Gambia|GN GIN Guinea|GP GLP Guadeloupe|GQ GNQ Equatorial Guinea|GR GRC Greece|"
    "GS SGS South Georgia and the South Sandwich Islands|GT GTM Guatemala|GU GUM Guam|GW GNB Guinea-Bissau|"
    "GY GUY Guyana|HK HKG Hong Kong|HM HMD Heard Island and McDonald Islands|HN HND Honduras|HR HRV Croatia|"
    "HT HTI Haiti|HU HUN Hungary|ID IDN Indonesia|IE IRL Ireland|IL ISR Israel|IM IMN Isle of Man|IN IND India|"
    "IO IOT British Indian Ocean Territory|IQ IRQ Iraq|IR IRN Iran (Islamic Republic of)|IS ISL Iceland|"
    "IT ITA Italy|JE JEY Jersey|JM JAM Jamaica|JO JOR Jordan|JP JPN Japan|KE KEN Kenya|KG KGZ Kyrgyzstan|"
    "KH KHM Cambodia|KI KIR Kiribati|KM COM Comoros|KN KNA Saint Kitts and Nevis|"
    "KP PRK Democratic People's Republic of Korea|KR KOR Republic of Korea|KW KWT Kuwait|KY CYM Cayman Islands|"
    "KZ KAZ Kazakhstan|LA LAO Lao People's Democratic Republic|LB LBN Lebanon|LC LCA Saint Lucia|"
    "LI LIE Liechtenstein|LK LKA Sri Lanka|LR LBR Liberia|LS LSO Lesotho|LT LTU Lithuania|LU LUX Luxembourg|"
    "LV LVA Latvia|LY LBY Libya|MA MAR Morocco|MC MCO Monaco|MD MDA Republic of Moldova|ME MNE Montenegro|"
    "MF MAF Saint Martin (French Part)|MG MDG Madagascar|MH MHL Marshall Islands|MK MKD North Macedonia|"
    "ML MLI Mali|MM MMR Myanmar|MN MNG Mongolia|MO MAC Macao|MP MNP Northern Mariana Islands|MQ MTQ Martinique|"
    "MR MRT Mauritania|MS MSR Montserrat|MT MLT Malta|MU MUS Mauritius|MV MDV Maldives|MW MWI Malawi|"
    "MX MEX Mexico|MY MYS Malaysia|MZ MOZ Mozambique|NA NAM Namibia|NC NCL New Caledonia|NE NER Niger|"
    "NF NFK Norfolk Island|NG NGA Nigeria|NI NIC Nicaragua|NL NLD Kingdom of the Netherlands|NO NOR Norway|"
    "NP NPL Nepal|NR NRU Naoero|NU NIU Niue|NZ NZL New Zealand|OM OMN Oman|PA PAN Panama|PE PER Peru|"
    "PF PYF French Polynesia|PG PNG Papua New Guinea|PH PHL Philippines|PK PAK Pakistan|PL POL Poland|"
    "PM SPM Saint Pierre and Miquelon|PN PCN Pitcairn|PR PRI Puerto Rico|PS PSE State of Palestine|"
    "PT PRT Portugal|PW PLW Palau|PY PRY Paraguay|QA QAT Qatar|RE REU Réunion|RO ROU Romania|RS SRB Serbia|"
    "RU RUS Russian Federation|RW RWA Rwanda|SA SAU Saudi Arabia|SB SLB Solomon Islands|SC SYC Seychelles|"
    "SD SDN Sudan|SE SWE Sweden|SG SGP Singapore|SH SHN Saint Helena|SI SVN Slovenia|"
    "SJ SJM Svalbard and Jan Mayen Islands|SK SVK Slovakia|SL SLE Sierra Leone|SM SMR San Marino|SN SEN Senegal|"
    "SO SOM Somalia|SR SUR Suriname|SS SSD South Sudan|ST STP Sao Tome and Principe|SV SLV El Salvador|"
    "SX SXM Sint Maarten (Dutch part)|SY SYR Syrian Arab Republic|SZ SWZ Eswatini|TC TCA Turks and Caicos Islands|"
    "TD TCD Chad|TF ATF French Southern Territories|TG TGO Togo|TH THA Thailand|TJ TJK Tajikistan|TK TKL Tokelau|"
    "TL TLS Timor-Leste|TM TKM Turkmenistan|TN TUN Tunisia|TO TON Tonga|TR TUR Türkiye|TT TTO Trinidad and Tobago|"
    "TV TUV Tuvalu|TW TWN Taiwan|TZ TZA United Republic of Tanzania|UA UKR Ukraine|UG UGA Uganda|"
    "UM UMI United States Minor Outlying Islands|US USA United States of America|UY URY Uruguay|UZ UZB Uzbekistan|"
    "VA VAT Holy See|VC VCT Saint Vincent and the Grenadines|VE VEN Venezuela (Bolivarian Republic of)|"
    "VG VGB British Virgin Islands|VI VIR United States Virgin Islands|VN VNM Viet Nam|VU VUT Vanuatu|"
    "WF WLF Wallis and Futuna Islands|WS WSM Samoa|YE YEM Yemen|YT MYT Mayotte|ZA ZAF South Africa|ZM ZMB Zambia|"
    "ZW ZWE Zimbabwe|"
)

# centre (longitude, latitude) of the countries the 1:110m outlines leave out (from the 1:50m ones)
SMALL_COUNTRY_CENTRES: dict[str, tuple[float, float]] = {
    "AD": (1.57, 42.54), "AG": (-61.8, 17.08), "AI": (-63.06, 18.21), "AS": (-170.72, -14.3),
    "AW": (-69.97, 12.51), "BB": (-59.55, 13.17), "BH": (50.55, 26.04), "BL": (-62.83, 17.9),
    "BM": (-64.79, 32.29), "BQ": (-63.23, 17.64), "BV": (3.41, -54.43), "CC": (96.83, -12.18),
    "CK": (-159.77, -21.23), "CW": (-68.97, 12.2), "CX": (105.64, -10.48), "FM": (158.23, 6.88),
    "FO": (-7, 62.13), "GD": (-61.69, 12.11), "GG": (-2.58, 49.46), "GI": (-5.35, 36.14), "HK": (114.12, 22.42),
    "HM": (73.53, -53.1), "IM": (-4.53, 54.23), "JE": (-2.13, 49.21), "KI": (-157.63, 1.84),
    "KN": (-62.76, 17.34), "KY": (-81.27, 19.32), "LC": (-60.97, 13.89), "LI": (9.55, 47.14),
    "MC": (7.42, 43.74), "MF": (-63.06, 18.08), "MH": (171.1, 7.12), "MO": (113.56, 22.14),
    "MP": (145.76, 15.19), "MS": (-62.19, 16.74), "MT": (14.44, 35.89), "MV": (73.54, 4.21),
    "NF": (167.95, -29.03), "NR": (166.92, -0.53), "NU": (-169.86, -19.05), "PM": (-56.33, 46.94),
    "PN": (-128.32, -24.38), "PW": (134.57, 7.51), "SC": (55.47, -4.69), "SG": (103.78, 1.38),
    "SH": (-5.7, -15.96), "SX": (-63.07, 18.04), "TC": (-72.25, 21.8), "TK": (-171.82, -9.17),
    "TO": (-175.2, -21.17), "TV": (179.18, -8.5), "VC": (-61.19, 13.25), "VG": (-64.63, 18.42),
    "VI": (-64.77, 17.73), "YT": (45.13, -12.83),
    "IO": (72.42, -7.33), "SM": (12.46, 43.94), "VA": (12.45, 41.9), "WF": (-176.2, -13.29),
}

# patent offices that are no single country: listed beside the map, never painted on one
# code -> (short name, kind, English name, Spanish name)
OFFICES: dict[str, tuple[str, str, str, str]] = {
    "EP": ("EPO", "regional", "European Patent Office", "Oficina Europea de Patentes"),
    "WO": ("PCT", "international", "WIPO, international (PCT) application", "OMPI, solicitud internacional (PCT)"),
    "IB": ("WIPO", "international", "WIPO International Bureau", "Oficina Internacional de la OMPI"),
    "EA": ("EAPO", "regional", "Eurasian Patent Organization", "Organización Eurasiática de Patentes"),
    "AP": ("ARIPO", "regional", "African Regional Intellectual Property Organization",
           "Organización Regional Africana de la Propiedad Intelectual"),
    "OA": ("OAPI", "regional", "African Intellectual Property Organization",
           "Organización Africana de la Propiedad Intelectual"),
    "GC": ("GCCPO", "regional", "Patent Office of the Gulf Cooperation Council",
           "Oficina de Patentes del Consejo de Cooperación del Golfo"),
    "XN": ("NPI", "regional", "Nordic Patent Institute", "Instituto Nórdico de Patentes"),
    "XV": ("VPI", "regional", "Visegrad Patent Institute", "Instituto de Patentes de Visegrado"),
    "EM": ("EUIPO", "regional", "European Union Intellectual Property Office",
           "Oficina de Propiedad Intelectual de la Unión Europea"),
    "SU": ("USSR", "former", "Soviet Union (former office)", "Unión Soviética (oficina desaparecida)"),
    "DD": ("GDR", "former", "German Democratic Republic (former office)", "República Democrática Alemana (oficina desaparecida)"),
    "CS": ("ČSSR", "former", "Czechoslovakia (former office)", "Checoslovaquia (oficina desaparecida)"),
    "YU": ("YU", "former", "Yugoslavia (former office)", "Yugoslavia (oficina desaparecida)"),
}
# codes patent data uses for a country under another name than ISO's
ALIASES = {"UK": "GB", "EL": "GR"}


def _parse(table: tuple[str, ...]) -> dict[str, tuple[str, str]]:
    entries = "".join(table).strip("|").split("|")
    return {entry[:2]: (entry[3:6], entry[7:]) for entry in entries}


COUNTRIES: dict[str, tuple[str, str]] = _parse(COUNTRY_TABLE)  # alpha-2 -> (alpha-3, English name)
