"""Localization metrics against reference boxes: IoU, IoU hit rate and the pointing game.

Boxes are :class:`~explainmyxray.core.case.Box` objects in original-image pixels (``x1``/``y1``
exclusive). NIH ``BBox_List_2017`` rows give ``x, y, w, h``; :func:`box_from_xywh` converts.

The unit of these metrics is the **reference box**. For each reference box, the predicted boxes
that count are those of findings that match the box's label (the caller's ``same_finding`` rule,
e.g. the soft-match rule of :mod:`.soft_match`). Then:

* ``best_iou`` is the largest IoU between the reference box and any of those predicted boxes
  (0 when the finding was not localized at all);
* an **IoU hit at threshold t** is ``best_iou >= t``; the hit rate is hits / reference boxes;
* the **pointing game** takes one point per reference box: the explicit ``point`` of the
  highest-scoring matching prediction if it has one (e.g. a heat map's maximum), else the centre
  of that prediction's box (predictions without scores rank in their given order). A hit is a
  point inside the reference box, widened by ``tolerance_px`` on every side. A reference box with
  no matching prediction is a miss. The hit rate is hits / reference boxes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from explainmyxray.core.case import Box

DEFAULT_IOU_THRESHOLDS: tuple[float, ...] = (0.1, 0.25, 0.5)


def box_from_xywh(x: float, y: float, w: float, h: float) -> Box:
    """A box from its top-left corner and size (the NIH ``Bbox [x,y,w,h]`` columns)."""
    return Box(x0=x, y0=y, x1=x + w, y1=y + h)


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes (0 when both are empty)."""
    inter_w = min(a.x1, b.x1) - max(a.x0, b.x0)
    inter_h = min(a.y1, b.y1) - max(a.y0, b.y0)
    inter = max(inter_w, 0.0) * max(inter_h, 0.0)
    union = a.area + b.area - inter
    return inter / union if union > 0 else 0.0


def centre(box: Box) -> tuple[float, float]:
    return ((box.x0 + box.x1) / 2.0, (box.y0 + box.y1) / 2.0)


def contains(box: Box, x: float, y: float, tolerance_px: float = 0.0) -> bool:
    """Whether ``(x, y)`` lies inside ``box`` widened by ``tolerance_px`` on every side."""
    t = tolerance_px
    return box.x0 - t <= x <= box.x1 + t and box.y0 - t <= y <= box.y1 + t


@dataclass(frozen=True)
class PredictedBox:
    """A predicted location of one finding: a box, an optional score and an optional point."""

    label: str
    box: Box
    score: float | None = None
    point: tuple[float, float] | None = None


@dataclass(frozen=True)
class ReferenceBox:
    label: str
    box: Box


@dataclass(frozen=True)
class BoxOutcome:
    """How one reference box was localized."""

    label: str
    reference: Box
    localized: bool
    best_iou: float
    point: tuple[float, float] | None
    pointing_hit: bool

    def iou_hit(self, threshold: float) -> bool:
        return self.best_iou >= threshold


def _exact(a: str, b: str) -> bool:
    return a == b


def _pointing_choice(candidates: Sequence[PredictedBox]) -> PredictedBox:
    best = candidates[0]
    for candidate in candidates[1:]:
        if candidate.score is not None and (best.score is None or candidate.score > best.score):
            best = candidate
    return best


def score_boxes(
    predicted: Sequence[PredictedBox],
    reference: Sequence[ReferenceBox],
    same_finding: Callable[[str, str], bool] = _exact,
    tolerance_px: float = 0.0,
) -> list[BoxOutcome]:
    """One :class:`BoxOutcome` per reference box (see the module docstring for the rules).

    ``same_finding(predicted_label, reference_label)`` decides which predictions count.
    """
    outcomes = []
    for ref in reference:
        candidates = [p for p in predicted if same_finding(p.label, ref.label)]
        if not candidates:
            outcomes.append(BoxOutcome(ref.label, ref.box, False, 0.0, None, False))
            continue
        best_iou = max(iou(p.box, ref.box) for p in candidates)
        chosen = _pointing_choice(candidates)
        point = chosen.point if chosen.point is not None else centre(chosen.box)
        hit = contains(ref.box, point[0], point[1], tolerance_px)
        outcomes.append(BoxOutcome(ref.label, ref.box, True, best_iou, point, hit))
    return outcomes


def iou_hit_rate(outcomes: Sequence[BoxOutcome], threshold: float) -> float | None:
    """Share of reference boxes whose best IoU reaches ``threshold`` (None without boxes)."""
    if not outcomes:
        return None
    return sum(o.iou_hit(threshold) for o in outcomes) / len(outcomes)


def pointing_hit_rate(outcomes: Sequence[BoxOutcome]) -> float | None:
    """Share of reference boxes that the pointing game hits (None without boxes)."""
    if not outcomes:
        return None
    return sum(o.pointing_hit for o in outcomes) / len(outcomes)


def mean_iou(outcomes: Sequence[BoxOutcome]) -> float | None:
    """Mean best IoU over reference boxes (None without boxes)."""
    if not outcomes:
        return None
    return float(np.mean([o.best_iou for o in outcomes]))


def scale_box(box: Box, from_size: tuple[int, int], to_size: tuple[int, int]) -> Box:
    """Rescale a box given in an image of ``from_size`` (w, h) to one of ``to_size`` (w, h)."""
    return box.scaled(to_size[0] / from_size[0], to_size[1] / from_size[1])
