"""Grey radiographs to the CLIP input: shortest side resized (bicubic, antialiased), centre
crop, grey copied to three channels, normalised with the model's mean and standard deviation.

Working from the float pixels (not an 8-bit PIL image) keeps the bit depth of DICOM images and
makes the index build and the query take exactly the same path.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ...core.case import XrayImage
from ...core.errors import InputError

ImageInput = np.ndarray | XrayImage


def grey_pixels(image: ImageInput) -> np.ndarray:
    """The 2-D float32 pixels of an image input, or InputError."""
    pixels = image.pixels if isinstance(image, XrayImage) else image
    if pixels is None:
        raise InputError("the image has no decoded pixels")
    array = np.asarray(pixels, dtype=np.float32)
    if array.ndim == 3 and array.shape[-1] in (3, 4):
        array = array[..., :3].mean(axis=-1)
    if array.ndim != 2 or min(array.shape) < 2:
        raise InputError(f"expected a 2-D grey image, got an array of shape {array.shape}")
    return array


def image_tensor(pixels: np.ndarray, size: tuple[int, int]) -> Any:
    """One image as a (1, H, W) float32 tensor at the model's input size, values in [0, 1]."""
    import torch
    import torch.nn.functional as F

    height, width = pixels.shape
    target_h, target_w = size
    scale = max(target_h / height, target_w / width)
    new_h, new_w = max(target_h, round(height * scale)), max(target_w, round(width * scale))
    tensor = torch.from_numpy(np.ascontiguousarray(pixels))[None, None]
    if (new_h, new_w) != (height, width):
        tensor = F.interpolate(
            tensor, size=(new_h, new_w), mode="bicubic", antialias=True, align_corners=False
        )
    top, left = (new_h - target_h) // 2, (new_w - target_w) // 2
    tensor = tensor[..., top : top + target_h, left : left + target_w]
    return tensor.clamp_(0.0, 1.0)[0]


def image_batch(
    images: Sequence[ImageInput],
    size: tuple[int, int],
    mean: Sequence[float],
    std: Sequence[float],
    *,
    dtype: Any = None,
    device: str = "cpu",
) -> Any:
    """A normalised (N, 3, H, W) batch on ``device``."""
    import torch

    grey = torch.stack([image_tensor(grey_pixels(image), size) for image in images])
    rgb = grey.expand(-1, 3, -1, -1)
    mean_t = torch.tensor(list(mean), dtype=torch.float32).view(1, 3, 1, 1)
    std_t = torch.tensor(list(std), dtype=torch.float32).view(1, 3, 1, 1)
    batch = (rgb - mean_t) / std_t
    return batch.to(device=device, dtype=dtype or torch.float32)
