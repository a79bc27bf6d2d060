"""Batched report generation with a loaded MedGemma runner.

:func:`generate_batch` is the one entry point the plugin calls; a faster path (static KV cache,
``torch.compile``, length bucketing) can replace it behind the same signature.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from explainmyxray.core.errors import ModelError

from ..generation_common import generate_and_decode
from .prompt import chat_messages

if TYPE_CHECKING:
    from PIL import Image

    from .runner import MedGemmaRunner


@dataclass(frozen=True)
class GenerationSettings:
    """Decoding settings; greedy (``do_sample=False``) unless sampling is asked for."""

    max_new_tokens: int = 384
    min_new_tokens: int | None = None
    do_sample: bool = False
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int | None = None
    repetition_penalty: float = 1.0
    seed: int | None = None

    def to_transformers(self, model: Any) -> Any:
        from transformers import GenerationConfig

        settings = asdict(self)
        settings.pop("seed")
        if not self.do_sample:  # sampling knobs would only draw warnings under greedy decoding
            for key in ("temperature", "top_p", "top_k"):
                settings.pop(key)
        base = getattr(model, "generation_config", None)
        config = GenerationConfig.from_dict(base.to_dict()) if base is not None else None
        if config is None:
            return GenerationConfig(**settings)
        if not self.do_sample:
            config.temperature, config.top_p, config.top_k = None, None, None
        config.update(**settings)
        return config


def to_pil(pixels: np.ndarray) -> Image.Image:
    """A float [0, 1] grayscale array as the 8-bit RGB image the processor expects."""
    from PIL import Image

    if pixels.ndim != 2:
        raise ModelError(f"expected a 2-D grayscale image, got shape {pixels.shape}")
    gray = np.clip(np.nan_to_num(pixels, nan=0.0), 0.0, 1.0)
    return Image.fromarray((gray * 255.0 + 0.5).astype(np.uint8), mode="L").convert("RGB")


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
    inputs = inputs.to(runner.device)
    if "pixel_values" in inputs:
        inputs["pixel_values"] = inputs["pixel_values"].to(runner.compute_dtype)
    return inputs


def generate_batch(
    runner: MedGemmaRunner,
    images: Sequence[Image.Image],
    prompts: Sequence[str],
    gen_config: GenerationSettings,
) -> list[str]:
    """One decoded answer per (image, prompt) pair, generated together as one batch."""
    if not images:
        return []
    if not runner.loaded:
        raise ModelError(f"model {runner.spec.name!r} is not loaded")
    inputs = prepare_inputs(runner, images, prompts)
    return generate_and_decode(runner.model, runner.processor, inputs, gen_config)
