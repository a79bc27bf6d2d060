"""MedSAM (SAM ViT-B fine-tuned on medical images): box prompts in, masks out, original pixels.

Preprocessing follows MedSAM's published inference script (``MedSAM_Inference.py``), not SAM's
``SamPredictor``: the grey image is resized to 1024x1024 (bicubic; ``resize="stretch"``, the
aspect ratio is not kept), min-max normalised to ``[0, 1]``, copied to three channels and fed to
the image encoder directly, without SAM's pixel mean/std. Box prompts are scaled per axis into
that 1024 frame (``box / [W, H, W, H] * 1024``) and the 256x256 mask logits are interpolated
bilinearly back to the original H x W. ``resize="longest_side"`` uses SAM's geometry instead
(longest side to 1024, zero padding at the bottom and right, logits upsampled to 1024, cropped
to the resized image, then resized to the original), with the same [0, 1] intensities.

One image embedding serves any number of prompts (:meth:`MedSAM.embed`, then
:meth:`MedSAM.segment`). In ``fp16``/``bf16`` only the image encoder (95 % of the weights)
is cast; the prompt encoder and mask decoder stay fp32, and the embedding is cast back to fp32.
torch is imported inside functions only.
"""

from __future__ import annotations

import gc
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np

from ....anatomy.segmenter import MaskPrediction
from ....core.case import Box
from ....core.errors import ModelError
from ..prompts import ImageEmbedding, normalized_canvas, segment_boxes
from .architecture import INPUT_SIDE

Resize = Literal["stretch", "longest_side"]


def preprocess(pixels: np.ndarray, resize: Resize = "stretch") -> tuple[np.ndarray, int, int]:
    """The 1024x1024 [0, 1] input plane and the resized image's (height, width) inside it."""
    from PIL import Image

    if pixels.ndim != 2:
        raise ValueError(f"expected a 2-D grey image, got shape {pixels.shape}")
    h, w = pixels.shape
    if resize == "stretch":
        rh = rw = INPUT_SIDE
    elif resize == "longest_side":
        scale = INPUT_SIDE / max(h, w)
        rh, rw = max(1, round(h * scale)), max(1, round(w * scale))
    else:
        raise ValueError(f"unknown resize {resize!r} (stretch or longest_side)")
    image = Image.fromarray(np.asarray(pixels, dtype=np.float32))
    resized = np.asarray(image.resize((rw, rh), Image.BICUBIC), dtype=np.float32)
    canvas = normalized_canvas(resized, INPUT_SIDE)
    return canvas, rh, rw


class MedSAM:
    """A loaded MedSAM network on one device (a ``PromptableSegmenter``)."""

    name = "medsam"

    def __init__(self, net: Any, device: str, resize: Resize = "stretch") -> None:
        self.net = net
        self.device = device
        self.resize: Resize = resize

    def close(self) -> None:
        """Drop the network and free its memory."""
        self.net = None
        gc.collect()

    def _require(self) -> Any:
        if self.net is None:
            raise ModelError("MedSAM is not loaded (it was unloaded)")
        return self.net

    def embed(self, pixels: np.ndarray) -> ImageEmbedding:
        """Encode a 2-D image (any size, any range) once for later prompts."""
        import torch

        net = self._require()
        canvas, rh, rw = preprocess(pixels, self.resize)
        encoder = net.image_encoder
        dtype = next(encoder.parameters()).dtype
        tensor = torch.from_numpy(canvas).to(self.device, dtype)[None, None].expand(1, 3, -1, -1)
        with torch.inference_mode():
            features = encoder(tensor.contiguous()).float()
        h, w = pixels.shape
        return ImageEmbedding(features, h, w, rh, rw)

    def segment(self, embedding: ImageEmbedding, boxes: Sequence[Box]) -> MaskPrediction:
        """One mask per box prompt (boxes in original pixels), from one image embedding."""
        return segment_boxes(self._require(), embedding, boxes, self.device, INPUT_SIDE)
