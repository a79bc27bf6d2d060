"""What the ``generate`` steps of the transformers generators (MedGemma, PaliGemma) share.

:class:`GeneratorOptions` holds the options every such step has (weights, decoding, retrieved
context, instruction); :func:`generate_reports` is the body of the hook: it fails imageless cases
alone, builds each prompt (MedGemma's PadChest instruction plus the retrieved reports) and hands
batches of images and prompts to the family's generation function. Nothing here imports torch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from explainmyxray.core.case import Case, StructuredReport
from explainmyxray.core.errors import InputError
from explainmyxray.core.plugin_api import ModelRequest

if TYPE_CHECKING:
    from PIL import Image

    from .generation import GenerationSettings

GenerateTexts = Callable[[list["Image.Image"], list[str]], list[str]]
"""``(images, prompts)`` to one answer each, in order."""


class GeneratorOptions(BaseModel):
    """The options every transformers generator step has.

    A family gives ``model``, ``precision`` and ``batch_size`` their defaults (and narrows
    ``precision`` to its precisions) and adds its own options.
    """

    model_config = ConfigDict(extra="forbid")

    model: str = Field(description="registered model name")
    weights: Path | None = Field(
        default=None, description="local model folder; overrides the Hugging Face cache"
    )
    precision: str = Field(description="auto: the best precision that fits the memory budget")
    batch_size: int = Field(ge=1, le=256)
    max_new_tokens: int = Field(default=384, ge=1, le=4096)
    min_new_tokens: int | None = Field(
        default=None, ge=1, description="generate at least this many tokens (benchmarks)"
    )
    do_sample: bool = False
    temperature: float = Field(default=1.0, gt=0.0)
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    top_k: int | None = Field(default=None, ge=1)
    repetition_penalty: float = Field(default=1.0, gt=0.0)
    seed: int | None = Field(default=None, description="seeds sampling (do_sample) only")
    use_retrieved: bool = Field(
        default=True, description="give the retrieved similar cases' reports as context"
    )
    max_context_tokens: int = Field(
        default=512, ge=0, description="token budget for the retrieved reports"
    )
    instruction: str | None = Field(
        default=None,
        description="replaces the built-in PadChest instruction (e.g. the prompt an adapter or "
        "a fine-tuned model was trained on)",
    )

    def generation(self) -> GenerationSettings:
        """The decoding settings these options ask for."""
        from .generation import GenerationSettings

        return GenerationSettings(
            max_new_tokens=self.max_new_tokens,
            min_new_tokens=self.min_new_tokens,
            do_sample=self.do_sample,
            temperature=self.temperature,
            top_p=self.top_p,
            top_k=self.top_k,
            repetition_penalty=self.repetition_penalty,
            seed=self.seed,
        )

    def prompt_chars(self) -> int:
        """Characters of the instruction that starts every prompt (for workspace estimates)."""
        from .medgemma.prompt import instruction

        return len(self.instruction if self.instruction is not None else instruction())

    def context_tokens(self) -> int:
        """The token budget of the retrieved reports in a prompt (0 when they are not used)."""
        return self.max_context_tokens if self.use_retrieved else 0

    def model_request(self, workspace_bytes: int, **settings: Any) -> ModelRequest:
        """The request for the step's model, keeping ``workspace_bytes`` free to generate."""
        return ModelRequest(
            self.model,
            precision=self.precision,
            weights=self.weights.expanduser() if self.weights else None,
            settings=settings,
            workspace_bytes=workspace_bytes,
        )


def generate_reports(
    cases: Sequence[Case],
    runner: Any,
    options: GeneratorOptions,
    generate: GenerateTexts,
    to_report: Callable[[str], StructuredReport],
    batch_size: int | None = None,
) -> list[StructuredReport | Exception]:
    """One report per case, in order; a case without a decoded image gets an InputError.

    ``generate`` gets the cases with images in batches of ``batch_size`` (all at once when
    ``None``); ``runner.count_tokens`` bounds the retrieved context.
    """
    from .generation import to_pil
    from .medgemma.prompt import build_prompt

    results: list[StructuredReport | Exception | None] = [None] * len(cases)
    ready = []
    for index, case in enumerate(cases):
        if case.image is None or case.image.pixels is None:
            results[index] = InputError(f"case {case.id}: no decoded image to report on")
        else:
            ready.append(index)
    prompts = {
        i: build_prompt(
            cases[i].retrieved if options.use_retrieved else (),
            max_context_tokens=options.max_context_tokens,
            count_tokens=runner.count_tokens,
            instruction_text=options.instruction,
        )
        for i in ready
    }
    step = batch_size or max(len(ready), 1)
    for start in range(0, len(ready), step):
        chunk = ready[start : start + step]
        images = [to_pil(cases[i].image.pixels) for i in chunk]  # type: ignore[union-attr]
        answers = generate(images, [prompts[i] for i in chunk])
        for i, text in zip(chunk, answers, strict=True):
            results[i] = to_report(text)
    return results  # type: ignore[return-value]
