"""The 26 regions, derived geometrically from the two lung masks and the heart mask.

All fractions below are of the lung's own height ``h`` and width ``w`` (its mask's bounding box),
or of the thorax width ``T`` (from the image-left lung's lateral edge to the image-right lung's
lateral edge). "Medial" is towards the midline: +x for the right lung (on the image's left),
-x for the left lung.

- Zones: rows of each lung mask; apical = top 18 %, upper = top third, middle = middle third,
  lower = bottom third (the apical zone is the top of the upper zone, as in Chest ImaGenome).
- Hilum: the medial edge of the lung between 30 % and 60 % of its height, from 8 % of ``w``
  medial to 30 % of ``w`` lateral of that edge (box only).
- Costophrenic angle: the extreme point of the lung's lower 35 % down-and-lateral (largest
  ``y/h + lateral·x/w``); cardiophrenic angle: down-and-medial. A box of about a quarter of
  ``w`` by a sixth of ``h`` at that corner; its mask is the lung inside the box.
- Hemidiaphragm: the band of 4 % of ``h`` just below the lung's lower edge, column by column,
  between the cardiophrenic and the costophrenic angle.
- Clavicle: from the midline to beyond the lateral edge, around the apex (box only).
- Midline structures sit on the midline between the lungs' medial edges: trachea (±3.5 % of
  ``T``, from above the apices to the carina at about a third of the lung height), spine (±5.5 %
  of ``T``, down to the lung bases), upper mediastinum (between the medial edges, top 38 %),
  aortic knob (left of the trachea, i.e. image right: from the trachea's wall, or 8 % of ``T``
  medial of the left lung's medial edge, to 3 % of ``T`` into the lung, 14 %-32 % of its
  height).
- Cardiac silhouette: the heart mask with the lungs removed; its box when the mask is missing.
- Upper abdomen: below the higher hemidiaphragm dome, across both lungs (box only).

Boxes are clipped to the image; regions that are only a box have no mask.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..core.case import Box, Region
from .regions import REGIONS

APICAL_FRACTION = 0.18
TRACHEA_HALF_WIDTH = 0.035
"""Half the trachea's width, as a fraction of the thorax width."""


@dataclass(frozen=True)
class LungShape:
    """Row and column extents of one lung mask."""

    side: str
    mask: np.ndarray
    x0: int
    y0: int
    x1: int
    y1: int
    first: np.ndarray
    """Per row: the first (smallest x) lung pixel, -1 where the row has none."""
    last: np.ndarray
    """Per row: the last (largest x) lung pixel, -1 where the row has none."""
    bottom: np.ndarray
    """Per column: the lowest lung pixel, -1 where the column has none."""

    @property
    def h(self) -> int:
        return self.y1 - self.y0

    @property
    def w(self) -> int:
        return self.x1 - self.x0

    @property
    def medial_sign(self) -> int:
        return 1 if self.side == "right" else -1

    def medial_edge(self, f0: float, f1: float) -> float:
        """Median x of the medial edge between fractions ``f0`` and ``f1`` of the height."""
        rows = slice(self.y0 + int(f0 * self.h), max(self.y0 + int(f1 * self.h), self.y0 + 1))
        edge = (self.last if self.side == "right" else self.first)[rows]
        edge = edge[edge >= 0]
        if edge.size == 0:
            return float(self.x1 if self.side == "right" else self.x0)
        return float(np.median(edge))

    def corner(self, medial: bool) -> tuple[int, int]:
        """The lower lung's extreme pixel down-and-medial (``medial``) or down-and-lateral, (x, y).

        Only the lower 35 % of the lung is searched: higher up, the medial edge of the left lung
        (beside the aortic knob) is more medial than the cardiophrenic angle.
        """
        top = self.y0 + int(0.65 * self.h)
        ys, xs = np.nonzero(self.mask[top : self.y1, self.x0 : self.x1])
        if ys.size == 0:
            return (self.x1 if medial == (self.side == "right") else self.x0), self.y1 - 1
        toward_midline = xs / max(self.w, 1) if self.side == "right" else 1 - xs / max(self.w, 1)
        score = ys / max(self.h, 1) + (toward_midline if medial else 1 - toward_midline)
        i = int(np.argmax(score))
        return int(xs[i]) + self.x0, int(ys[i]) + top


def lung_shape(mask: np.ndarray, side: str) -> LungShape | None:
    """Extents of a lung mask, or None when it is empty."""
    rows = mask.any(axis=1)
    if not rows.any():
        return None
    cols = mask.any(axis=0)
    width = mask.shape[1]
    first = np.where(rows, np.argmax(mask, axis=1), -1)
    last = np.where(rows, width - 1 - np.argmax(mask[:, ::-1], axis=1), -1)
    height = mask.shape[0]
    bottom = np.where(cols, height - 1 - np.argmax(mask[::-1, :], axis=0), -1)
    y = np.flatnonzero(rows)
    x = np.flatnonzero(cols)
    return LungShape(
        side, mask, int(x[0]), int(y[0]), int(x[-1]) + 1, int(y[-1]) + 1, first, last, bottom
    )


class _Builder:
    """Collects regions, clipping boxes to the image and cutting masks to them."""

    def __init__(self, height: int, width: int, keep_masks: bool) -> None:
        self.height, self.width, self.keep_masks = height, width, keep_masks
        self.regions: dict[str, Region] = {}
        self._defs = {r.id: r for r in REGIONS}

    def box(self, x0: float, y0: float, x1: float, y1: float) -> Box:
        x0, x1 = sorted((min(max(x0, 0.0), self.width), min(max(x1, 0.0), self.width)))
        y0, y1 = sorted((min(max(y0, 0.0), self.height), min(max(y1, 0.0), self.height)))
        if x1 - x0 < 1:
            x0, x1 = (x0, x0 + 1) if x0 + 1 <= self.width else (x1 - 1, x1)
        if y1 - y0 < 1:
            y0, y1 = (y0, y0 + 1) if y0 + 1 <= self.height else (y1 - 1, y1)
        return Box(x0=x0, y0=y0, x1=x1, y1=y1)

    def add(self, rid: str, box: Box, mask: np.ndarray | None, method: str) -> None:
        if mask is not None and not mask.any():
            mask = None
        if mask is not None:
            tight = _mask_box(mask)
            box = Box(x0=tight[0], y0=tight[1], x1=tight[2], y1=tight[3])
        definition = self._defs[rid]
        area = int(mask.sum()) if mask is not None else round(box.area)
        self.regions[rid] = Region(
            id=rid,
            name=definition.name,
            color=definition.color,
            box=box,
            mask=mask if self.keep_masks else None,
            area_px=area,
            method=method,
        )

    def cut(self, mask: np.ndarray, box: Box) -> np.ndarray:
        out = np.zeros_like(mask)
        # Rounded, not floor/ceil: adjacent zones must not share a boundary row.
        ys = slice(round(box.y0), round(box.y1))
        xs = slice(round(box.x0), round(box.x1))
        out[ys, xs] = mask[ys, xs]
        return out


def _mask_box(mask: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return int(cols[0]), int(rows[0]), int(cols[-1]) + 1, int(rows[-1]) + 1


def _lung_regions(b: _Builder, lung: LungShape, method: str) -> int:
    """Adds the lung's ten regions; returns the row of its hemidiaphragm's dome."""
    side, h, w, m = lung.side, lung.h, lung.w, lung.medial_sign
    b.add(f"{side}_lung", b.box(lung.x0, lung.y0, lung.x1, lung.y1), lung.mask, method)
    zones = {
        "apical_zone": (0.0, APICAL_FRACTION),
        "upper_zone": (0.0, 1 / 3),
        "mid_zone": (1 / 3, 2 / 3),
        "lower_zone": (2 / 3, 1.0),
    }
    for key, (f0, f1) in zones.items():
        box = b.box(lung.x0, lung.y0 + f0 * h, lung.x1, lung.y0 + f1 * h)
        b.add(f"{side}_{key}", box, b.cut(lung.mask, box), f"{method}+zones")

    edge = lung.medial_edge(0.30, 0.60)
    inner, outer = edge + m * 0.08 * w, edge - m * 0.30 * w
    b.add(
        f"{side}_hilum",
        b.box(inner, lung.y0 + 0.30 * h, outer, lung.y0 + 0.60 * h),
        None,
        "geometry",
    )

    for key, medial in (("costophrenic_angle", False), ("cardiophrenic_angle", True)):
        cx, cy = lung.corner(medial)
        toward = m if not medial else -m  # from the corner back into the lung
        box = b.box(cx - toward * 0.05 * w, cy - 0.16 * h, cx + toward * 0.25 * w, cy + 0.03 * h)
        b.add(f"{side}_{key}", box, b.cut(lung.mask, box), f"{method}+geometry")

    band = max(2, round(0.04 * h))
    rows = np.arange(lung.mask.shape[0])[:, None]
    # The visible hemidiaphragm runs from the cardiophrenic to the costophrenic angle; medial to
    # it, the lung's lower edge is the heart's border.
    (xa, _), (xb, _) = lung.corner(medial=True), lung.corner(medial=False)
    cols = np.zeros(lung.mask.shape[1], bool)
    cols[min(xa, xb) : max(xa, xb) + 1] = True
    cols &= lung.bottom >= 0
    base = lung.bottom[None, :]
    diaphragm = cols[None, :] & (rows > base) & (rows <= base + band)
    top = int(lung.bottom[cols].min()) if cols.any() else lung.y1
    box = b.box(lung.x0, top, lung.x1, lung.y1 + band)
    b.add(f"{side}_hemidiaphragm", box, diaphragm, f"{method}+geometry")
    return top


def derive_regions(
    right_lung: np.ndarray,
    left_lung: np.ndarray,
    heart: np.ndarray | None,
    *,
    methods: Mapping[str, str] | None = None,
    heart_box: Box | None = None,
    keep_masks: bool = True,
) -> list[Region]:
    """All 26 regions from the lung masks (patient's right lung = image left) and the heart mask.

    ``methods`` names how each of ``right_lung``, ``left_lung`` and ``heart`` was obtained (it is
    recorded in each region's ``method``). Raises ``ValueError`` if a lung mask is empty.
    """
    methods = dict(methods or {})
    height, width = right_lung.shape
    b = _Builder(height, width, keep_masks)
    right, left = lung_shape(right_lung, "right"), lung_shape(left_lung, "left")
    if right is None or left is None:
        raise ValueError("cannot derive regions: a lung mask is empty")
    domes = [
        _lung_regions(b, lung, methods.get(f"{lung.side}_lung", "mask")) for lung in (right, left)
    ]

    thorax = left.x1 - right.x0
    lung_h = (right.h + left.h) / 2
    top = min(right.y0, left.y0)
    neck = top - 0.12 * lung_h
    base = max(right.y1, left.y1)
    medial_r, medial_l = right.medial_edge(0.0, 0.38), left.medial_edge(0.0, 0.38)
    mid = (medial_r + medial_l) / 2

    def centred(half_width: float, y0: float, y1: float) -> Box:
        return b.box(mid - half_width * thorax, y0, mid + half_width * thorax, y1)

    b.add("trachea", centred(TRACHEA_HALF_WIDTH, neck, top + 0.33 * lung_h), None, "geometry")
    b.add("spine", centred(0.055, neck, base), None, "geometry")
    upper = b.box(
        min(medial_r, mid - 0.04 * thorax),
        top,
        max(medial_l, mid + 0.04 * thorax),
        top + 0.38 * lung_h,
    )
    b.add("upper_mediastinum", upper, None, "geometry")
    # The knob bulges into the left lung's medial edge (image right) at the level of the arch;
    # it lies lateral to the trachea, never over it.
    trachea_wall = mid + TRACHEA_HALF_WIDTH * thorax
    knob = max(left.medial_edge(0.14, 0.32), trachea_wall + 0.03 * thorax)
    knob_box = b.box(
        max(trachea_wall, knob - 0.08 * thorax),
        left.y0 + 0.14 * left.h,
        knob + 0.03 * thorax,
        left.y0 + 0.32 * left.h,
    )
    b.add("aortic_knob", knob_box, None, "geometry")

    lungs = right_lung | left_lung
    if heart is not None and (heart & ~lungs).any():
        silhouette = heart & ~lungs
        b.add(
            "cardiac_silhouette",
            b.box(*_mask_box(silhouette)),
            silhouette,
            methods.get("heart", "mask"),
        )
    else:
        fallback = heart_box or b.box(medial_r, top + 0.45 * lung_h, medial_l, top + lung_h)
        b.add("cardiac_silhouette", fallback, None, "geometry (heart prompt box)")

    for lung in (right, left):
        lateral = lung.x0 - 0.10 * lung.w if lung.side == "right" else lung.x1 + 0.10 * lung.w
        clavicle = b.box(lateral, lung.y0 - 0.06 * lung.h, mid, lung.y0 + 0.16 * lung.h)
        b.add(f"{lung.side}_clavicle", clavicle, None, "geometry")

    abdomen = b.box(right.x0, min(domes), left.x1, base + 0.25 * lung_h)
    b.add("upper_abdomen", abdomen, None, "geometry")

    return [b.regions[r.id] for r in REGIONS]
