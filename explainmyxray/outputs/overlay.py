"""The overlay image: the radiograph with the regions that ground each finding, and a legend.

The radiograph keeps its aspect ratio and is only downscaled (long side at most 2048 px); every box
is mapped from original-image pixels by the same factor. The legend is a panel to the right of the
image, never over it. Text size and line width follow the image size, so the overlay reads the
same at 512 px and at 2000 px.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from explainmyxray.anatomy.regions import region as canonical_region
from explainmyxray.core.case import Box, Case, Finding, Grounding, Region
from explainmyxray.core.results import atomic_write_bytes
from explainmyxray.report.ontology import display_name

from .case_summary import orientation, report_missing
from .images import output_scale, pixels_to_image
from .labels import LabelRequest, place_labels
from .style import (
    FALLBACK_PALETTE,
    RGB,
    SEVERITY_COLORS,
    STATUS_COLORS,
    Font,
    load_font,
    text_on,
    to_rgb,
)

PANEL_BG: RGB = (23, 25, 30)
PANEL_TEXT: RGB = (236, 238, 241)
PANEL_MUTED: RGB = (150, 157, 168)
PANEL_RULE: RGB = (58, 62, 71)
LABEL_BG = (18, 20, 24, 225)
MASK_ALPHA = 46
ANATOMY_ALPHA = 110


@dataclass
class DrawnRegion:
    """A region as drawn: id, display name, colour, box in original pixels, optional mask."""

    id: str
    name: str
    color: RGB
    box: Box
    mask: np.ndarray | None = None


@dataclass
class LegendEntry:
    """One finding of the legend; ``number`` is set when it is drawn on the image."""

    label: str
    status: str | None
    regions: list[DrawnRegion] = field(default_factory=list)
    note: str | None = None
    confidence: float | None = None
    number: int | None = None

    @property
    def drawn(self) -> bool:
        return self.number is not None


class _RegionStyles:
    """Colour and name of a region id: from the case's anatomy, the region table, or a palette."""

    def __init__(self, anatomy: Sequence[Region]) -> None:
        self._anatomy = {r.id: r for r in anatomy}
        self._fallback: dict[str, RGB] = {}

    def region(self, region_id: str) -> Region | None:
        return self._anatomy.get(region_id)

    def color(self, region_id: str) -> RGB:
        known = self._anatomy.get(region_id)
        if known is not None:
            try:
                return to_rgb(known.color)
            except ValueError:
                pass
        try:
            return to_rgb(canonical_region(region_id).color)
        except KeyError:
            pass
        if region_id not in self._fallback:
            index = len(self._fallback) % len(FALLBACK_PALETTE)
            self._fallback[region_id] = to_rgb(FALLBACK_PALETTE[index])
        return self._fallback[region_id]

    def name(self, region_id: str) -> str:
        known = self._anatomy.get(region_id)
        if known is not None and known.name:
            return known.name
        try:
            return canonical_region(region_id).name
        except KeyError:
            return region_id.replace("_", " ")


def legend_entries(case: Case) -> list[LegendEntry]:
    """The findings of a case in report order, each with the regions its grounding names.

    Findings that are present or uncertain and have at least one grounded region are numbered
    (they are drawn); absent findings and findings without a grounding are listed only.
    Groundings of findings that are not in the report come last.
    """
    styles = _RegionStyles(case.anatomy)
    by_label: dict[str, list[Grounding]] = {}
    for grounding in case.groundings:
        by_label.setdefault(grounding.finding.strip().lower(), []).append(grounding)

    findings: list[Finding] = list(case.report.findings) if case.report else []
    entries: list[LegendEntry] = []
    for finding in findings:
        groundings = by_label.pop(finding.label.strip().lower(), [])
        entries.append(_entry(finding.label, finding.status, groundings, styles, finding))
    for groundings in by_label.values():
        entries.append(_entry(groundings[0].finding, None, groundings, styles, None))

    number = 0
    for entry in entries:
        if entry.regions and entry.status != "absent":
            number += 1
            entry.number = number
    return entries


def _entry(
    label: str,
    status: str | None,
    groundings: list[Grounding],
    styles: _RegionStyles,
    finding: Finding | None,
) -> LegendEntry:
    regions: list[DrawnRegion] = []
    seen: set[str] = set()
    notes = [g.note for g in groundings if g.note]
    for grounding in groundings:
        for grounded in grounding.regions:
            if grounded.region in seen:
                continue
            seen.add(grounded.region)
            anatomy = styles.region(grounded.region)
            regions.append(
                DrawnRegion(
                    id=grounded.region,
                    name=styles.name(grounded.region),
                    color=styles.color(grounded.region),
                    box=grounded.box,
                    mask=anatomy.mask if anatomy is not None else None,
                )
            )
    return LegendEntry(
        label=label,
        status=status,
        regions=regions,
        note="; ".join(notes) or None,
        confidence=finding.confidence if finding else None,
    )


@dataclass(frozen=True)
class _Metrics:
    """Sizes derived from the displayed image size."""

    font: int
    line: int
    pad: int
    legend_width: int

    @classmethod
    def for_size(cls, width: int, height: int) -> _Metrics:
        long_side = max(width, height)
        font = int(min(40, max(13, round(long_side * 0.021))))
        line = int(max(2, round(long_side / 380)))
        legend_width = int(max(round(font * 19.5), round(width * 0.36)))
        return cls(font=font, line=line, pad=round(font * 1.1), legend_width=legend_width)


def render_overlay(case: Case) -> Image.Image:
    """The radiograph with colour-coded grounded regions and a legend panel to its right.

    Raises ``ValueError`` if the case has no image pixels in memory.
    """
    if case.image is None or case.image.pixels is None:
        raise ValueError(f"case {case.id!r} has no image pixels to draw an overlay on")
    radiograph = pixels_to_image(case.image.pixels)
    orig_w, orig_h = radiograph.size
    scale = output_scale(orig_w, orig_h)
    if scale < 1.0:
        size = (max(1, round(orig_w * scale)), max(1, round(orig_h * scale)))
        radiograph = radiograph.resize(size, Image.Resampling.LANCZOS)
    disp_w, disp_h = radiograph.size
    sx, sy = disp_w / orig_w, disp_h / orig_h
    metrics = _Metrics.for_size(disp_w, disp_h)

    entries = legend_entries(case)
    drawn = [e for e in entries if e.drawn]
    image = radiograph.convert("RGBA")
    if drawn:
        image = _draw_findings(image, drawn, sx, sy, metrics)
    elif case.anatomy:
        image = _draw_anatomy(image, case.anatomy, sx, sy, metrics)
    image = _draw_markers(image, case, metrics)

    legend = _build_legend(case, entries, metrics, (orig_w, orig_h), (disp_w, disp_h))
    canvas = Image.new("RGB", (disp_w + metrics.legend_width, max(disp_h, legend.height)), PANEL_BG)
    canvas.paste(image.convert("RGB"), (0, 0))
    legend.render(ImageDraw.Draw(canvas), disp_w)
    return canvas


def write_overlay(case: Case, path: Path) -> Path:
    """Render the overlay and write it as a PNG, atomically; returns ``path``."""
    buffer = io.BytesIO()
    render_overlay(case).save(buffer, format="PNG", compress_level=3)
    atomic_write_bytes(Path(path), buffer.getvalue())
    return Path(path)


# --- drawing on the radiograph -------------------------------------------------------------


def _display_box(box: Box, sx: float, sy: float, size: tuple[int, int]) -> tuple[int, ...]:
    w, h = size
    x0 = min(max(round(box.x0 * sx), 0), w - 1)
    y0 = min(max(round(box.y0 * sy), 0), h - 1)
    x1 = min(max(round(box.x1 * sx) - 1, x0), w - 1)
    y1 = min(max(round(box.y1 * sy) - 1, y0), h - 1)
    return (x0, y0, x1, y1)


def _mask_image(mask: np.ndarray, size: tuple[int, int]) -> Image.Image | None:
    array = np.asarray(mask)
    if array.ndim != 2 or array.size == 0:
        return None
    binary = Image.fromarray((array > 0.5).astype(np.uint8) * 255, mode="L")
    return binary.resize(size, Image.Resampling.NEAREST)


def _mask_edge(mask: Image.Image, width: int) -> Image.Image:
    """The inner rim of a binary mask, about ``width`` pixels thick."""
    size = 2 * max(1, width // 2) + 1
    edge = Image.new("L", mask.size, 0)
    bbox = mask.getbbox()
    if bbox is None:
        return edge
    margin = size
    crop_box = (
        max(bbox[0] - margin, 0),
        max(bbox[1] - margin, 0),
        min(bbox[2] + margin, mask.width),
        min(bbox[3] + margin, mask.height),
    )
    crop = mask.crop(crop_box)
    eroded = crop.filter(ImageFilter.MinFilter(size))
    rim = (np.asarray(crop) > 0) & ~(np.asarray(eroded) > 0)
    edge.paste(Image.fromarray(rim.astype(np.uint8) * 255, mode="L"), crop_box[:2])
    return edge


def _tint(image: Image.Image, mask: Image.Image, color: RGB, alpha: int) -> Image.Image:
    layer = Image.new("RGBA", image.size, (*color, 0))
    layer.putalpha(mask.point(lambda v: alpha if v else 0))
    return Image.alpha_composite(image, layer)


def _dashed_rectangle(
    draw: ImageDraw.ImageDraw, box: tuple[int, ...], fill: tuple[int, ...], width: int
) -> None:
    x0, y0, x1, y1 = box
    dash, gap = width * 4, width * 3
    for a, b, fixed, horizontal in (
        (x0, x1, y0, True),
        (x0, x1, y1, True),
        (y0, y1, x0, False),
        (y0, y1, x1, False),
    ):
        start = a
        while start <= b:
            end = min(start + dash, b)
            if horizontal:
                draw.line([(start, fixed), (end, fixed)], fill=fill, width=width)
            else:
                draw.line([(fixed, start), (fixed, end)], fill=fill, width=width)
            start = end + gap


def _draw_findings(
    image: Image.Image, entries: list[LegendEntry], sx: float, sy: float, m: _Metrics
) -> Image.Image:
    size = image.size
    tinted: set[str] = set()
    for entry in entries:
        for region in entry.regions:
            if region.mask is None or region.id in tinted:
                continue
            mask = _mask_image(region.mask, size)
            if mask is not None:
                tinted.add(region.id)
                image = _tint(image, mask, region.color, MASK_ALPHA)
                image = _tint(image, _mask_edge(mask, m.line), region.color, 170)

    layer = Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    boxes: dict[tuple[str, tuple[int, ...]], bool] = {}
    for entry in entries:
        for region in entry.regions:
            key = (region.id, _display_box(region.box, sx, sy, size))
            certain = entry.status != "uncertain"
            boxes[key] = boxes.get(key, False) or certain
    colors = {r.id: r.color for e in entries for r in e.regions}
    for (region_id, box), certain in boxes.items():
        color = colors[region_id]
        x0, y0, x1, y1 = box
        halo = (x0 - 1, y0 - 1, x1 + 1, y1 + 1)
        if certain:
            draw.rectangle(halo, outline=(0, 0, 0, 150), width=m.line + 2)
            draw.rectangle(box, outline=(*color, 255), width=m.line)
        else:
            draw.rectangle(halo, outline=(*color, 70), width=m.line + 2)
            _dashed_rectangle(draw, box, (*color, 255), m.line)
    image = Image.alpha_composite(image, layer)

    labels = Image.new("RGBA", size, (0, 0, 0, 0))
    _place_labels(ImageDraw.Draw(labels), entries, sx, sy, m, size)
    return Image.alpha_composite(image, labels)


def _place_labels(
    draw: ImageDraw.ImageDraw,
    entries: list[LegendEntry],
    sx: float,
    sy: float,
    m: _Metrics,
    size: tuple[int, int],
) -> None:
    """One label per finding (its number and full name) beside its own boxes, never over a box
    of another finding or another label (:func:`.labels.place_labels`); a finding with no free
    spot gets its number alone, inside its first box (the legend names it)."""
    font = load_font(m.font, bold=True)
    gap = max(2, m.line)
    pad_x, pad_y = round(m.font * 0.45), round(m.font * 0.25)
    height = m.font + 2 * pad_y
    requests: list[LabelRequest] = []
    texts: dict[str, tuple[str, int]] = {}
    for entry in entries:
        number = str(entry.number)
        badge_w = max(height, round(draw.textlength(number, font=font)) + 2 * pad_x)
        text = display_name(entry.label) + (" (uncertain)" if entry.status == "uncertain" else "")
        width = badge_w + round(draw.textlength(text, font=font)) + 2 * pad_x
        own = tuple(_display_box(r.box, sx, sy, size) for r in entry.regions)
        requests.append(LabelRequest(number, width, height, own[0], own))  # type: ignore[arg-type]
        texts[number] = (text, badge_w)
    radius = max(2, height // 5)
    for entry, placement in zip(entries, place_labels(requests, size, gap=gap), strict=True):
        number = str(entry.number)
        text, badge_w = texts[number]
        color = entry.regions[0].color
        if placement.inside_image:
            x, y = int(placement.rect[0]), int(placement.rect[1])
            width = int(placement.rect[2] - placement.rect[0])
            draw.rounded_rectangle((x, y, x + width - 1, y + height - 1), radius, fill=LABEL_BG)
            draw.text(
                (x + badge_w + pad_x, y + height / 2), text, font=font, fill=PANEL_TEXT, anchor="lm"
            )
        else:
            x0, y0 = _display_box(entry.regions[0].box, sx, sy, size)[:2]
            x, y = x0 + m.line, y0 + m.line
        draw.rounded_rectangle((x, y, x + badge_w - 1, y + height - 1), radius, fill=(*color, 255))
        draw.text(
            (x + badge_w / 2, y + height / 2), number, font=font, fill=text_on(color), anchor="mm"
        )


def _draw_markers(image: Image.Image, case: Case, m: _Metrics) -> Image.Image:
    """R and L at the image's edges (a frontal view shows the patient's right on the left) and
    the quality flags in the top-left corner."""
    layer = Image.new("RGBA", image.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    font = load_font(round(m.font * 1.1), bold=True)
    small = load_font(round(m.font * 0.75), bold=True)
    w, h = image.size
    pad = round(m.font * 0.3)
    sides = orientation(case.image.view_position if case.image else None)
    if sides is not None:
        for letter, anchor_x, anchor in ((sides[0], pad * 2, "lm"), (sides[1], w - pad * 2, "rm")):
            box = draw.textbbox((anchor_x, h / 2), letter, font=font, anchor=anchor)
            draw.rounded_rectangle(
                (box[0] - pad, box[1] - pad, box[2] + pad, box[3] + pad), pad, fill=(0, 0, 0, 150)
            )
            draw.text(
                (anchor_x, h / 2), letter, font=font, fill=(255, 255, 255, 255), anchor=anchor
            )
    y = pad
    for flag in case.quality:
        color = to_rgb(SEVERITY_COLORS.get(flag.severity, "#6b7280"))
        box = draw.textbbox((pad * 3, y), flag.code, font=small)
        draw.rectangle((pad, box[1] - pad, box[2] + pad, box[3] + pad), fill=(0, 0, 0, 160))
        draw.rectangle((pad, box[1] - pad, pad + max(2, pad // 2), box[3] + pad), fill=color)
        draw.text((pad * 3, y), flag.code, font=small, fill=(255, 255, 255, 255))
        y = box[3] + pad * 3
    return Image.alpha_composite(image, layer)


def _split_long(draw: ImageDraw.ImageDraw, text: str, font: Font, max_width: float) -> list[str]:
    """``text`` in pieces that each fit ``max_width``: a word longer than the line (a case id)
    is broken between characters, never cut short."""
    pieces: list[str] = []
    while text and draw.textlength(text, font=font) > max_width:
        cut = len(text) - 1
        while cut > 1 and draw.textlength(text[:cut], font=font) > max_width:
            cut -= 1
        pieces.append(text[:cut])
        text = text[cut:]
    return [*pieces, text] if text else pieces


def _draw_anatomy(
    image: Image.Image, anatomy: Sequence[Region], sx: float, sy: float, m: _Metrics
) -> Image.Image:
    size = image.size
    layer = Image.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    thin = max(1, m.line // 2)
    for region in anatomy:
        try:
            color = to_rgb(region.color)
        except ValueError:
            color = to_rgb(FALLBACK_PALETTE[0])
        mask = _mask_image(region.mask, size) if region.mask is not None else None
        if mask is not None:
            image = _tint(image, _mask_edge(mask, thin), color, ANATOMY_ALPHA)
        else:
            draw.rectangle(
                _display_box(region.box, sx, sy, size), outline=(*color, ANATOMY_ALPHA), width=thin
            )
    return Image.alpha_composite(image, layer)


# --- the legend panel ------------------------------------------------------------------------


Op = Callable[[ImageDraw.ImageDraw, int], None]


class _Legend:
    """A column of text laid out top to bottom; drawn once its height is known."""

    def __init__(self, width: int, m: _Metrics) -> None:
        self.width = width
        self.m = m
        self.pad = m.pad
        self.y = m.pad
        self.ops: list[Op] = []
        self.scratch = ImageDraw.Draw(Image.new("L", (1, 1)))
        self.title_font = load_font(round(m.font * 1.2), bold=True)
        self.head_font = load_font(round(m.font * 0.78), bold=True)
        self.body_font = load_font(m.font)
        self.bold_font = load_font(m.font, bold=True)
        self.small_font = load_font(round(m.font * 0.8))

    @property
    def height(self) -> int:
        return self.y + self.pad

    def _line_height(self, font: Font) -> int:
        return round(getattr(font, "size", self.m.font) * 1.35)

    def wrap(self, text: str, font: Font, width: float) -> list[str]:
        lines: list[str] = []
        current = ""
        for word in text.split():
            trial = f"{current} {word}" if current else word
            if current and self.scratch.textlength(trial, font=font) > width:
                lines.append(current)
                current = word
            else:
                current = trial
        if current:
            lines.append(current)
        pieces = [part for line in lines for part in _split_long(self.scratch, line, font, width)]
        return pieces or [""]

    def text(self, text: str, font: Font, fill: RGB, indent: int = 0) -> None:
        line_h = self._line_height(font)
        for line in self.wrap(text, font, self.width - 2 * self.pad - indent):
            y = self.y
            self.ops.append(
                lambda d, x0, y=y, line=line: d.text(
                    (x0 + self.pad + indent, y + line_h / 2),
                    line,
                    font=font,
                    fill=fill,
                    anchor="lm",
                )
            )
            self.y += line_h

    def heading(self, text: str) -> None:
        self.space(0.5)
        self.text(text.upper(), self.head_font, PANEL_MUTED)
        self.space(0.2)

    def rule(self) -> None:
        y = self.y + round(self.m.font * 0.5)
        self.ops.append(
            lambda d, x0: d.line(
                [(x0 + self.pad, y), (x0 + self.width - self.pad, y)], fill=PANEL_RULE, width=1
            )
        )
        self.y += self.m.font

    def space(self, ems: float) -> None:
        self.y += round(self.m.font * ems)

    def swatch(self, color: RGB, text: str, indent: int) -> None:
        line_h = self._line_height(self.body_font)
        side = round(self.m.font * 0.8)
        y = self.y
        self.ops.append(
            lambda d, x0: d.rounded_rectangle(
                (
                    x0 + self.pad + indent,
                    y + (line_h - side) // 2,
                    x0 + self.pad + indent + side,
                    y + (line_h + side) // 2,
                ),
                max(1, side // 5),
                fill=color,
                outline=(0, 0, 0),
            )
        )
        self.text(text, self.body_font, PANEL_TEXT, indent=indent + side + round(self.m.font * 0.5))

    def dot(self, color: RGB, text: str) -> None:
        line_h = self._line_height(self.body_font)
        side = round(self.m.font * 0.6)
        y = self.y
        self.ops.append(
            lambda d, x0: d.ellipse(
                (
                    x0 + self.pad,
                    y + (line_h - side) // 2,
                    x0 + self.pad + side,
                    y + (line_h + side) // 2,
                ),
                fill=color,
            )
        )
        self.text(text, self.body_font, PANEL_TEXT, indent=side + round(self.m.font * 0.5))

    def badge_title(self, number: int | None, color: RGB, label: str) -> int:
        """The numbered colour badge and the finding name; returns the text indent."""
        line_h = self._line_height(self.bold_font)
        badge = line_h
        y = self.y
        if number is not None:
            text = str(number)
            self.ops.append(
                lambda d, x0: (
                    d.rounded_rectangle(
                        (x0 + self.pad, y, x0 + self.pad + badge - 1, y + badge - 1),
                        max(2, badge // 5),
                        fill=color,
                    ),
                    d.text(
                        (x0 + self.pad + badge / 2, y + badge / 2),
                        text,
                        font=self.bold_font,
                        fill=text_on(color),
                        anchor="mm",
                    ),
                )
            )
        indent = badge + round(self.m.font * 0.55)
        self.text(label, self.bold_font, PANEL_TEXT, indent=indent)
        return indent

    def chip(self, text: str, color: RGB, indent: int, extra: str = "") -> None:
        font = self.small_font
        line_h = self._line_height(self.body_font)
        pad_x = round(self.m.font * 0.4)
        width = round(self.scratch.textlength(text, font=font)) + 2 * pad_x
        chip_h = round(font.size * 1.35) if hasattr(font, "size") else line_h
        y = self.y + (line_h - chip_h) // 2
        self.ops.append(
            lambda d, x0: (
                d.rounded_rectangle(
                    (x0 + self.pad + indent, y, x0 + self.pad + indent + width, y + chip_h),
                    chip_h // 2,
                    fill=color,
                ),
                d.text(
                    (x0 + self.pad + indent + width / 2, y + chip_h / 2),
                    text,
                    font=font,
                    fill=text_on(color),
                    anchor="mm",
                ),
            )
        )
        if extra:
            ey = self.y
            self.ops.append(
                lambda d, x0: d.text(
                    (x0 + self.pad + indent + width + pad_x, ey + line_h / 2),
                    extra,
                    font=self.small_font,
                    fill=PANEL_MUTED,
                    anchor="lm",
                )
            )
        self.y += line_h

    def render(self, draw: ImageDraw.ImageDraw, x0: int) -> None:
        for op in self.ops:
            op(draw, x0)


def _build_legend(
    case: Case,
    entries: list[LegendEntry],
    m: _Metrics,
    original: tuple[int, int],
    shown: tuple[int, int],
) -> _Legend:
    legend = _Legend(m.legend_width, m)
    legend.text(case.id, legend.title_font, PANEL_TEXT)
    details = [f"{original[0]}×{original[1]} px"]
    if case.image is not None and case.image.view_position:
        details.append(case.image.view_position)
    if shown != original:
        details.append(f"shown at {100 * shown[0] / original[0]:.0f}%")
    legend.text(" · ".join(details), legend.small_font, PANEL_MUTED)
    legend.rule()

    drawn = [e for e in entries if e.drawn]
    listed = [e for e in entries if not e.drawn]
    legend.heading("Findings")
    if not drawn:
        has_positive = any(e.status in ("present", "uncertain", None) for e in entries)
        if case.report is None or not entries or not has_positive:
            legend.text("No findings to ground", legend.bold_font, PANEL_TEXT)
        else:
            legend.text("No finding could be localized", legend.bold_font, PANEL_TEXT)
        if report_missing(case):
            legend.text("No report was generated.", legend.small_font, PANEL_MUTED)
        if case.anatomy:
            legend.text(
                f"Anatomy outlines shown faintly ({len(case.anatomy)} regions).",
                legend.small_font,
                PANEL_MUTED,
            )
    for entry in drawn:
        legend.space(0.35)
        indent = legend.badge_title(entry.number, entry.regions[0].color, display_name(entry.label))
        status = entry.status or "not in report"
        extra = f"confidence {entry.confidence:.2f}" if entry.confidence is not None else ""
        legend.chip(status, to_rgb(STATUS_COLORS.get(status, "#6b7280")), indent, extra)
        for region in entry.regions:
            legend.swatch(region.color, region.name, indent)
        if entry.note:
            legend.text(entry.note, legend.small_font, PANEL_MUTED, indent=indent)
        legend.space(0.35)

    if listed:
        legend.rule()
        legend.heading("Not drawn")
        for entry in listed:
            reason = "absent" if entry.status == "absent" else "not localized"
            status = entry.status or "not in report"
            color = to_rgb(STATUS_COLORS.get(status, "#6b7280"))
            legend.dot(color, f"{display_name(entry.label)} — {reason}")

    if any(e.status == "uncertain" for e in drawn):
        legend.rule()
        legend.text("Dashed outline: uncertain finding.", legend.small_font, PANEL_MUTED)
    return legend
