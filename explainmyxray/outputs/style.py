"""Colours and fonts shared by the overlay and the HTML index."""

from __future__ import annotations

from functools import cache, lru_cache
from pathlib import Path

from PIL import ImageColor, ImageFont

RGB = tuple[int, int, int]

# Used for regions that are neither in the case's anatomy nor in the canonical region table.
FALLBACK_PALETTE: tuple[str, ...] = (
    "#4c9aff", "#ff8b3d", "#36d399", "#f472b6", "#facc15",
    "#a78bfa", "#22d3ee", "#fb7185", "#a3e635", "#f59e0b",
)  # fmt: skip

STATUS_COLORS: dict[str, str] = {
    "present": "#e5484d",
    "uncertain": "#f5a524",
    "absent": "#46a758",
}

SEVERITY_COLORS: dict[str, str] = {"info": "#6b7280", "warning": "#f5a524", "error": "#d1242f"}

VERDICT_COLORS: dict[str, str] = {
    "agree": "#2f9e44",
    "contradicted": "#e03131",
    "not_mentioned": "#868e96",
    "unsupported": "#e8590c",
}

_FONT_DIRS: tuple[Path, ...] = (
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/dejavu"),
    Path("/usr/share/fonts/TTF"),
    Path("/usr/local/share/fonts"),
    Path("/Library/Fonts"),
    Path("C:/Windows/Fonts"),
)
_FONT_FILES: dict[bool, tuple[str, ...]] = {
    False: ("DejaVuSans.ttf", "LiberationSans-Regular.ttf", "Arial.ttf", "arial.ttf"),
    True: ("DejaVuSans-Bold.ttf", "LiberationSans-Bold.ttf", "Arial Bold.ttf", "arialbd.ttf"),
}

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


def to_rgb(color: str) -> RGB:
    """``#rrggbb`` (or any colour Pillow knows) as an RGB triple."""
    r, g, b = ImageColor.getrgb(color)[:3]
    return (r, g, b)


def luminance(rgb: RGB) -> float:
    """Relative luminance (WCAG) of an sRGB colour, 0 (black) to 1 (white)."""

    def channel(c: int) -> float:
        v = c / 255
        return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def text_on(rgb: RGB) -> RGB:
    """Black or white, whichever contrasts more with a background colour."""
    lum = luminance(rgb)
    return (0, 0, 0) if (lum + 0.05) / 0.05 > 1.05 / (lum + 0.05) else (255, 255, 255)


@cache
def _font_path(bold: bool) -> Path | None:
    for folder in _FONT_DIRS:
        for name in _FONT_FILES[bold]:
            candidate = folder / name
            if candidate.is_file():
                return candidate
    return None


@lru_cache(maxsize=64)
def load_font(size: int, bold: bool = False) -> Font:
    """A TrueType sans font of ``size`` pixels (DejaVu if installed), else Pillow's own font."""
    path = _font_path(bold) or _font_path(False)
    if path is not None:
        try:
            return ImageFont.truetype(str(path), size)
        except OSError:
            pass
    return ImageFont.load_default(size=size)
