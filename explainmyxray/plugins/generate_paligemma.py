"""PaliGemma 2 (3B, 896 px) writes the report: a second generator family for ensembles.

It gets MedGemma's PadChest instruction (and, optionally, the retrieved similar reports) as a
plain-text prefix after the image, and its answer goes through the same parser as MedGemma's
into a :class:`StructuredReport` with ``source="paligemma"`` that keeps the raw text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import Field

from explainmyxray import hookimpl
from explainmyxray.core.case import Case, StructuredReport
from explainmyxray.core.context import StepContext
from explainmyxray.core.plugin_api import ModelRequest
from explainmyxray.models.vision_language.paligemma.spec import (
    PALIGEMMA2_3B_896,
    estimate_workspace,
    paligemma2_3b_896_spec,
)
from explainmyxray.models.vision_language.step import GeneratorOptions, generate_reports
from explainmyxray.report.from_text import report_from_text

SOURCE = "paligemma"


class PaliGemmaOptions(GeneratorOptions):
    """Options of the ``generate: paligemma`` step."""

    model: str = Field(default=PALIGEMMA2_3B_896, description="registered model name")
    precision: Literal["bf16", "nf4", "fp32", "auto"] = Field(
        default="bf16", description="auto: the best precision that fits the memory budget"
    )
    batch_size: int = Field(default=4, ge=1, le=256)


def model_requests(options: PaliGemmaOptions) -> list[ModelRequest]:
    """The one model the step needs, with the memory a batch needs to generate."""
    workspace = estimate_workspace(
        batch_size=options.batch_size,
        prompt_chars=options.prompt_chars(),
        max_context_tokens=options.context_tokens(),
        max_new_tokens=options.max_new_tokens,
        precision=options.precision,
    )
    return [options.model_request(workspace)]


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
def generate(
    cases: Sequence[Case], step: StepContext[PaliGemmaOptions]
) -> list[StructuredReport | Exception]:
    from explainmyxray.models.vision_language.paligemma import generation

    options = step.options
    runner = step.model(options.model)
    settings = options.generation()
    return generate_reports(
        cases,
        runner,
        options,
        lambda images, prompts: generation.generate_batch(runner, images, prompts, settings),
        lambda text: report_from_text(text, source=SOURCE),
        batch_size=options.batch_size,
    )
