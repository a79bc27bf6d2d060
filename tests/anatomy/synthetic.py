"""A drawn 'chest' for tests that need no weights: body, two dark lungs, bright mediastinum."""

from __future__ import annotations

import numpy as np

LUNG_RY_FRACTION = 0.30


def ellipse(shape: tuple[int, int], cx: float, cy: float, rx: float, ry: float) -> np.ndarray:
    ys, xs = np.ogrid[: shape[0], : shape[1]]
    return ((xs - cx) / rx) ** 2 + ((ys - cy) / ry) ** 2 <= 1.0


def chest(
    height: int = 360, width: int = 400, *, left_lung: bool = True
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pixels, image-left lung mask, image-right lung mask) of a simple drawn radiograph."""
    shape = (height, width)
    pixels = np.full(shape, 0.05, np.float32)
    pixels[ellipse(shape, width / 2, height * 0.55, width * 0.45, height * 0.6)] = 0.75
    right = ellipse(shape, width * 0.31, height * 0.45, width * 0.12, height * LUNG_RY_FRACTION)
    left = ellipse(shape, width * 0.69, height * 0.45, width * 0.12, height * LUNG_RY_FRACTION)
    pixels[right] = 0.2
    if left_lung:
        pixels[left] = 0.2
    rng = np.random.default_rng(0)
    pixels += rng.normal(0, 0.01, shape).astype(np.float32)
    return np.clip(pixels, 0, 1), right, left
