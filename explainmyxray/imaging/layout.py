"""Does this image look like a frontal chest radiograph, and which way round are its grey levels?

Two measurements on a small (128 px) copy of the image, both cheap and model-free:

*Mirror symmetry.* A frontal (PA/AP) chest is close to left/right symmetric about the spine. For
each candidate axis in the middle quarter of the width we correlate the left half with the mirrored
right half, after removing what the two halves share row by row (the top-to-bottom brightness
trend, which every image has). The best correlation is the symmetry score and its column the axis.
Correlation is unchanged when the grey levels are inverted, so symmetry does not depend on polarity.

*Column profile.* In a frontal chest shown bright = dense, the mean brightness of the lung rows
(25–65 % of the height) across the width has a peak on the axis (spine, mediastinum) and two valleys
on either side (the lungs). We correlate that profile with a template that is +1 within 12 % of the
half-width of the axis and -1 between 20 % and 65 % of it. The sign of that correlation is the
polarity: about +0.8 on real positives, the same magnitude negative on their inverses.

Calibrated on the 16 frontal chests under ``shared/data`` (NIH, TBX11K, covid-chestxray, OpenCXR,
JSRT, SIIM CR, the RG1 15-bit CR): symmetry 0.65–0.94, profile +0.76–+0.96. The lateral thorax of a
dog (veterinary DX) scores symmetry 0.28. Polarity is only judged on images that pass the symmetry
test; on anything else (a lateral, a limb, a dog) the profile means nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from .thresholds import (
    CONFIDENT_INVERSION_PROFILE,
    FRONTAL_MIN_SYMMETRY,
    INVERTED_MAX_PROFILE,
)

ANALYSIS_SIDE = 128


@dataclass(frozen=True)
class ChestLayout:
    """What the layout analysis measured on one image."""

    symmetry: float
    axis: float
    profile: float

    @property
    def frontal(self) -> bool:
        return self.symmetry >= FRONTAL_MIN_SYMMETRY

    @property
    def inverted(self) -> bool:
        return self.frontal and self.profile <= INVERTED_MAX_PROFILE

    @property
    def confidently_inverted(self) -> bool:
        return self.frontal and self.profile <= CONFIDENT_INVERSION_PROFILE


def thumbnail(pixels: np.ndarray, side: int = ANALYSIS_SIDE) -> np.ndarray:
    """Area-averaged copy whose longer side is ``side`` pixels (never enlarged)."""
    h, w = pixels.shape
    scale = min(1.0, side / max(h, w))
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    image = Image.fromarray(np.ascontiguousarray(pixels, dtype=np.float32), mode="F")
    return np.asarray(image.resize(size, Image.Resampling.BOX), dtype=np.float32)


def _stretch(small: np.ndarray) -> np.ndarray:
    lo, hi = np.percentile(small, [1, 99])
    if hi - lo < 1e-6:
        return np.zeros_like(small)
    return np.clip((small - lo) / (hi - lo), 0.0, 1.0)


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    a = a.ravel() - a.mean()
    b = b.ravel() - b.mean()
    denom = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / denom) if denom > 1e-12 else 0.0


def _mirror_symmetry(small: np.ndarray) -> tuple[float, int]:
    h, w = small.shape
    rows = small[int(0.1 * h) : max(int(0.9 * h), int(0.1 * h) + 1)]
    best, best_axis = -1.0, w // 2
    for axis in range(int(0.38 * w), int(0.62 * w) + 1):
        half = min(axis, w - axis)
        if half < 0.3 * w or half < 2:
            continue
        left = rows[:, axis - half : axis]
        right = rows[:, axis : axis + half][:, ::-1]
        shared = (left.mean(axis=1, keepdims=True) + right.mean(axis=1, keepdims=True)) / 2
        score = _correlation(left - shared, right - shared)
        if score > best:
            best, best_axis = score, axis
    return best, best_axis


def _profile_correlation(small: np.ndarray, axis: int) -> float:
    h, w = small.shape
    profile = small[int(0.25 * h) : max(int(0.65 * h), int(0.25 * h) + 1)].mean(axis=0)
    x = np.abs(np.arange(w) - axis) / (w / 2)
    template = np.where(x < 0.12, 1.0, np.where((x > 0.2) & (x < 0.65), -1.0, 0.0))
    used = template != 0
    if used.sum() < 4 or (template[used] > 0).all() or (template[used] < 0).all():
        return 0.0
    return _correlation(profile[used], template[used])


def analyse_layout(pixels: np.ndarray) -> ChestLayout:
    """Measure mirror symmetry and column-profile polarity of a 2-D image (any value range)."""
    small = _stretch(thumbnail(pixels))
    if min(small.shape) < 8:
        return ChestLayout(symmetry=0.0, axis=0.5, profile=0.0)
    symmetry, axis = _mirror_symmetry(small)
    return ChestLayout(
        symmetry=round(symmetry, 4),
        axis=round(axis / small.shape[1], 4),
        profile=round(_profile_correlation(small, axis), 4),
    )
