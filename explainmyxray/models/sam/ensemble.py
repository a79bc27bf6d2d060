"""Two or more box-promptable segmenters as one: masks fused by the mean of their probabilities.

Every member encodes the image once (:meth:`EnsembleSegmenter.embed` keeps one embedding per
member); for each box prompt the members' mask probabilities (sigmoid of their logits, already in
original pixels) are averaged, and the fused mask is where the mean exceeds the step's
threshold. With two members at threshold 0.5 a pixel needs, on average, more than even support:
one confident model can carry one hesitant one, two hesitant ones do not make a mask. The lung,
heart and region geometry of :func:`~explainmyxray.anatomy.segment.segment_anatomy` then runs on
the fused masks unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ...anatomy.segmenter import MaskPrediction
from ...core.case import Box

LOGIT_LIMIT = 30.0
"""Fused probabilities are turned back into logits clipped to +-30 (sigmoid's float32 range)."""


class EnsembleSegmenter:
    """Mean-probability fusion of ``members`` (each a ``PromptableSegmenter``)."""

    def __init__(self, members: Sequence[Any]) -> None:
        if len(members) < 2:
            raise ValueError("an ensemble needs at least two segmenters")
        self.members = list(members)
        self.name = "+".join(m.name for m in self.members)

    def embed(self, pixels: np.ndarray) -> list[Any]:
        """One embedding per member, each made once."""
        return [m.embed(pixels) for m in self.members]

    def segment(self, embedding: list[Any], boxes: Sequence[Box]) -> MaskPrediction:
        """The members' masks for ``boxes``, fused by the mean of their probabilities."""
        predictions = [m.segment(e, boxes) for m, e in zip(self.members, embedding, strict=True)]
        probability = np.mean([_sigmoid(p.logits) for p in predictions], axis=0)
        with np.errstate(divide="ignore"):
            logits = np.log(probability) - np.log1p(-probability)
        logits = np.clip(logits, -LOGIT_LIMIT, LOGIT_LIMIT).astype(np.float32)
        iou = np.mean([p.iou for p in predictions], axis=0).astype(np.float32)
        return MaskPrediction(logits=logits, iou=iou)


def _sigmoid(logits: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * logits.astype(np.float64)))
