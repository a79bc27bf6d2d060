"""What the localizer needs from a segmentation model: encode an image once, then masks per box.

:func:`~.segment.segment_anatomy` works with any :class:`PromptableSegmenter`: LiteMedSAM
(:mod:`explainmyxray.models.sam.litemedsam`), MedSAM ViT-B (:mod:`explainmyxray.models.sam.medsam`),
or an ensemble of segmenters (:class:`~explainmyxray.models.sam.ensemble.EnsembleSegmenter`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..core.case import Box


@dataclass
class MaskPrediction:
    """Masks for a batch of box prompts, in original pixels."""

    logits: np.ndarray
    """float32 (N, H, W); a pixel is in the mask where its logit exceeds the threshold's logit."""
    iou: np.ndarray
    """The model's own estimate of each mask's IoU, (N,)."""

    def masks(self, threshold: float = 0.5) -> np.ndarray:
        """Boolean masks (N, H, W) at probability ``threshold``."""
        if not 0.0 < threshold < 1.0:
            raise ValueError(f"mask threshold must be in (0, 1), got {threshold}")
        return self.logits > float(np.log(threshold / (1.0 - threshold)))


@runtime_checkable
class PromptableSegmenter(Protocol):
    """A box-promptable segmentation model. Boxes and masks are in original image pixels."""

    name: str
    """Written into each region's ``method`` (e.g. ``"litemedsam"``, ``"medsam"``)."""

    def embed(self, pixels: np.ndarray) -> Any:
        """Encode a 2-D image once; the result is passed to :meth:`segment` for every prompt."""
        ...

    def segment(self, embedding: Any, boxes: Sequence[Box]) -> MaskPrediction:
        """One mask per box prompt, from an embedding :meth:`embed` made."""
        ...
