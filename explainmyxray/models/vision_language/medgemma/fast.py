"""The high-throughput generation path: length-sorted batches, bucketed padding, static KV cache.

What makes per-image ``generate`` slow on a GPU is not arithmetic but the host launching hundreds
of small kernels per token. This path removes that overhead the way serving engines do:

* **Batching with length bucketing.** Requests are sorted by prompt length and cut into batches,
  so a batch pads little; each batch is left-padded to a multiple of ``bucket`` tokens.
* **A static KV cache and a CUDA graph.** Every batch has the same shape (the last one is padded
  with repeated rows), so one decoder — one cache, one captured decoding step — serves them all
  (:class:`~explainmyxray.models.vision_language.static_decoding.StaticDecoder`).
* Sampling and repetition penalties go through ``generate`` with a static cache instead.

Greedy answers are the same as the plain path's (:func:`..generation.generate_batch`): padding is
masked, and ordering is undone before returning. ``tests/models/test_medgemma_fast.py`` checks it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from explainmyxray.core.errors import ModelError

from ..static_decoding import StaticDecoder, pad_rows, padded_length
from .generation import GenerationSettings, prepare_inputs

if TYPE_CHECKING:
    from PIL import Image

    from .runner import MedGemmaRunner


@dataclass(frozen=True)
class FastSettings:
    batch_size: int = 16
    bucket: int = 64
    cuda_graph: bool = True
    """Replay the decoding step as a CUDA graph (CUDA only; the CPU decodes eagerly)."""
    vision_chunk: int | None = 4
    """Images per vision-tower pass in the prefill (None: the whole batch at once)."""


def plan_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of similar prompt length (longest first)."""
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def _special_tokens(config: Any) -> tuple[list[int], int]:
    eos = config.eos_token_id
    eos_ids = [] if eos is None else [eos] if isinstance(eos, int) else list(eos)
    pad = config.pad_token_id if config.pad_token_id is not None else (eos_ids or [0])[0]
    return eos_ids, int(pad)


class FastGenerator:
    """Generates batches of one fixed shape; keeps its decoder (cache, graph) between calls."""

    def __init__(self, runner: MedGemmaRunner, settings: GenerationSettings, fast: FastSettings):
        self.runner, self.settings, self.fast = runner, settings, fast
        self.config = settings.to_transformers(runner.model)
        self.greedy = not settings.do_sample and settings.repetition_penalty == 1.0
        if not self.greedy:  # sampling and penalties go through generate
            self.config.cache_implementation = "static"
        self.decoder: StaticDecoder | None = None

    def _decoder_for(self, prompt_tokens: int) -> StaticDecoder:
        needed = prompt_tokens + self.settings.max_new_tokens
        if self.decoder is None or self.decoder.length < needed:
            eos, pad = _special_tokens(self.config)
            self.decoder = StaticDecoder(
                self.runner.model,
                batch=self.fast.batch_size,
                length=padded_length(needed, self.fast.bucket),
                max_new_tokens=self.settings.max_new_tokens,
                eos_token_ids=eos,
                pad_token_id=pad,
                min_new_tokens=self.settings.min_new_tokens or 0,
                cuda_graph=self.fast.cuda_graph,
                vision_chunk=self.fast.vision_chunk,
            )
        return self.decoder

    def generate(self, inputs: Any) -> Any:
        """New tokens for each row of one left-padded batch."""
        import torch

        rows = inputs["input_ids"].shape[0]
        if not self.greedy:
            with torch.inference_mode():
                output = self.runner.model.generate(**inputs, generation_config=self.config)
            return output[:, inputs["input_ids"].shape[1] :]
        decoder = self._decoder_for(inputs["input_ids"].shape[1])
        return decoder.generate(pad_rows(inputs, self.fast.batch_size))[:rows]


def generate_fast(
    runner: MedGemmaRunner,
    images: Sequence[Image.Image],
    prompts: Sequence[str],
    settings: GenerationSettings,
    fast: FastSettings | None = None,
    generator: FastGenerator | None = None,
) -> list[str]:
    """One decoded answer per (image, prompt), in input order; see the module docstring.

    Pass the same ``generator`` to successive calls to keep its decoder (and CUDA graph).
    """
    import torch

    fast = fast or FastSettings()
    if len(images) != len(prompts):
        raise ValueError(f"{len(images)} images but {len(prompts)} prompts")
    if not images:
        return []
    if not runner.loaded:
        raise ModelError(f"model {runner.spec.name!r} is not loaded")
    generator = generator or FastGenerator(runner, settings, fast)
    answers: list[str | None] = [None] * len(prompts)
    lengths = [runner.count_tokens(p) for p in prompts]
    if settings.do_sample and settings.seed is not None:
        torch.manual_seed(settings.seed)
    for batch in plan_batches(lengths, fast.batch_size):
        inputs = prepare_inputs(
            runner, [images[i] for i in batch], [prompts[i] for i in batch], fast.bucket
        )
        texts = runner.processor.batch_decode(generator.generate(inputs), skip_special_tokens=True)
        for index, text in zip(batch, texts, strict=True):
            answers[index] = text.strip()
    return answers  # type: ignore[return-value]
