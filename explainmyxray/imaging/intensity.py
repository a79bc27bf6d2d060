"""Grey-level helpers shared by the DICOM and raster readers: sampling, robust ranges, windows."""

from __future__ import annotations

import numpy as np

SAMPLE_PIXELS = 1 << 20
ROBUST_PERCENTILES = (0.5, 99.5)


def sample(pixels: np.ndarray, limit: int = SAMPLE_PIXELS) -> np.ndarray:
    """A regular subsample of at most about ``limit`` values (all of them for small images)."""
    flat = pixels.reshape(-1)
    step = max(1, flat.size // limit)
    return flat[::step]


def robust_range(
    pixels: np.ndarray, percentiles: tuple[float, float] = ROBUST_PERCENTILES
) -> tuple[float, float]:
    """Low and high percentiles of the values; what a window should span when none is given."""
    values = sample(pixels).astype(np.float64)
    lo, hi = np.percentile(values, percentiles)
    return float(lo), float(hi)


def rescale(pixels: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Map ``[lo, hi]`` linearly to ``[0, 1]`` (clipped), as float32."""
    if not np.isfinite(lo) or not np.isfinite(hi) or hi - lo <= 0:
        return np.zeros(pixels.shape, dtype=np.float32)
    out = (pixels.astype(np.float32) - np.float32(lo)) / np.float32(hi - lo)
    return np.clip(out, 0.0, 1.0, out=out)


def apply_window(pixels: np.ndarray, center: float, width: float, function: str) -> np.ndarray:
    """A DICOM VOI window (PS3.3 C.11.2.1.2) with output range ``[0, 1]``.

    ``function`` is the VOI LUT Function: LINEAR (the default), LINEAR_EXACT or SIGMOID.
    """
    x = pixels.astype(np.float32)
    if function == "SIGMOID":
        out = 1.0 / (1.0 + np.exp(-4.0 * (x - np.float32(center)) / np.float32(width)))
        return out.astype(np.float32)
    if function == "LINEAR_EXACT":
        lo, hi = center - width / 2, center + width / 2
    else:  # LINEAR: the standard's half-pixel-offset formula
        lo, hi = (center - 0.5) - (width - 1) / 2, (center - 0.5) + (width - 1) / 2
    return rescale(x, lo, hi)


def dynamic_range(pixels: np.ndarray) -> float:
    """Spread between the 1st and 99th percentile of values in ``[0, 1]``."""
    lo, hi = robust_range(pixels, (1.0, 99.0))
    return hi - lo


def saturated_fraction(pixels: np.ndarray) -> float:
    """Share of values at exactly 0 or 1: what a window clipped away."""
    values = sample(pixels)
    return float(np.mean((values <= 0.0) | (values >= 1.0)))


def effective_full_scale(pixels: np.ndarray) -> float:
    """The white level of integer data: 255 for 8-bit, else the smallest even bit depth >= 8
    (10, 12, 14, 16...) that holds the largest value. Float data: its maximum (at least 1).

    A 16-bit PNG that holds 12-bit data is scaled by 4095, not 65535, so it is not nearly black.
    """
    if pixels.dtype == np.uint8:
        return 255.0
    top = float(np.max(pixels)) if pixels.size else 0.0
    if pixels.dtype.kind == "f":
        return max(top, 1.0)
    bits = max(8, int(np.ceil(np.log2(top + 1.0))))
    bits += bits % 2
    return float(2**bits - 1)


def to_gray(rgb: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma of an ``H x W x 3`` array, as float32 in the input's units."""
    weights = np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return rgb[..., :3].astype(np.float32) @ weights


def colour_fraction(rgb: np.ndarray, full_scale: float) -> float:
    """Share of pixels whose channels differ by more than 8 % of full scale (radiographs: 0)."""
    flat = rgb.reshape(-1, rgb.shape[-1])[:, :3]
    values = flat[:: max(1, flat.shape[0] // SAMPLE_PIXELS)]
    chroma = values.max(axis=1).astype(np.float32) - values.min(axis=1).astype(np.float32)
    return float(np.mean(chroma > 0.08 * full_scale))
