"""MedGemma-4B writes the report: FINDINGS, LOCATIONS and IMPRESSION in PadChest terms.

The model loads at nf4 (4-bit, about 3.3 GB) by default, or bf16 / fp32, with an optional PEFT
LoRA adapter. Reports of similar cases from a ``retrieve`` step can be given as context. The
answer is parsed into a :class:`StructuredReport` that keeps the raw text.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from explainmyxray import hookimpl
from explainmyxray.core.case import Case, StructuredReport
from explainmyxray.core.context import StepContext
from explainmyxray.core.errors import InputError
from explainmyxray.core.plugin_api import ModelRequest
from explainmyxray.models.medgemma.spec import MEDGEMMA_4B, estimate_workspace, medgemma_4b_spec

SOURCE = "medgemma"
EMPTY_ANSWER = "the model returned an empty answer"


class MedGemmaOptions(BaseModel):
    """Options of the ``generate: medgemma`` step."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(default=MEDGEMMA_4B, description="registered model name")
    weights: Path | None = Field(
        default=None, description="local model folder; overrides the Hugging Face cache"
    )
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
    without_weights: Literal["error", "supplied-report"] = Field(
        default="error",
        description="when no weights are given and none are in the Hugging Face cache: fail, "
        "or parse the report the user supplied (--report or <image>.txt) instead",
    )
    instruction: str | None = Field(
        default=None,
        description="replaces the built-in instruction (e.g. the prompt an adapter was trained on)",
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


def weights_unavailable(options: MedGemmaOptions) -> bool:
    """True when the step falls back to the supplied report: no weights given, none cached."""
    if options.without_weights != "supplied-report" or options.weights is not None:
        return False
    from explainmyxray.registry.weights import locate_weights

    return locate_weights(medgemma_4b_spec()) is None


def model_requests(options: MedGemmaOptions) -> list[ModelRequest]:
    """The one model the step needs, with the memory a batch needs to generate (none when
    the step falls back to the supplied report)."""
    from explainmyxray.models.medgemma.prompt import instruction

    if weights_unavailable(options):
        return []

    adapter = options.adapter.expanduser() if options.adapter else None
    prompt = options.instruction if options.instruction is not None else instruction()
    workspace = estimate_workspace(
        batch_size=options.batch_size,
        prompt_chars=len(prompt),
        max_context_tokens=options.max_context_tokens if options.use_retrieved else 0,
        max_new_tokens=options.max_new_tokens,
        adapter=adapter is not None,
    )
    return [
        ModelRequest(
            options.model,
            precision=options.precision,
            weights=options.weights.expanduser() if options.weights else None,
            settings={"adapter": adapter},
            workspace_bytes=workspace,
        )
    ]


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
def generate(cases: Sequence[Case], step: StepContext) -> list[StructuredReport | Exception]:
    from explainmyxray.models.medgemma.generation import generate_batch, to_pil
    from explainmyxray.models.medgemma.prompt import build_prompt

    options: MedGemmaOptions = step.options  # type: ignore[assignment]
    if weights_unavailable(options):
        from explainmyxray.plugins.generate_supplied import reports_from_supplied

        note = (
            f"MedGemma weights are not on this machine (explainmyxray models pull "
            f"{options.model}); the supplied report was parsed instead"
        )
        return reports_from_supplied(cases, source="supplied", note=note)
    runner = step.model(options.model)
    settings = options.generation()
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
    if options.fast:
        from explainmyxray.models.medgemma.fast import FastSettings, generate_fast

        images = [to_pil(cases[i].image.pixels) for i in ready]  # type: ignore[union-attr]
        fast = FastSettings(
            batch_size=options.batch_size,
            bucket=options.length_bucket,
            cuda_graph=options.cuda_graph,
        )
        texts = generate_fast(runner, images, [prompts[i] for i in ready], settings, fast)
        for i, text in zip(ready, texts, strict=True):
            results[i] = report_from_text(text)
        return results  # type: ignore[return-value]
    for chunk in _chunks(ready, options.batch_size):
        images = [to_pil(cases[i].image.pixels) for i in chunk]  # type: ignore[union-attr]
        chunk_prompts = [prompts[i] for i in chunk]
        answers = generate_batch(runner, images, chunk_prompts, settings)
        for i, text in zip(chunk, answers, strict=True):
            results[i] = report_from_text(text)
    return results  # type: ignore[return-value]


def report_from_text(text: str, source: str = SOURCE) -> StructuredReport:
    """The structured report of one answer; the raw answer stays in ``text``.

    ``source`` names the generator (other generator plugins reuse this parsing path).
    """
    if not text.strip():
        return StructuredReport(text=text, source=source, warnings=[EMPTY_ANSWER])
    from explainmyxray.report.parse import parse_report

    report = parse_report(text, source=source)
    if report.text != text or report.source != source:
        report = report.model_copy(update={"text": text, "source": source})
    return report


def _chunks(items: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
