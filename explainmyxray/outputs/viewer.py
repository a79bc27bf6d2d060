"""The interactive radiograph of one case on the page: the image, an SVG of its boxes and labels in
original-image pixels, the R/L and quality markers, and the zoom and window/level controls.

The script (``viewer.js`` plus the vendored Panzoom) only moves and filters what this module
writes, so the page still shows every box without it. Label placement follows
:mod:`.labels`: a finding's name sits next to its own boxes and never over another finding's box.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from html import escape
from importlib.resources import files
from typing import Any

from explainmyxray.core.case import Box, Case, QualityFlag
from explainmyxray.report.ontology import display_name

from .case_summary import FRONTAL_VIEWS, orientation
from .labels import LabelRequest, place_labels
from .overlay import LegendEntry
from .style import SEVERITY_COLORS, text_on, to_rgb

MONO_ADVANCE = 0.6
"""Width of one character of the label font (a monospace stack) in ems."""
WINDOW_PRESETS: tuple[tuple[str, int, int], ...] = (
    ("Full", 255, 128),
    ("Lung", 170, 110),
    ("Mediastinum", 110, 150),
    ("Bone", 90, 190),
)


def _e(value: object) -> str:
    return escape(str(value), quote=True)


@cache
def script() -> str:
    """Panzoom (vendored, MIT) followed by the viewer's own script."""
    here = files("explainmyxray.outputs")
    vendored = (here / "vendor" / "panzoom.min.js").read_text(encoding="utf-8")
    own = (here / "viewer.js").read_text(encoding="utf-8")
    return vendored + "\n" + own


@dataclass(frozen=True)
class ReferenceBox:
    label: str
    box: Box


def reference_boxes(reference: dict[str, Any] | None) -> list[ReferenceBox]:
    boxes = []
    for item in (reference or {}).get("boxes", []):
        try:
            boxes.append(ReferenceBox(str(item["label"]), Box.model_validate(item["box"])))
        except (KeyError, TypeError, ValueError):
            continue
    return boxes


def _rect(box: Box) -> tuple[float, float, float, float]:
    return (box.x0, box.y0, box.x1, box.y1)


def render_viewer(
    index: int,
    case: Case,
    image_src: str,
    size: tuple[int, int],
    entries: Sequence[LegendEntry],
    reference: dict[str, Any] | None,
) -> str:
    """The viewer's HTML for one case; ``size`` is the original image size in pixels."""
    width, height = size
    font = max(12.0, round(max(width, height) * 0.018, 1))
    line = max(1.5, round(max(width, height) / 500, 1))
    drawn = [e for e in entries if e.drawn]
    svg = [
        f'<svg class="ov" viewBox="0 0 {width} {height}" preserveAspectRatio="none" '
        f'style="--lw:{line}px">'
    ]
    svg.append(_anatomy_layer(case, font, shown=not drawn))
    svg.append(_findings_layer(drawn, (width, height), font))
    svg.append(_reference_layer(reference_boxes(reference), font))
    svg.append("</svg>")
    view = case.image.view_position if case.image else None
    filter_id = f"wl-{index}"
    controls = _controls(index, bool(case.anatomy), bool(reference_boxes(reference)))
    return (
        f'<div class="viewer" id="viewer-{index}">'
        f"{controls}"
        f'<div class="stage" style="aspect-ratio:{width}/{height}">'
        f'<div class="pz"><img class="xr" alt="radiograph of case {_e(case.id)}" '
        f'src="{_e(image_src)}" width="{width}" height="{height}" loading="lazy" '
        f'decoding="async" style="filter:url(#{filter_id})">{"".join(svg)}</div>'
        f"{_hud(view, case.quality)}</div>"
        f'<svg class="filters" width="0" height="0" aria-hidden="true"><filter id="{filter_id}" '
        'color-interpolation-filters="sRGB"><feComponentTransfer>'
        '<feFuncR type="linear" slope="1" intercept="0"/>'
        '<feFuncG type="linear" slope="1" intercept="0"/>'
        '<feFuncB type="linear" slope="1" intercept="0"/>'
        "</feComponentTransfer></filter></svg></div>"
    )


def _controls(index: int, anatomy: bool, reference: bool) -> str:
    presets = "".join(
        f'<button type="button" class="wl-preset" data-width="{w}" data-level="{lv}">'
        f"{_e(name)}</button>"
        for name, w, lv in WINDOW_PRESETS
    )
    layers = [
        '<label><input type="checkbox" class="layer" data-layer="f" checked> findings</label>'
    ]
    if anatomy:
        layers.append(
            '<label><input type="checkbox" class="layer" data-layer="a" checked> anatomy</label>'
        )
    if reference:
        layers.append(
            '<label><input type="checkbox" class="layer" data-layer="ref" checked> '
            "reference</label>"
        )
    return (
        '<div class="toolbar">'
        '<span class="group"><button type="button" class="zoom-out" title="zoom out">−</button>'
        '<span class="zoom-readout">100%</span>'
        '<button type="button" class="zoom-in" title="zoom in (or mouse wheel)">+</button>'
        '<button type="button" class="zoom-reset" title="fit the image">Fit</button></span>'
        f'<span class="group"><label>W <input type="range" class="wl-width" min="8" max="255" '
        f'value="255" aria-label="window width of case {index}"></label>'
        f'<label>L <input type="range" class="wl-level" min="0" max="255" value="128" '
        f'aria-label="window level of case {index}"></label>'
        '<label><input type="checkbox" class="wl-invert"> invert</label>'
        f'<span class="wl-readout">W 255 / L 128</span></span>'
        f'<span class="group presets">{presets}</span>'
        f'<span class="group">{"".join(layers)}</span></div>'
    )


def _hud(view: str | None, flags: Sequence[QualityFlag]) -> str:
    html = ['<div class="hud">']
    sides = orientation(view)
    if sides is not None:
        frontal = (view or "").upper() in FRONTAL_VIEWS
        assumed = "" if frontal else " (view not recorded: frontal assumed)"
        html.append(
            f'<span class="side left" title="patient\'s right{_e(assumed)}">{sides[0]}</span>'
            f'<span class="side right" title="patient\'s left{_e(assumed)}">{sides[1]}</span>'
        )
    if view:
        html.append(f'<span class="view">{_e(view)}</span>')
    if flags:
        items = "".join(
            f'<li style="border-color:{SEVERITY_COLORS.get(f.severity, "#6b7280")}">'
            f"{_e(f.code)}</li>"
            for f in flags
        )
        html.append(f'<ul class="qflags" title="quality flags">{items}</ul>')
    html.append("</div>")
    return "".join(html)


def _anatomy_layer(case: Case, font: float, shown: bool) -> str:
    if not case.anatomy:
        return ""
    parts = ['<g class="layer-a">']
    for region in case.anatomy:
        x0, y0, x1, y1 = _rect(region.box)
        parts.append(
            f'<g class="a{"" if shown else " off"}" data-r="{_e(region.id)}">'
            f'<rect x="{x0:.1f}" y="{y0:.1f}" '
            f'width="{x1 - x0:.1f}" height="{y1 - y0:.1f}" stroke="{_e(region.color)}"/>'
            f'<text x="{x0 + 3:.1f}" y="{y0 + font:.1f}" fill="{_e(region.color)}" '
            f'font-size="{font * 0.8:.1f}">{_e(region.name)}</text></g>'
        )
    parts.append("</g>")
    return "".join(parts)


def _findings_layer(drawn: Sequence[LegendEntry], size: tuple[int, int], font: float) -> str:
    if not drawn:
        return ""
    pad = font * 0.35
    height = font + 2 * pad
    requests = []
    for entry in drawn:
        text = f"{entry.number} {display_name(entry.label)}" + (
            " (uncertain)" if entry.status == "uncertain" else ""
        )
        width = len(text) * font * MONO_ADVANCE + 2 * pad
        own = tuple(_rect(r.box) for r in entry.regions)
        requests.append(LabelRequest(str(entry.number), width, height, own[0], own))
    placements = {p.key: p for p in place_labels(requests, size, gap=font * 0.2)}
    parts = ['<g class="layer-f">']
    for entry in drawn:
        color = "#{:02x}{:02x}{:02x}".format(*entry.regions[0].color)
        dash = ' stroke-dasharray="8 6"' if entry.status == "uncertain" else ""
        parts.append(f'<g class="f" data-f="{entry.number}">')
        for region in entry.regions:
            x0, y0, x1, y1 = _rect(region.box)
            region_color = "#{:02x}{:02x}{:02x}".format(*region.color)
            parts.append(
                f'<rect class="box" x="{x0:.1f}" y="{y0:.1f}" width="{x1 - x0:.1f}" '
                f'height="{y1 - y0:.1f}" stroke="{region_color}"{dash}>'
                f"<title>{_e(display_name(entry.label))}: {_e(region.name)}</title></rect>"
            )
        placement = placements[str(entry.number)]
        text = f"{entry.number} {display_name(entry.label)}" + (
            " (uncertain)" if entry.status == "uncertain" else ""
        )
        if placement.inside_image:
            lx0, ly0, lx1, ly1 = placement.rect
            badge = len(str(entry.number)) * font * MONO_ADVANCE + 2 * pad
            fg = "#{:02x}{:02x}{:02x}".format(*text_on(to_rgb(color)))
            parts.append(
                f'<g class="label"><rect class="label-bg" x="{lx0:.1f}" y="{ly0:.1f}" '
                f'width="{lx1 - lx0:.1f}" height="{ly1 - ly0:.1f}" rx="{pad:.1f}"/>'
                f'<rect x="{lx0:.1f}" y="{ly0:.1f}" width="{badge:.1f}" height="{ly1 - ly0:.1f}" '
                f'rx="{pad:.1f}" style="fill:{color}"/>'
                f'<text x="{lx0 + pad:.1f}" y="{ly0 + pad + font * 0.82:.1f}" '
                f'font-size="{font:.1f}"><tspan fill="{fg}">{entry.number}</tspan>'
                f'<tspan fill="#f1f3f5" dx="{font * MONO_ADVANCE:.1f}">'
                f"{_e(text.split(' ', 1)[1])}</tspan></text></g>"
            )
        else:  # no free spot on the image: the number alone, inside its own first box
            x0, y0, _, _ = requests[drawn.index(entry)].anchor
            parts.append(
                f'<g class="label"><rect x="{x0:.1f}" y="{y0:.1f}" '
                f'width="{len(str(entry.number)) * font * MONO_ADVANCE + 2 * pad:.1f}" '
                f'height="{height:.1f}" rx="{pad:.1f}" style="fill:{color}"/>'
                f'<text x="{x0 + pad:.1f}" y="{y0 + pad + font * 0.82:.1f}" font-size="{font:.1f}" '
                f'fill="#000">{entry.number}</text></g>'
            )
        parts.append("</g>")
    parts.append("</g>")
    return "".join(parts)


def _reference_layer(boxes: Sequence[ReferenceBox], font: float) -> str:
    if not boxes:
        return ""
    parts = ['<g class="layer-ref">']
    for item in boxes:
        x0, y0, x1, y1 = _rect(item.box)
        parts.append(
            f'<g class="ref"><rect class="halo" x="{x0:.1f}" y="{y0:.1f}" '
            f'width="{x1 - x0:.1f}" height="{y1 - y0:.1f}"/>'
            f'<rect x="{x0:.1f}" y="{y0:.1f}" width="{x1 - x0:.1f}" '
            f'height="{y1 - y0:.1f}"/><text x="{x0:.1f}" y="{y1 + font:.1f}" '
            f'font-size="{font * 0.85:.1f}">reference: {_e(item.label)}</text></g>'
        )
    parts.append("</g>")
    return "".join(parts)
