"""Acquisition variants of a radiograph with a manual lung mask, for robustness benchmarks.

Each variant changes the image the way another hospital's radiographs differ (exposure, a
portable AP's low contrast and noise, a large detector's wide field with a collimated border,
a tight crop, a tilted patient, an off-centre patient on a landscape detector) and moves the
mask with it, so lung Dice can be measured on more than the images' one acquisition. Images
are 2-D float arrays in ``[0, 1]``, bright = dense.
"""

from __future__ import annotations

import numpy as np

Pair = tuple[np.ndarray, np.ndarray]


def _placed(image: np.ndarray, mask: np.ndarray, shape: tuple[int, int], y: int, x: int) -> Pair:
    """``image`` on a dark canvas of ``shape`` (a collimated border) at row ``y``, column ``x``."""
    canvas = np.full(shape, 0.05, np.float32)
    moved = np.zeros(shape, bool)
    h, w = image.shape
    canvas[y : y + h, x : x + w] = image
    moved[y : y + h, x : x + w] = mask
    return canvas, moved


def acquisition_variants(image: np.ndarray, mask: np.ndarray, seed: int = 0) -> dict[str, Pair]:
    """The original and seven variants of ``image`` with its ``mask`` moved alongside."""
    from scipy import ndimage as ndi

    rng = np.random.default_rng(seed)
    h, w = image.shape
    image = image.astype(np.float32)
    blurred = ndi.gaussian_filter(image, 1.5)
    portable = 0.25 + 0.5 * blurred + rng.normal(0.0, 0.03, image.shape)
    ty, tx = int(0.06 * h), int(0.04 * w)
    tilted = ndi.rotate(image, 6, reshape=False, order=1, mode="nearest")
    tilted_mask = ndi.rotate(mask.astype(np.float32), 6, reshape=False, order=1) > 0.5
    return {
        "original": (image, mask),
        "underexposed": (image**1.8, mask),
        "overexposed": (image**0.55, mask),
        "portable_low_contrast": (np.clip(portable, 0.0, 1.0).astype(np.float32), mask),
        "wide_field": _placed(image, mask, (int(1.35 * h), int(1.2 * w)), int(0.05 * h), w // 10),
        "tight_crop": (image[ty : h - ty, tx:], mask[ty : h - ty, tx:]),
        "tilted": (tilted, tilted_mask),
        "off_centre": _placed(image, mask, (h, int(1.3 * w)), 0, w // 4),
    }
