"""Loading PaliGemma 2 (Gemma 2 with a SigLIP vision tower) through transformers' own classes.

Precisions: ``bf16``, ``nf4`` (bitsandbytes 4-bit, as for MedGemma) and ``fp32``. No remote
code, safetensors only. The loading itself is shared with MedGemma:
:class:`explainmyxray.models.vision_language.runner.VisionLanguageRunner`.
"""

from __future__ import annotations

from typing import Any

from ..runner import VisionLanguageRunner

PRECISIONS = ("bf16", "nf4", "fp32")


class PaliGemmaRunner(VisionLanguageRunner):
    """A loaded PaliGemma: ``model`` (eval mode), ``processor`` (left padding), ``device``."""

    precisions = PRECISIONS

    def transformers_classes(self) -> tuple[Any, Any]:
        from transformers import PaliGemmaForConditionalGeneration, PaliGemmaProcessor

        return PaliGemmaForConditionalGeneration, PaliGemmaProcessor
