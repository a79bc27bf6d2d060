"""What the localizer needs from a segmentation model: encode an image once, then masks per box.

:func:`~.segment.segment_anatomy` works with any :class:`PromptableSegmenter`: LiteMedSAM
(:mod:`.litemedsam`), MedSAM ViT-B (:mod:`explainmyxray.models.medsam`), or an ensemble of
segmenters (:class:`~explainmyxray.models.medsam.ensemble.EnsembleSegmenter`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..core.case import Box
from .litemedsam import MaskPrediction


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
