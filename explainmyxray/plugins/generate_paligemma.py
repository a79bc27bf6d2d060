"""PaliGemma 2 (3B, 896 px) writes the report: a second generator family for ensembles.

It gets MedGemma's PadChest instruction (and, optionally, the retrieved similar reports) as a
plain-text prefix after the image, and its answer goes through the same parser as MedGemma's
into a :class:`StructuredReport` with ``source="paligemma"`` that keeps the raw text.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from explainmyxray import hookimpl
from explainmyxray.core.case import Case, StructuredReport
from explainmyxray.core.context import StepContext
from explainmyxray.core.errors import InputError
from explainmyxray.core.plugin_api import ModelRequest
from explainmyxray.models.paligemma.spec import (
    PALIGEMMA2_3B_896,
    estimate_workspace,
    paligemma2_3b_896_spec,
)

SOURCE = "paligemma"


class PaliGemmaOptions(BaseModel):
    """Options of the ``generate: paligemma`` step."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(default=PALIGEMMA2_3B_896, description="registered model name")
    weights: Path | None = Field(
        default=None, description="local model folder; overrides the Hugging Face cache"
    )
    precision: Literal["bf16", "nf4", "fp32", "auto"] = Field(
        default="bf16", description="auto: the best precision that fits the memory budget"
    )
    batch_size: int = Field(default=4, ge=1, le=256)
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
        description="replaces MedGemma's PadChest instruction (e.g. a fine-tuning prompt)",
    )

    def generation(self):
        from explainmyxray.models.medgemma.generation import GenerationSettings

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


def model_requests(options: PaliGemmaOptions) -> list[ModelRequest]:
    """The one model the step needs, with the memory a batch needs to generate."""
    from explainmyxray.models.medgemma.prompt import instruction

    prompt = options.instruction if options.instruction is not None else instruction()
    workspace = estimate_workspace(
        batch_size=options.batch_size,
        prompt_chars=len(prompt),
        max_context_tokens=options.max_context_tokens if options.use_retrieved else 0,
        max_new_tokens=options.max_new_tokens,
        precision=options.precision,
    )
    return [
        ModelRequest(
            options.model,
            precision=options.precision,
            weights=options.weights.expanduser() if options.weights else None,
            workspace_bytes=workspace,
        )
    ]


@hookimpl
def register_stages(register) -> None:
    register(
        "generate",
        options=PaliGemmaOptions,
        models=model_requests,
        description="PaliGemma 2 (3B, 896 px) writes a PadChest report (a second generator)",
    )


@hookimpl
def register_models(register) -> None:
    register(paligemma2_3b_896_spec())


@hookimpl
def generate(cases: Sequence[Case], step: StepContext) -> list[StructuredReport | Exception]:
    from explainmyxray.models.medgemma.generation import to_pil
    from explainmyxray.models.medgemma.prompt import build_prompt
    from explainmyxray.models.paligemma import generation
    from explainmyxray.plugins.generate_medgemma import report_from_text

    options: PaliGemmaOptions = step.options  # type: ignore[assignment]
    runner = step.model(options.model)
    settings = options.generation()
    results: list[StructuredReport | Exception | None] = [None] * len(cases)
    ready = []
    for index, case in enumerate(cases):
        if case.image is None or case.image.pixels is None:
            results[index] = InputError(f"case {case.id}: no decoded image to report on")
        else:
            ready.append(index)
    for start in range(0, len(ready), options.batch_size):
        chunk = ready[start : start + options.batch_size]
        images = [to_pil(cases[i].image.pixels) for i in chunk]  # type: ignore[union-attr]
        prompts = [
            build_prompt(
                cases[i].retrieved if options.use_retrieved else (),
                max_context_tokens=options.max_context_tokens,
                count_tokens=runner.count_tokens,
                instruction_text=options.instruction,
            )
            for i in chunk
        ]
        answers = generation.generate_batch(runner, images, prompts, settings)
        for i, text in zip(chunk, answers, strict=True):
            results[i] = report_from_text(text, source=SOURCE)
    return results  # type: ignore[return-value]
