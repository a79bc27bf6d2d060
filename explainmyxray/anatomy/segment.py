"""The offline localizer: lungs and heart by a box-promptable segmenter (LiteMedSAM by default,
any :class:`~.segmenter.PromptableSegmenter`) from analysis-made box prompts, then the 26 regions
by geometry.

1. :func:`~.lung_fields.find_lung_fields` boxes the two lung fields without a trained detector.
2. The segmenter encodes the image once and segments both lungs from those boxes, enlarged by
   ``box_margin`` (the model was trained with loose boxes; tight ones cut the lung's edges).
3. Each mask is cleaned (largest component, holes filled). A box that was too small is grown
   and the lung segmented again, up to ``grow_rounds`` times: where the two masks disagree with
   the anatomy (:func:`~.lung_fields.pair_lungs`: a left base above the right one, an apex far
   below the other) the short lung's box is extended to its partner's level, and a mask that
   runs into a side of its prompt box (lung along a good part of that edge) moves that side out
   by ``grow_step`` of the box's size. A box that stopped short above the diaphragm beside the
   heart, or below the apex, so grows to the whole lung. With ``refine`` the lungs are then
   prompted once more with their own mask's box (enlarged by ``refine_margin``), which tightens
   a box that was too large.
4. The heart box spans the lungs' medial edges below the hila, down to the cardiophrenic angles;
   the segmenter segments it from the same embedding and the mask is clipped at the diaphragm.
5. :func:`~.geometry.derive_regions` derives the 26 regions.

All masks and boxes are in original-image pixels.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from ..core.case import Box, Region
from .geometry import derive_regions, lung_shape
from .lung_fields import LungField, find_lung_fields, pair_lungs
from .segmenter import PromptableSegmenter


@dataclass(frozen=True)
class LocalizerSettings:
    """How prompts are made and masks post-processed."""

    mask_threshold: float = 0.5
    box_margin: float = 0.10
    """Each side of a detected lung box grows by this fraction of the box's width/height."""
    grow_rounds: int = 2
    grow_step: float = 0.15
    touch_fraction: float = 0.15
    """A box side is "run into" when lung covers at least this fraction of the line just inside
    it."""
    refine: bool = True
    refine_margin: float = 0.05
    keep_masks: bool = True


@dataclass
class AnatomyResult:
    """The regions of one image, with the masks and prompts they came from."""

    regions: list[Region]
    right_lung: np.ndarray
    left_lung: np.ndarray
    heart: np.ndarray | None
    prompts: dict[str, Box]
    lung_box_sources: dict[str, str]
    seconds: dict[str, float] = field(default_factory=dict)

    def region(self, region_id: str) -> Region:
        for r in self.regions:
            if r.id == region_id:
                return r
        raise KeyError(region_id)


def expand_box(box: Box, margin: float, height: int, width: int) -> Box:
    """``box`` grown by ``margin`` of its size on every side, clipped to the image."""
    dx, dy = margin * box.width, margin * box.height
    return Box(
        x0=max(0.0, box.x0 - dx),
        y0=max(0.0, box.y0 - dy),
        x1=min(float(width), box.x1 + dx),
        y1=min(float(height), box.y1 + dy),
    )


def mask_box(mask: np.ndarray) -> Box | None:
    """The tight box of a mask (exclusive upper corners), or None when it is empty."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    return Box(x0=cols[0], y0=rows[0], x1=cols[-1] + 1, y1=rows[-1] + 1)


def largest_component(mask: np.ndarray) -> np.ndarray:
    """The largest 8-connected component of ``mask`` with its holes filled."""
    from scipy import ndimage as ndi

    labels, n = ndi.label(mask, structure=np.ones((3, 3), bool))
    if n == 0:
        return mask.copy()
    if n > 1:
        sizes = np.bincount(labels.ravel())[1:]
        mask = labels == 1 + int(np.argmax(sizes))
    return ndi.binary_fill_holes(mask)


def _separate(right: np.ndarray, left: np.ndarray, boxes: dict[str, Box]) -> None:
    """Give pixels claimed by both lungs to the lung whose prompt box centre is nearer in x."""
    both = right & left
    if not both.any():
        return
    cr = (boxes["right"].x0 + boxes["right"].x1) / 2
    cl = (boxes["left"].x0 + boxes["left"].x1) / 2
    xs = np.arange(right.shape[1])[None, :]
    to_right = both & (np.abs(xs - cr) <= np.abs(xs - cl))
    right &= ~(both & ~to_right)
    left &= ~to_right


def paired_prompts(
    masks: dict[str, np.ndarray], prompts: dict[str, Box], margin: float, height: int, width: int
) -> dict[str, Box]:
    """Prompt boxes lengthened where one lung's mask stops short of what its partner gives.

    The masks' boxes are checked against each other with :func:`~.lung_fields.pair_lungs`
    (apices at about one level, the left base at or below the right one); a lung whose base or
    apex falls short gets its prompt box extended to that level plus ``margin`` of its height.
    """
    boxes = {side: mask_box(mask) for side, mask in masks.items()}
    if boxes["right"] is None or boxes["left"] is None:
        return {}
    corners = {side: (b.x0, b.y0, b.x1, b.y1) for side, b in boxes.items() if b is not None}
    paired = pair_lungs(corners["right"], corners["left"])
    out = {}
    for side, (_, y0, _, y1) in paired.items():
        old, prompt = boxes[side], prompts[side]
        if old is None or (y0 == old.y0 and y1 == old.y1):
            continue
        pad = margin * (y1 - y0)
        out[side] = Box(
            x0=prompt.x0,
            y0=max(0.0, min(prompt.y0, y0 - pad)),
            x1=prompt.x1,
            y1=min(float(height), max(prompt.y1, y1 + pad)),
        )
    return out


def grown_box(
    mask: np.ndarray, box: Box, settings: LocalizerSettings, height: int, width: int
) -> Box | None:
    """``box`` moved out on every side the mask runs into, or None when it runs into none.

    A side is run into when the lung covers at least ``touch_fraction`` of the row (column) just
    inside it; sides already at the image's edge stay.
    """
    y0, y1 = int(np.floor(box.y0)), min(height, int(np.ceil(box.y1)))
    x0, x1 = int(np.floor(box.x0)), min(width, int(np.ceil(box.x1)))
    if y1 - y0 < 3 or x1 - x0 < 3:
        return None
    inside = mask[y0:y1, x0:x1]
    dx, dy = settings.grow_step * box.width, settings.grow_step * box.height
    edges = {
        "y0": (inside[1].mean(), box.y0 > 0, -dy),
        "y1": (inside[-2].mean(), box.y1 < height, dy),
        "x0": (inside[:, 1].mean(), box.x0 > 0, -dx),
        "x1": (inside[:, -2].mean(), box.x1 < width, dx),
    }
    moved = {
        key: getattr(box, key) + step
        for key, (covered, room, step) in edges.items()
        if room and covered >= settings.touch_fraction
    }
    if not moved:
        return None
    corners = {"x0": box.x0, "y0": box.y0, "x1": box.x1, "y1": box.y1, **moved}
    return Box(
        x0=max(0.0, corners["x0"]),
        y0=max(0.0, corners["y0"]),
        x1=min(float(width), corners["x1"]),
        y1=min(float(height), corners["y1"]),
    )


def _fallback_mask(lung: LungField, box: Box, shape: tuple[int, int]) -> np.ndarray:
    """When the model gives nothing: the detector's dark region, else an ellipse in the box."""
    from PIL import Image

    h, w = shape
    if lung.mask is not None:
        up = Image.fromarray(lung.mask.astype(np.uint8) * 255).resize((w, h), Image.NEAREST)
        return np.asarray(up) > 127
    ys, xs = np.ogrid[:h, :w]
    cx, cy = (box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2
    rx, ry = max(box.width / 2, 1.0), max(box.height / 2, 1.0)
    return ((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2 <= 1.0


def heart_prompt(right: np.ndarray, left: np.ndarray) -> tuple[Box, float] | None:
    """The heart's box from the lungs, and the row below which the heart mask is cut."""
    r, lf = lung_shape(right, "right"), lung_shape(left, "left")
    if r is None or lf is None:
        return None
    top, bottom = (r.y0 + lf.y0) / 2, (r.y1 + lf.y1) / 2
    lung_h = bottom - top
    y0 = top + 0.40 * lung_h
    band = slice(int(y0), max(int(y0 + 0.7 * (bottom - y0)), int(y0) + 1))
    right_edge = r.last[band][r.last[band] >= 0]
    left_edge = lf.first[band][lf.first[band] >= 0]
    if right_edge.size == 0 or left_edge.size == 0:
        return None
    # Percentiles, not extremes: near the bases a lung's medial edge can swing far laterally.
    x0, x1 = float(np.percentile(right_edge, 15)), float(np.percentile(left_edge, 85))
    base = max(r.corner(medial=True)[1], lf.corner(medial=True)[1]) + 0.03 * lung_h
    if x1 - x0 < 0.05 * right.shape[1]:
        return None
    return Box(x0=x0, y0=y0, x1=x1, y1=min(float(right.shape[0]), base + 0.03 * lung_h)), base


def segment_anatomy(
    model: PromptableSegmenter, pixels: np.ndarray, settings: LocalizerSettings | None = None
) -> AnatomyResult:
    """Lung and heart masks and the 26 regions of one frontal chest radiograph."""
    settings = settings or LocalizerSettings()
    height, width = pixels.shape
    seconds: dict[str, float] = {}
    t = time.perf_counter()
    fields = find_lung_fields(pixels)
    seconds["lung_fields"] = time.perf_counter() - t

    t = time.perf_counter()
    embedding = model.embed(pixels)
    seconds["encode"] = time.perf_counter() - t

    t = time.perf_counter()
    lungs = {"right": fields.right, "left": fields.left}
    prompts = {s: expand_box(f.box, settings.box_margin, height, width) for s, f in lungs.items()}
    masks = _segment_lungs(model, embedding, prompts, settings)
    for _ in range(settings.grow_rounds):
        grown = paired_prompts(masks, prompts, settings.box_margin, height, width)
        for side in masks:
            box = grown_box(masks[side], grown.get(side, prompts[side]), settings, height, width)
            if box is not None:
                grown[side] = box
        if not grown:
            break
        again = _segment_lungs(model, embedding, {**prompts, **grown}, settings)
        for side, box in grown.items():
            if again[side].any():
                masks[side], prompts[side] = again[side], box
    if settings.refine:
        refined_prompts = {}
        for side, mask in masks.items():
            box = mask_box(mask)
            refined_prompts[side] = (
                expand_box(box, settings.refine_margin, height, width) if box else prompts[side]
            )
        refined = _segment_lungs(model, embedding, refined_prompts, settings)
        for side in masks:
            if refined[side].any():
                masks[side], prompts[side] = refined[side], refined_prompts[side]
    methods = {}
    for side, lung in lungs.items():
        if not masks[side].any():
            masks[side] = _fallback_mask(lung, prompts[side], (height, width))
            methods[f"{side}_lung"] = f"threshold ({lung.source} box)"
        else:
            methods[f"{side}_lung"] = model.name + (
                "" if lung.source == "detected" else f" ({lung.source} box)"
            )
    _separate(masks["right"], masks["left"], prompts)

    heart = None
    prompt = heart_prompt(masks["right"], masks["left"])
    if prompt is not None:
        heart_box, base = prompt
        prompts["heart"] = heart_box
        prediction = model.segment(embedding, [heart_box])
        heart = largest_component(prediction.masks(settings.mask_threshold)[0])
        heart[int(np.ceil(base)) :, :] = False
        if heart.sum() < 0.15 * heart_box.area:
            heart = None
    methods["heart"] = model.name
    seconds["decode"] = time.perf_counter() - t

    t = time.perf_counter()
    regions = derive_regions(
        masks["right"],
        masks["left"],
        heart,
        methods=methods,
        heart_box=prompts.get("heart"),
        keep_masks=settings.keep_masks,
    )
    seconds["regions"] = time.perf_counter() - t
    return AnatomyResult(
        regions=regions,
        right_lung=masks["right"],
        left_lung=masks["left"],
        heart=heart,
        prompts=prompts,
        lung_box_sources={s: f.source for s, f in lungs.items()},
        seconds=seconds,
    )


def _segment_lungs(
    model: PromptableSegmenter, embedding, prompts: dict[str, Box], settings: LocalizerSettings
) -> dict[str, np.ndarray]:
    prediction = model.segment(embedding, [prompts["right"], prompts["left"]])
    raw = prediction.masks(settings.mask_threshold)
    return {"right": largest_component(raw[0]), "left": largest_component(raw[1])}
