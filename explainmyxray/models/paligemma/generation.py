"""Batched report generation with a loaded PaliGemma runner.

PaliGemma has no chat template: its prompt is the image tokens, ``<bos>``, the text and a
newline (the prefix, attended to in full), and the answer follows. The processor writes that
layout from ``<image>`` + text; the text is MedGemma's PadChest instruction
(:func:`explainmyxray.models.medgemma.prompt.build_prompt`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from explainmyxray.core.errors import ModelError

from ..generation_common import generate_and_decode
from ..medgemma.generation import GenerationSettings

if TYPE_CHECKING:
    from PIL import Image

    from .runner import PaliGemmaRunner

IMAGE_TOKEN = "<image>"


def prepare_inputs(
    runner: PaliGemmaRunner, images: Sequence[Image.Image], prompts: Sequence[str]
) -> Any:
    """Tokenized, left-padded prefixes with pixel values, on the runner's device and dtype."""
    if len(images) != len(prompts):
        raise ValueError(f"{len(images)} images but {len(prompts)} prompts")
    inputs = runner.processor(
        text=[IMAGE_TOKEN + p for p in prompts],
        images=list(images),
        padding=True,
        return_tensors="pt",
    )
    inputs.pop("labels", None)  # the processor adds training labels; generate must not see them
    inputs = inputs.to(runner.device)
    inputs["pixel_values"] = inputs["pixel_values"].to(runner.compute_dtype)
    return inputs


def generate_batch(
    runner: PaliGemmaRunner,
    images: Sequence[Image.Image],
    prompts: Sequence[str],
    settings: GenerationSettings,
) -> list[str]:
    """One decoded answer per (image, prompt) pair, generated together as one batch."""
    if not images:
        return []
    if not runner.loaded:
        raise ModelError(f"model {runner.spec.name!r} is not loaded")
    inputs = prepare_inputs(runner, images, prompts)
    return generate_and_decode(runner.model, runner.processor, inputs, settings)
