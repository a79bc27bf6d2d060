"""Loading MedGemma (Gemma 3 with a SigLIP vision tower) with an optional LoRA adapter.

Precisions: ``nf4`` (bitsandbytes 4-bit NormalFloat with double quantization, bf16 compute),
``bf16`` and ``fp32``. The loading itself is shared with PaliGemma:
:class:`explainmyxray.models.vision_language.runner.VisionLanguageRunner`.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from ..runner import VisionLanguageRunner
from ..runner import check_weights as check_weights
from .prompt import CHAT_TEMPLATE

log = logging.getLogger(__name__)

PRECISIONS = ("nf4", "bf16", "fp32")


class MedGemmaRunner(VisionLanguageRunner):
    """A loaded MedGemma: ``model`` (eval mode), ``processor`` (left padding), ``device``."""

    precisions = PRECISIONS

    def transformers_classes(self) -> tuple[Any, Any]:
        from transformers import AutoProcessor, Gemma3ForConditionalGeneration

        return Gemma3ForConditionalGeneration, AutoProcessor

    def configure_processor(self, processor: Any, weights: Path) -> None:
        if not getattr(processor, "chat_template", None):
            log.info("%s has no chat template; using Gemma's turn format", weights)
            processor.chat_template = CHAT_TEMPLATE
