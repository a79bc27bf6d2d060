"""MedGemma-4B writes the report: FINDINGS, LOCATIONS and IMPRESSION in PadChest terms.

The model loads at nf4 (4-bit, about 3.3 GB) by default, or bf16 / fp32, with an optional PEFT
LoRA adapter. Reports of similar cases from a ``retrieve`` step can be given as context. The
answer is parsed into a :class:`StructuredReport` that keeps the raw text.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import Field

from explainmyxray import hookimpl
from explainmyxray.core.case import Case, StructuredReport
from explainmyxray.core.context import StepContext
from explainmyxray.core.plugin_api import ModelRequest
from explainmyxray.models.vision_language.medgemma.spec import (
    MEDGEMMA_4B,
    estimate_workspace,
    medgemma_4b_spec,
)
from explainmyxray.models.vision_language.step import GeneratorOptions, generate_reports
from explainmyxray.report.from_text import report_from_text, reports_from_supplied

SOURCE = "medgemma"


class MedGemmaOptions(GeneratorOptions):
    """Options of the ``generate: medgemma`` step."""

    model: str = Field(default=MEDGEMMA_4B, description="registered model name")
    adapter: Path | None = Field(default=None, description="PEFT LoRA adapter folder")
    precision: Literal["nf4", "bf16", "fp32", "auto"] = Field(
        default="nf4", description="auto: the best precision that fits the memory budget"
    )
    batch_size: int = Field(default=8, ge=1, le=256)
    fast: bool = Field(
        default=True,
        description="length-sorted batches, bucketed padding, a static KV cache and (on CUDA) "
        "the decoding step replayed as a CUDA graph; greedy answers equal the plain path's",
    )
    length_bucket: int = Field(default=64, ge=1, description="pad prompts to a multiple of this")
    cuda_graph: bool = Field(
        default=True, description="replay the fast path's decoding step as a CUDA graph"
    )
    without_weights: Literal["error", "supplied-report"] = Field(
        default="error",
        description="when no weights are given and none are in the Hugging Face cache: fail, "
        "or parse the report the user supplied (--report or <image>.txt) instead",
    )


def weights_unavailable(options: MedGemmaOptions) -> bool:
    """True when the step falls back to the supplied report: no weights given, none cached."""
    if options.without_weights != "supplied-report" or options.weights is not None:
        return False
    from explainmyxray.registry.weights import locate_weights

    return locate_weights(medgemma_4b_spec()) is None


def model_requests(options: MedGemmaOptions) -> list[ModelRequest]:
    """The one model the step needs, with the memory a batch needs to generate (none when
    the step falls back to the supplied report)."""
    if weights_unavailable(options):
        return []

    adapter = options.adapter.expanduser() if options.adapter else None
    workspace = estimate_workspace(
        batch_size=options.batch_size,
        prompt_chars=options.prompt_chars(),
        max_context_tokens=options.context_tokens(),
        max_new_tokens=options.max_new_tokens,
        adapter=adapter is not None,
    )
    return [options.model_request(workspace, adapter=adapter)]


@hookimpl
def register_stages(register) -> None:
    register(
        "generate",
        options=MedGemmaOptions,
        models=model_requests,
        description="MedGemma-4B (optionally with a LoRA adapter) writes a PadChest report",
    )


@hookimpl
def register_models(register) -> None:
    register(medgemma_4b_spec())


@hookimpl
def generate(
    cases: Sequence[Case], step: StepContext[MedGemmaOptions]
) -> list[StructuredReport | Exception]:
    from explainmyxray.models.vision_language.medgemma import generation

    options = step.options
    if weights_unavailable(options):
        note = (
            f"MedGemma weights are not on this machine (explainmyxray models pull "
            f"{options.model}); the supplied report was parsed instead"
        )
        no_report = (
            f"no report was generated: no generator weights (explainmyxray models pull "
            f"{options.model}) and no supplied report (--report TEXT or <image>.txt)"
        )
        return reports_from_supplied(cases, source="supplied", note=note, no_report=no_report)
    runner = step.model(options.model)
    settings = options.generation()
    if not options.fast:
        return generate_reports(
            cases,
            runner,
            options,
            lambda images, prompts: generation.generate_batch(runner, images, prompts, settings),
            lambda text: report_from_text(text, SOURCE),
            batch_size=options.batch_size,
        )
    from explainmyxray.models.vision_language.medgemma.fast import FastSettings, generate_fast

    fast = FastSettings(
        batch_size=options.batch_size, bucket=options.length_bucket, cuda_graph=options.cuda_graph
    )
    # All cases in one call: generate_fast sorts them by length and batches them itself.
    return generate_reports(
        cases,
        runner,
        options,
        lambda images, prompts: generate_fast(runner, images, prompts, settings, fast),
        lambda text: report_from_text(text, SOURCE),
    )
