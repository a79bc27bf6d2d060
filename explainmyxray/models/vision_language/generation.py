"""Generation steps that every transformers vision-language generator shares.

A family's ``generation`` module supplies only its ``prepare_inputs`` (how its processor wants
the image and the prompt); decoding settings, the image conversion and the batch call are here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from explainmyxray.core.errors import ModelError

if TYPE_CHECKING:
    from PIL import Image

PrepareInputs = Callable[[Any, Sequence["Image.Image"], Sequence[str]], Any]
"""``(runner, images, prompts)`` to the tokenized, left-padded batch on the runner's device."""


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


def on_runner_device(inputs: Any, runner: Any) -> Any:
    """``inputs`` moved to the runner's device, pixel values (if any) in its compute dtype."""
    inputs = inputs.to(runner.device)
    if "pixel_values" in inputs:
        inputs["pixel_values"] = inputs["pixel_values"].to(runner.compute_dtype)
    return inputs


def generate_answers(
    runner: Any,
    prepare_inputs: PrepareInputs,
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


def generate_and_decode(
    model: Any, processor: Any, inputs: Any, settings: GenerationSettings
) -> list[str]:
    """Generate from left-padded ``inputs``; return each row's new tokens decoded and stripped.

    The settings' seed is applied only when sampling.
    """
    import torch

    if settings.do_sample and settings.seed is not None:
        torch.manual_seed(settings.seed)
    with torch.inference_mode():
        output = model.generate(**inputs, generation_config=settings.to_transformers(model))
    # Left padding puts every prompt's end at the same column; what follows is new.
    new_tokens = output[:, inputs["input_ids"].shape[1] :]
    texts = processor.batch_decode(new_tokens, skip_special_tokens=True)
    return [t.strip() for t in texts]
