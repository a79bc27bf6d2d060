"""What every SAM-style segmenter shares: the image embedding, the normalised input canvas and
box prompts mapped between original pixels and the network's square input frame.

torch is imported inside functions only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...anatomy.segmenter import MaskPrediction
from ...core.case import Box


@dataclass
class ImageEmbedding:
    """One image, encoded once: the embedding and the geometry needed to map back."""

    features: Any
    """torch tensor (1, 256, 64, 64)."""
    height: int
    width: int
    resized_height: int
    resized_width: int

    @property
    def scale_x(self) -> float:
        return self.resized_width / self.width

    @property
    def scale_y(self) -> float:
        return self.resized_height / self.height


def normalized_canvas(resized: np.ndarray, side: int) -> np.ndarray:
    """``resized`` min-max normalised to [0, 1], zero-padded at the bottom and right to a square."""
    lo, hi = float(resized.min()), float(resized.max())
    resized = (resized - lo) / max(hi - lo, 1e-8)
    canvas = np.zeros((side, side), np.float32)
    canvas[: resized.shape[0], : resized.shape[1]] = resized
    return canvas


def segment_boxes(
    net: Any, embedding: ImageEmbedding, boxes: Sequence[Box], device: str, input_side: int
) -> MaskPrediction:
    """Masks of a SAM-family ``net`` for box prompts, mapped between original pixels and its input.

    Boxes are scaled per axis into the ``input_side`` frame; the low-resolution mask logits are
    upsampled to that frame where they are smaller, cropped to the resized image (unless it fills
    the frame) and interpolated bilinearly back to the original height and width.
    """
    import torch
    import torch.nn.functional as F

    h, w = embedding.height, embedding.width
    if not boxes:
        return MaskPrediction(np.zeros((0, h, w), np.float32), np.zeros(0, np.float32))
    sx, sy = embedding.scale_x, embedding.scale_y
    coords = [[b.x0 * sx, b.y0 * sy, b.x1 * sx, b.y1 * sy] for b in boxes]
    prompt = torch.tensor(coords, dtype=torch.float32, device=device)[:, None, :]
    with torch.inference_mode():
        sparse, dense = net.prompt_encoder(points=None, boxes=prompt, masks=None)
        low_res, iou = net.mask_decoder(
            image_embeddings=embedding.features,
            image_pe=net.prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=False,
        )
        logits = low_res.float()
        rh, rw = embedding.resized_height, embedding.resized_width
        if (rh, rw) != (input_side, input_side):
            if tuple(logits.shape[-2:]) != (input_side, input_side):
                logits = F.interpolate(
                    logits, (input_side, input_side), mode="bilinear", align_corners=False
                )
            logits = logits[..., :rh, :rw]
        full = F.interpolate(logits, size=(h, w), mode="bilinear", align_corners=False)
    return MaskPrediction(logits=full[:, 0].cpu().numpy(), iou=iou[:, 0].float().cpu().numpy())
