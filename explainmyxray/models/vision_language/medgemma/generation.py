"""Batched report generation with a loaded MedGemma runner.

:func:`generate_batch` is the one entry point the plugin calls; a faster path (static KV cache,
``torch.compile``, length bucketing) can replace it behind the same signature.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..generation import GenerationSettings, generate_answers, on_runner_device
from ..generation import to_pil as to_pil
from .prompt import chat_messages

if TYPE_CHECKING:
    from PIL import Image

    from .runner import MedGemmaRunner


def prepare_inputs(
    runner: MedGemmaRunner,
    images: Sequence[Image.Image],
    prompts: Sequence[str],
    pad_to_multiple_of: int | None = None,
) -> Any:
    """Tokenized, left-padded chat inputs with pixel values, on the runner's device and dtype.

    With ``pad_to_multiple_of`` the batch is padded to a multiple of that many tokens (length
    buckets, so that a compiled decoder sees few shapes).
    """
    if len(images) != len(prompts):
        raise ValueError(f"{len(images)} images but {len(prompts)} prompts")
    processor = runner.processor
    texts = [
        processor.apply_chat_template(chat_messages(p), add_generation_prompt=True, tokenize=False)
        for p in prompts
    ]
    padding: dict[str, Any] = {}
    if pad_to_multiple_of is not None:
        padding["pad_to_multiple_of"] = pad_to_multiple_of
    # The chat template writes <bos> itself.
    inputs = processor(
        text=texts,
        images=[[image] for image in images],
        padding=True,
        **padding,
        add_special_tokens=False,
        return_tensors="pt",
    )
    return on_runner_device(inputs, runner)


def generate_batch(
    runner: MedGemmaRunner,
    images: Sequence[Image.Image],
    prompts: Sequence[str],
    gen_config: GenerationSettings,
) -> list[str]:
    """One decoded answer per (image, prompt) pair, generated together as one batch."""
    return generate_answers(runner, prepare_inputs, images, prompts, gen_config)
