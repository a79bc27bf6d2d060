"""Radiograph pixels to Pillow images, downscaling, and ``data:`` URIs for offline HTML."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np
from PIL import Image

MAX_OUTPUT_SIDE = 2048


def pixels_to_image(pixels: np.ndarray) -> Image.Image:
    """A grayscale ``L`` image from float pixels in [0, 1] (bright = dense); NaNs become black."""
    array = np.asarray(pixels, dtype=np.float32)
    if array.ndim == 3:
        array = array.mean(axis=-1)
    if array.ndim != 2 or array.size == 0:
        raise ValueError(f"expected an H x W pixel array, got shape {array.shape}")
    array = np.nan_to_num(array, nan=0.0, posinf=1.0, neginf=0.0)
    return Image.fromarray(np.round(np.clip(array, 0.0, 1.0) * 255).astype(np.uint8), mode="L")


def output_scale(width: int, height: int, max_side: int = MAX_OUTPUT_SIDE) -> float:
    """The factor that brings the long side down to ``max_side`` (1.0 when already small)."""
    long_side = max(width, height)
    return 1.0 if long_side <= max_side else max_side / long_side


def fit(image: Image.Image, max_side: int) -> Image.Image:
    """``image`` downscaled (Lanczos) so its long side is at most ``max_side``."""
    scale = output_scale(image.width, image.height, max_side)
    if scale >= 1.0:
        return image
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS)


def data_uri(image: Image.Image, fmt: str = "JPEG", quality: int = 88) -> str:
    """The image encoded as a base64 ``data:`` URI (JPEG keeps chroma at full resolution)."""
    buffer = io.BytesIO()
    if fmt.upper() == "JPEG":
        rgb = image if image.mode in ("L", "RGB") else image.convert("RGB")
        rgb.save(buffer, format="JPEG", quality=quality, subsampling=0, optimize=True)
        mime = "image/jpeg"
    else:
        image.save(buffer, format="PNG", compress_level=6)
        mime = "image/png"
    return f"data:{mime};base64,{base64.b64encode(buffer.getvalue()).decode('ascii')}"


def file_data_uri(path: Path, max_side: int, quality: int = 88) -> str:
    """An image file, downscaled to ``max_side``, as a JPEG ``data:`` URI."""
    with Image.open(path) as image:
        image.load()
        return data_uri(fit(image, max_side), quality=quality)
