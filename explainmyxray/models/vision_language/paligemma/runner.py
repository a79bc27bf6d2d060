"""Loading PaliGemma 2 (Gemma 2 with a SigLIP vision tower) through transformers' own classes.

Precisions: ``bf16``, ``nf4`` (bitsandbytes 4-bit, as for MedGemma) and ``fp32``. No remote
code, safetensors only. The loading itself is shared with MedGemma:
:class:`explainmyxray.models.vision_language.runner.VisionLanguageRunner`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..runner import VisionLanguageRunner

if TYPE_CHECKING:
    from PIL import Image

PRECISIONS = ("bf16", "nf4", "fp32")


class PaliGemmaRunner(VisionLanguageRunner):
    """A loaded PaliGemma: ``model`` (eval mode), ``processor`` (left padding), ``device``."""

    precisions = PRECISIONS

    def transformers_classes(self) -> tuple[Any, Any]:
        from transformers import PaliGemmaForConditionalGeneration, PaliGemmaProcessor

        return PaliGemmaForConditionalGeneration, PaliGemmaProcessor

    def prepare_inputs(
        self, images: Sequence[Image.Image], prompts: Sequence[str], pad_to_multiple_of: int | None
    ) -> Any:
        from .generation import prepare_inputs

        return prepare_inputs(self, images, prompts, pad_to_multiple_of)
