"""Generation steps that every transformers vision-language generator shares."""

from __future__ import annotations

from typing import Any


def generate_and_decode(model: Any, processor: Any, inputs: Any, settings: Any) -> list[str]:
    """Generate from left-padded ``inputs``; return each row's new tokens decoded and stripped.

    ``settings`` is a :class:`~explainmyxray.models.medgemma.generation.GenerationSettings`;
    its seed is applied only when sampling.
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
