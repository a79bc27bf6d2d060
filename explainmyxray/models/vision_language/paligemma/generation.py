"""Batched report generation with a loaded PaliGemma runner.

PaliGemma has no chat template: its prompt is the image tokens, ``<bos>``, the text and a
newline (the prefix, attended to in full), and the answer follows. The processor writes that
layout from ``<image>`` + text; the text is MedGemma's PadChest instruction
(:func:`explainmyxray.models.vision_language.medgemma.prompt.build_prompt`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..generation import GenerationSettings, generate_answers, on_runner_device

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
    return on_runner_device(inputs, runner)


def generate_batch(
    runner: PaliGemmaRunner,
    images: Sequence[Image.Image],
    prompts: Sequence[str],
    settings: GenerationSettings,
) -> list[str]:
    """One decoded answer per (image, prompt) pair, generated together as one batch."""
    return generate_answers(runner, prepare_inputs, images, prompts, settings)
