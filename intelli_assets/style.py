"""Shared chart styling: the old backend's six palettes and three font presets, plus language.

Every chart takes one `Style`; nothing chart-specific lives here. No Dagster imports.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import Enum

from intelli_assets.errors import ChartParamError


@dataclass(frozen=True)
class Palette:
    primary: str
    secondary: str
    accent: str
    background: str
    text: str
    grid: str
    colors: tuple[str, ...]


PALETTES: dict[str, Palette] = {
    "professional": Palette("#2563eb", "#64748b", "#0891b2", "#ffffff", "#1e293b", "#e2e8f0",
                            ("#2563eb", "#3b82f6", "#60a5fa", "#93c5fd", "#64748b", "#94a3b8",
                             "#cbd5e1", "#0891b2", "#22d3ee")),
    "vibrant": Palette("#8b5cf6", "#ec4899", "#f59e0b", "#ffffff", "#1f2937", "#e5e7eb",
                       ("#8b5cf6", "#a78bfa", "#c4b5fd", "#ec4899", "#f472b6", "#f9a8d4", "#f59e0b",
                        "#fbbf24", "#fcd34d", "#10b981", "#34d399")),
    "earth": Palette("#b45309", "#65a30d", "#0d9488", "#fefce8", "#422006", "#fef3c7",
                     ("#b45309", "#d97706", "#f59e0b", "#65a30d", "#84cc16", "#a3e635", "#0d9488",
                      "#14b8a6", "#2dd4bf", "#78716c", "#a8a29e")),
    "ocean": Palette("#0284c7", "#0891b2", "#7c3aed", "#f0f9ff", "#0c4a6e", "#e0f2fe",
                     ("#0284c7", "#0ea5e9", "#38bdf8", "#0891b2", "#06b6d4", "#22d3ee", "#0d9488",
                      "#14b8a6", "#7c3aed", "#8b5cf6")),
    "sunset": Palette("#ea580c", "#dc2626", "#ca8a04", "#fffbeb", "#7c2d12", "#fef3c7",
                      ("#ea580c", "#f97316", "#fb923c", "#dc2626", "#ef4444", "#f87171", "#ca8a04",
                       "#eab308", "#facc15", "#be185d", "#ec4899")),
    "monochrome": Palette("#374151", "#6b7280", "#2563eb", "#ffffff", "#111827", "#f3f4f6",
                          ("#111827", "#1f2937", "#374151", "#4b5563", "#6b7280", "#9ca3af",
                           "#d1d5db", "#e5e7eb", "#2563eb")),
}


@dataclass(frozen=True)
class FontPreset:
    title: int
    axis_label: int
    tick: int
    legend: int
    annotation: int


FONT_PRESETS: dict[str, FontPreset] = {
    "small": FontPreset(12, 10, 8, 8, 8),
    "medium": FontPreset(16, 14, 10, 10, 10),
    "large": FontPreset(20, 16, 12, 12, 12),
}
LANGUAGES = ("es", "en")
OUTPUT_FORMATS = ("png", "svg", "html")
FONT_FAMILY = "Arial, 'Liberation Sans', 'DejaVu Sans', sans-serif"

# The closed choices as enums, derived from the catalogues above: config schemas (Launchpad,
# GraphQL, CLI) offer and accept exactly these values.
PaletteName = Enum("PaletteName", {name: name for name in PALETTES}, type=str)
FontSize = Enum("FontSize", {name: name for name in FONT_PRESETS}, type=str)
Language = Enum("Language", {name: name for name in LANGUAGES}, type=str)
OutputFormat = Enum("OutputFormat", {name: name for name in OUTPUT_FORMATS}, type=str)
STYLE_CHOICES: dict[str, type[Enum]] = {"palette": PaletteName, "font_size": FontSize, "language": Language}


def _option(default: object, help_text: str) -> object:
    return field(default=default, metadata={"help": help_text})


@dataclass(frozen=True)
class Style:
    """How a chart looks; the same options for every chart. The run config's style section is
    derived from these fields (type, default, help)."""

    palette: str = _option("professional", ", ".join(PALETTES))
    font_size: str = _option("medium", ", ".join(FONT_PRESETS))
    language: str = _option("es", "es or en, for every label and footnote")
    highlight_country: str = _option("EC", "two-letter code drawn in the accent colour; empty: none")
    title: str | None = _option(None, "chart titles: none by default, 'auto' for the built-in ones, or a text")
    show_footnotes: bool = _option(True, "draw the explanatory footnotes under the charts")
    width: int = _option(1200, "image width in pixels (300-4000)")
    height: int | None = _option(None, "image height in pixels (300-4000); default depends on the chart")
    scale: float = _option(1.0, "PNG pixel density, 0.5-4 (2 for print)")

    def __post_init__(self) -> None:
        if self.palette not in PALETTES:
            raise ChartParamError(f"palette {self.palette!r} is not one of {', '.join(PALETTES)}")
        if self.font_size not in FONT_PRESETS:
            raise ChartParamError(f"font_size {self.font_size!r} is not one of {', '.join(FONT_PRESETS)}")
        if self.language not in LANGUAGES:
            raise ChartParamError(f"language {self.language!r} is not one of {', '.join(LANGUAGES)}")
        if not (isinstance(self.highlight_country, str) and len(self.highlight_country.strip()) in (0, 2)):
            raise ChartParamError(
                f"highlight_country {self.highlight_country!r} must be a two-letter code (or empty for none)"
            )
        for name in ("width", "height"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 300 <= value <= 4000):
                raise ChartParamError(f"{name} {value!r} must be a whole number of pixels from 300 to 4000")
        if not 0.5 <= float(self.scale) <= 4:
            raise ChartParamError(f"scale {self.scale!r} must be between 0.5 and 4")

    @property
    def colors(self) -> Palette:
        return PALETTES[self.palette]

    @property
    def fonts(self) -> FontPreset:
        return FONT_PRESETS[self.font_size]

    @property
    def highlight(self) -> str:
        return self.highlight_country.strip().upper()

    def to_dict(self) -> dict:
        return asdict(self)


def gradient(values: list[float], start: str, end: str) -> list[str]:
    """Colour per value, linearly from `start` (smallest) to `end` (largest)."""
    lo, hi = (min(values), max(values)) if values else (0, 0)
    a, b = _rgb(start), _rgb(end)
    out = []
    for v in values:
        t = 0.5 if hi == lo else (v - lo) / (hi - lo)
        out.append("#" + "".join(f"{round(x + (y - x) * t):02x}" for x, y in zip(a, b)))
    return out


def _rgb(color: str) -> tuple[int, int, int]:
    return tuple(int(color[i : i + 2], 16) for i in (1, 3, 5))


def most_distinct(candidates: tuple[str, ...], taken: tuple[str, ...]) -> str:
    """The candidate colour farthest (in RGB) from every colour already on the chart."""
    def distance(c: str) -> int:
        return min(sum((a - b) ** 2 for a, b in zip(_rgb(c), _rgb(t))) for t in taken)

    return max(candidates, key=distance)


def lighten(color: str, amount: float) -> str:
    """`color` mixed with white: 0 keeps it, 1 is white."""
    return "#" + "".join(f"{round(c + (255 - c) * amount):02x}" for c in _rgb(color))
