"""Where the name of each finding goes on the image: near its own boxes, never over a box of
another finding, never over another label, never cut.

Used by the overlay PNG (Pillow text metrics) and by the page's SVG (monospace metrics), so both
place labels by the same rules. Coordinates are in the drawing's pixels, y down.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

Rect = tuple[float, float, float, float]


@dataclass(frozen=True)
class LabelRequest:
    """One label: its size, the box it names, and every box that belongs to the same finding."""

    key: str
    width: float
    height: float
    anchor: Rect
    own: tuple[Rect, ...]


@dataclass(frozen=True)
class Placement:
    key: str
    rect: Rect
    inside_image: bool
    """False when no free spot was found on the image: the label sits in the gutter to the right
    of the image, joined to its box by a leader line."""


def _overlaps(a: Rect, b: Rect, gap: float = 0.0) -> bool:
    return not (
        a[2] + gap <= b[0] or b[2] + gap <= a[0] or a[3] + gap <= b[1] or b[3] + gap <= a[1]
    )


def _same(a: Rect, b: Rect) -> bool:
    return all(abs(p - q) < 0.5 for p, q in zip(a, b, strict=True))


def place_labels(
    requests: Sequence[LabelRequest],
    size: tuple[float, float],
    *,
    gap: float = 3.0,
    boxes: Sequence[Rect] = (),
) -> list[Placement]:
    """One placement per request, in order. ``boxes`` are all drawn boxes (each request's
    ``own`` boxes are allowed under its label; every other box is an obstacle)."""
    width, height = size
    every_box = list(boxes) or [b for r in requests for b in r.own]
    placed: list[Rect] = []
    gutter_y = 0.0
    result: list[Placement] = []
    for request in requests:
        others = [b for b in every_box if not any(_same(b, own) for own in request.own)]
        w, h = request.width, request.height

        def free(rect: Rect, others: list[Rect] = others) -> bool:
            x0, y0, x1, y1 = rect
            if x0 < 0 or y0 < 0 or x1 > width or y1 > height:
                return False
            if any(_overlaps(rect, other, gap) for other in placed):
                return False
            return not any(_overlaps(rect, box) for box in others)

        spot = next((c for c in _candidates(request.anchor, w, h, gap) if free(c)), None)
        if spot is None:
            spot = _nearest_free(request.anchor, w, h, size, free)
        if spot is None:
            spot = (width + gap, gutter_y, width + gap + w, gutter_y + h)
            gutter_y += h + gap
            result.append(Placement(request.key, spot, inside_image=False))
        else:
            result.append(Placement(request.key, spot, inside_image=True))
        placed.append(spot)
    return result


def _candidates(anchor: Rect, w: float, h: float, gap: float) -> list[Rect]:
    x0, y0, x1, y1 = anchor
    spots = [
        (x0, y0 - h - gap),  # above, left-aligned
        (x0, y1 + gap),  # below, left-aligned
        (x1 - w, y0 - h - gap),  # above, right-aligned
        (x1 - w, y1 + gap),  # below, right-aligned
        (x0 + gap, y0 + gap),  # inside, top-left
        (x1 - w - gap, y0 + gap),  # inside, top-right
        (x0 + gap, y1 - h - gap),  # inside, bottom-left
        (x0 - w - gap, y0),  # left of the box
        (x1 + gap, y0),  # right of the box
    ]
    return [(x, y, x + w, y + h) for x, y in spots]


def _nearest_free(anchor: Rect, w: float, h: float, size: tuple[float, float], free) -> Rect | None:
    """The free spot nearest the anchor's top-left corner on a coarse grid of the image."""
    width, height = size
    step = max(4.0, h / 2)
    cx, cy = anchor[0], anchor[1]
    best: tuple[float, Rect] | None = None
    y = 0.0
    while y + h <= height:
        x = 0.0
        while x + w <= width:
            rect = (x, y, x + w, y + h)
            distance = (x - cx) ** 2 + (y - cy) ** 2
            if (best is None or distance < best[0]) and free(rect):
                best = (distance, rect)
            x += step
        y += step
    return best[1] if best else None
