"""CheXbert as a verifier: read each report's text into CheXpert labels, compare with its findings.

The text is the report's own (``case.report.text``), else the report rendered from its
structure. With ``combine_with_rules: true`` the rule-based CheXpert labeler reads the text
too and the two readings are merged (see :mod:`explainmyxray.models.chexbert.compare`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from explainmyxray import hookimpl
from explainmyxray.core.case import Case, StructuredReport, Verification
from explainmyxray.core.context import StepContext
from explainmyxray.core.errors import ConfigError, StageError
from explainmyxray.core.plugin_api import ModelRequest
from explainmyxray.models.chexbert import (
    canonical_label,
    chexbert_spec,
    compare,
    merge_readings,
    normalize_reading,
    workspace_bytes,
)
from explainmyxray.models.chexbert.compare import ToCheXpert
from explainmyxray.models.report_text import report_text

PLUGIN = "chexbert"


class CheXbertOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: str = "chexbert"
    weights: Path | None = Field(
        default=None, description="a local chexbert.pth (or the folder holding it)"
    )
    tokenizer: Path | None = Field(
        default=None, description="a local bert-base-uncased folder (vocab.txt at least)"
    )
    precision: str | None = Field(default=None, description="fp32, fp16, bf16 or auto")
    batch_size: int = Field(default=16, ge=1, le=512)
    combine_with_rules: bool = False


def model_requests(options: CheXbertOptions) -> list[ModelRequest]:
    settings = {"tokenizer": options.tokenizer.expanduser()} if options.tokenizer else {}
    return [
        ModelRequest(
            options.model,
            precision=options.precision,
            weights=options.weights.expanduser() if options.weights else None,
            settings=settings,
            workspace_bytes=workspace_bytes(options.batch_size, options.precision),
        )
    ]


@hookimpl
def register_stages(register) -> None:
    register(
        "verify",
        options=CheXbertOptions,
        models=model_requests,
        description="read the report text with CheXbert into 14 CheXpert labels and compare",
    )


@hookimpl
def register_models(register) -> None:
    register(chexbert_spec())


@hookimpl
def verify(cases: Sequence[Case], step: StepContext) -> list[Verification | Exception]:
    options: CheXbertOptions = step.options  # type: ignore[assignment]
    rules = rule_labeler() if options.combine_with_rules else None
    texts: list[str] = []
    positions: list[int] = []
    results: list[Verification | Exception | None] = [None] * len(cases)
    for index, case in enumerate(cases):
        text = report_text(case.report)
        if text is None:
            results[index] = StageError("verify", PLUGIN, _why_no_text(case.report))
            continue
        texts.append(text)
        positions.append(index)
    runner = step.model(options.model)
    readings = runner.label(texts, batch_size=options.batch_size) if texts else []
    to_chexpert = chexpert_mapper()
    for index, text, reading in zip(positions, texts, readings, strict=True):
        report = cases[index].report
        assert report is not None
        notes: dict[str, str] = {}
        if rules is not None:
            reading, notes = merge_readings(reading, normalize_reading(dict(rules(text))))
        results[index] = compare(report.findings, reading, to_chexpert, notes=notes)
    return [r for r in results if r is not None]


def _why_no_text(report: StructuredReport | None) -> str:
    if report is None:
        return "the case has no report to verify (run a generate step first)"
    return "the report has no text and could not be rendered from its findings"


def chexpert_mapper() -> ToCheXpert:
    """Finding label -> CheXpert observation(s): the report ontology's map, else the name."""
    try:
        from explainmyxray.report.ontology import load_ontology
    except ImportError:
        return canonical_label
    ontology = load_ontology()

    def to_chexpert(label: str) -> str | Sequence[str] | None:
        mapped: Any = ontology.to_chexpert(label)
        return mapped or canonical_label(label)

    return to_chexpert


def rule_labeler() -> Callable[[str], Any]:
    try:
        from explainmyxray.labeler import chexpert_labels
    except ImportError as exc:
        raise ConfigError(
            "verify (chexbert): combine_with_rules needs the rule-based labeler "
            f"(explainmyxray.labeler), which is not available: {exc}"
        ) from exc
    return chexpert_labels
