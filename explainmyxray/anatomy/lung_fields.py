"""Where the two lung fields are, found by image analysis alone (no trained detector).

The boxes found here are the prompts LiteMedSAM segments from. On a small copy of the image,
cropped to its content (flat bands along the edges, such as a detector's collimated border or
the padding of an off-centre or wide-field image, are trimmed first):

1. The dark pixels are the Otsu threshold of the central part of the (smoothed, contrast-stretched)
   image: lungs, and the air around the body.
2. One seed per lung: the dark pixel farthest from any bright pixel inside a window on each side of
   the image, among pixels whose dark run along the row does not reach the image's left or right
   edge (the air beside the body does; a lung does not).
3. A marker-controlled watershed on the distance map grows each seed and the outside air (seeded
   along the image border) over the dark pixels; lungs and outside air meet at the narrowest neck
   between them (typically above the apex), so a lung does not leak into the air around the neck.
4. A lung whose region is implausible (too small, wrong shape, on the wrong side) is replaced by
   the mirror image of the other lung about the midline (the brightest column near the body's
   centre: the spine); if neither is plausible, both come from a prior layout scaled to the
   body's extent.
5. Two detected lungs are checked against each other (:func:`pair_lungs`): the apices lie at
   about the same level, and the left hemidiaphragm at or below the right one. A lung whose dark
   region stops short (the left base beside and behind the heart, or an apex lost to the air
   around the neck) has its box extended to the level its partner gives.

Everything is returned in original-image pixels.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..core.case import Box

WORK_SIDE = 128
"""Longest side of the copy the analysis runs on."""

BoxSource = Literal["detected", "extended", "mirrored", "prior"]
"""How a box was found: ``extended`` is a detected box lengthened by :func:`pair_lungs`."""

# Seed windows (fractions of the width/height) for the lung on the image's left (patient's right)
# and on the image's right (patient's left).
_SEED_ROWS = (0.2, 0.7)
_SEED_COLS = {"right": (0.08, 0.48), "left": (0.52, 0.92)}
_OUTSIDE, _RIGHT, _LEFT = 3, 1, 2
_FLAT_STD = 0.02
"""A row or column of the normalised working copy flatter than this is border, not body."""
_MAX_TRIM = 0.35
"""At most this fraction of the height (width) is trimmed from each edge."""
APEX_TOLERANCE = 0.08
"""Apices further apart than this fraction of the lung height: the lower box is raised."""
BASE_TOLERANCE = {"right": 0.12, "left": 0.02}
"""How far (fraction of the lung height) a lung's base may stay above its partner's before its
box is lengthened: the right hemidiaphragm usually lies higher than the left (the liver), the
left one level with or below the right."""


@dataclass(frozen=True)
class LungField:
    """One lung field: its box in original pixels and how it was found."""

    side: Literal["right", "left"]
    box: Box
    source: BoxSource
    mask: np.ndarray | None = None
    """The dark region at the working scale (bool, ``WORK_SIDE`` px), when detected."""


@dataclass(frozen=True)
class LungFields:
    right: LungField
    left: LungField
    scale: float
    """Working copy size / original size."""


def _resize(pixels: np.ndarray, side: int) -> tuple[np.ndarray, float]:
    from PIL import Image

    h, w = pixels.shape
    scale = side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    small = Image.fromarray(np.asarray(pixels, dtype=np.float32)).resize(size, Image.BILINEAR)
    return np.asarray(small, dtype=np.float32), scale


def content_window(image: np.ndarray) -> tuple[int, int, int, int]:
    """``(y0, y1, x0, x1)`` of the image without the flat bands along its edges."""
    h, w = image.shape
    lo, hi = float(image.min()), float(image.max())
    norm = (image - lo) / max(hi - lo, 1e-6)
    rows, cols = norm.std(axis=1) >= _FLAT_STD, norm.std(axis=0) >= _FLAT_STD

    def span(busy: np.ndarray, n: int) -> tuple[int, int]:
        if not busy.any():
            return 0, n
        first, last = int(np.argmax(busy)), n - int(np.argmax(busy[::-1]))
        limit = int(_MAX_TRIM * n)
        return min(first, limit), max(last, n - limit)

    (y0, y1), (x0, x1) = span(rows, h), span(cols, w)
    return y0, y1, x0, x1


def _stretch(image: np.ndarray) -> np.ndarray:
    from scipy import ndimage as ndi

    smooth = ndi.gaussian_filter(image, 1.0)
    lo, hi = np.percentile(smooth, [1, 99])
    return np.clip((smooth - lo) / max(float(hi - lo), 1e-6), 0.0, 1.0)


def otsu_threshold(values: np.ndarray, bins: int = 128) -> float:
    """The Otsu threshold of values in ``[0, 1]``."""
    hist, edges = np.histogram(values, bins=bins, range=(0.0, 1.0))
    centers = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(hist).astype(np.float64)
    w1 = w0[-1] - w0
    s0 = np.cumsum(hist * centers)
    m0 = s0 / np.maximum(w0, 1)
    m1 = (s0[-1] - s0) / np.maximum(w1, 1)
    # The upper edge of the best bin, so that every value in or below it is under the threshold.
    return float(edges[1:][np.argmax(w0 * w1 * (m0 - m1) ** 2)])


def _flood(cost: np.ndarray, markers: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """Marker-controlled watershed: each allowed pixel joins the marker of least minimax cost."""
    h, w = cost.shape
    labels = markers.copy()
    heap = [(int(cost[y, x]), int(y), int(x)) for y, x in zip(*np.nonzero(markers), strict=True)]
    heapq.heapify(heap)
    while heap:
        c, y, x = heapq.heappop(heap)
        label = labels[y, x]
        for ny, nx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
            if 0 <= ny < h and 0 <= nx < w and labels[ny, nx] == 0 and allowed[ny, nx]:
                labels[ny, nx] = label
                heapq.heappush(heap, (max(c, int(cost[ny, nx])), ny, nx))
    return labels


def _watershed_lungs(image: np.ndarray) -> np.ndarray:
    """Labels at the working scale: 1 = image-left lung, 2 = image-right lung, 3 = outside air."""
    from scipy import ndimage as ndi

    h, w = image.shape
    centre = image[int(0.1 * h) : int(0.9 * h) + 1, int(0.1 * w) : int(0.9 * w) + 1]
    dark = image < otsu_threshold(centre.ravel())
    dist = ndi.distance_transform_edt(dark)

    markers = np.zeros((h, w), np.int16)
    edge = np.zeros((h, w), bool)
    edge[0] = edge[-1] = edge[:, 0] = edge[:, -1] = True
    markers[edge & dark] = _OUTSIDE
    reaches_edge = np.cumprod(dark, axis=1).astype(bool)
    reaches_edge |= np.cumprod(dark[:, ::-1], axis=1)[:, ::-1].astype(bool)
    interior = dark & ~reaches_edge
    for label, side in ((_RIGHT, "right"), (_LEFT, "left")):
        c0, c1 = _SEED_COLS[side]
        window = np.zeros((h, w), bool)
        window[int(_SEED_ROWS[0] * h) : int(_SEED_ROWS[1] * h), int(c0 * w) : int(c1 * w)] = True
        depth = np.where(window & interior & (markers == 0), dist, 0.0)
        y, x = np.unravel_index(int(np.argmax(depth)), depth.shape)
        if depth[y, x] > 0:
            markers[y, x] = label
    cost = (1000 - np.round(dist * 10)).astype(np.int32)
    return _flood(cost, markers, dark)


def _bbox(mask: np.ndarray) -> tuple[int, int, int, int] | None:
    rows, cols = np.any(mask, axis=1), np.any(mask, axis=0)
    if not rows.any():
        return None
    y0, y1 = np.flatnonzero(rows)[[0, -1]]
    x0, x1 = np.flatnonzero(cols)[[0, -1]]
    return int(x0), int(y0), int(x1) + 1, int(y1) + 1


def _plausible(box: tuple[int, int, int, int], area: int, side: str, h: int, w: int) -> bool:
    x0, y0, x1, y1 = box
    bw, bh = x1 - x0, y1 - y0
    cx = (x0 + x1) / 2 / w
    on_side = cx < 0.5 if side == "right" else cx > 0.5
    return (
        on_side
        and 0.25 * h <= bh <= 0.95 * h
        and 0.12 * w <= bw <= 0.48 * w
        and 0.9 <= bh / bw <= 4.5
        and area >= 0.35 * bw * bh
    )


def _body_columns(image: np.ndarray) -> tuple[float, float]:
    """Left and right edges of the body (fractions of the width), from the middle rows."""
    h, w = image.shape
    band = image[int(0.3 * h) : int(0.7 * h) + 1]
    dark = band < otsu_threshold(band.ravel())
    left = np.cumprod(dark, axis=1).sum(axis=1)
    right = np.cumprod(dark[:, ::-1], axis=1).sum(axis=1)
    x0, x1 = float(np.median(left)) / w, 1.0 - float(np.median(right)) / w
    if x1 - x0 < 0.4:
        return 0.0, 1.0
    return x0, x1


def prior_boxes(image: np.ndarray) -> dict[str, tuple[float, float, float, float]]:
    """Typical lung boxes (working-scale pixels) scaled to the body's horizontal extent."""
    h, w = image.shape
    b0, b1 = _body_columns(image)
    bw = b1 - b0
    y0, y1 = 0.12 * h, 0.78 * h
    return {
        "right": ((b0 + 0.08 * bw) * w, y0, (b0 + 0.47 * bw) * w, y1),
        "left": ((b0 + 0.53 * bw) * w, y0, (b0 + 0.92 * bw) * w, y1),
    }


def find_lung_fields(pixels: np.ndarray) -> LungFields:
    """Boxes around the two lung fields of a frontal chest radiograph (original pixels).

    ``pixels`` is the image as :class:`~explainmyxray.core.case.XrayImage` holds it: 2-D, bright
    = dense. Never fails: a lung that cannot be found gets a mirrored or prior box.
    """
    if pixels.ndim != 2 or min(pixels.shape) < 16:
        raise ValueError(f"expected a 2-D image of at least 16x16 pixels, got {pixels.shape}")
    small, scale = _resize(pixels, WORK_SIDE)
    full_h, full_w = small.shape
    cy0, cy1, cx0, cx1 = content_window(small)
    image = _stretch(small[cy0:cy1, cx0:cx1])
    h, w = image.shape
    labels = _watershed_lungs(image)

    found: dict[str, tuple[tuple[float, float, float, float], np.ndarray]] = {}
    for label, side in ((_RIGHT, "right"), (_LEFT, "left")):
        mask = labels == label
        box = _bbox(mask)
        if box is not None and _plausible(box, int(mask.sum()), side, h, w):
            found[side] = (tuple(float(v) for v in box), mask)  # type: ignore[assignment]

    boxes: dict[str, tuple[tuple[float, float, float, float], BoxSource, np.ndarray | None]] = {}
    for side, (box, mask) in found.items():
        boxes[side] = (box, "detected", mask)
    if len(found) == 2:
        paired = pair_lungs(found["right"][0], found["left"][0])
        for side, box in paired.items():
            if box != found[side][0]:
                boxes[side] = (box, "extended", found[side][1])
    elif len(found) == 1:
        (side, (box, _)), other = next(iter(found.items())), "left" if "right" in found else "right"
        midline = _midline(image, box)
        x0, y0, x1, y1 = box
        boxes[other] = ((2 * midline - x1, y0, 2 * midline - x0, y1), "mirrored", None)
    else:
        for side, box in prior_boxes(image).items():
            boxes[side] = (box, "prior", None)

    def to_field(side: Literal["right", "left"]) -> LungField:
        (x0, y0, x1, y1), source, mask = boxes[side]
        x0, x1 = np.clip([x0, x1], 0, w) + cx0
        y0, y1 = np.clip([y0, y1], 0, h) + cy0
        box = Box(
            x0=x0 / scale, y0=y0 / scale, x1=max(x1, x0 + 1) / scale, y1=max(y1, y0 + 1) / scale
        )
        if mask is not None:
            placed = np.zeros((full_h, full_w), bool)
            placed[cy0:cy1, cx0:cx1] = mask
            mask = placed
        return LungField(side=side, box=box, source=source, mask=mask)

    return LungFields(right=to_field("right"), left=to_field("left"), scale=scale)


Corners = tuple[float, float, float, float]


def pair_lungs(right: Corners, left: Corners) -> dict[str, Corners]:
    """The two lung boxes ``(x0, y0, x1, y1)`` after checking them against each other.

    A box whose apex lies more than :data:`APEX_TOLERANCE` of the lung height below its
    partner's is raised to the partner's apex; a box whose base stops more than
    :data:`BASE_TOLERANCE` above its partner's base is lengthened to that level. Only ever
    grows a box: the segmenter, prompted with it, finds where the lung really ends.
    """
    boxes = {"right": list(right), "left": list(left)}
    height = max(right[3] - right[1], left[3] - left[1])
    for side, other in (("right", "left"), ("left", "right")):
        box, partner = boxes[side], boxes[other]
        if box[1] - partner[1] > APEX_TOLERANCE * height:
            box[1] = partner[1]
        floor = partner[3] - BASE_TOLERANCE[side] * height
        if box[3] < floor:
            box[3] = floor
    return {side: tuple(box) for side, box in boxes.items()}  # type: ignore[misc]


def _midline(image: np.ndarray, box: tuple[float, float, float, float]) -> float:
    """The column of the mediastinum: the brightest column near the body's centre, over the
    lung's rows (the spine), or the body's centre itself where no column stands out."""
    w = image.shape[1]
    b0, b1 = _body_columns(image)
    centre = (b0 + b1) / 2 * w
    _, y0, _, y1 = box
    profile = image[int(y0) : max(int(y1), int(y0) + 1)].mean(axis=0)
    lo, hi = int(max(0, centre - 0.08 * w)), int(min(w, centre + 0.08 * w)) + 1
    window = np.convolve(profile, np.ones(5) / 5, mode="same")[lo:hi]
    if window.size < 3 or float(window.max() - np.median(window)) < 0.05:
        return centre
    return float(lo + np.argmax(window))
