"""CheXbert as a verifier: read each report's text into CheXpert labels, compare with its findings.

The text is the report's own (``case.report.text``), else the report rendered from its
structure. With ``combine_with_rules: true`` the rule-based CheXpert labeler reads the text
too and the two readings are merged (see :mod:`explainmyxray.models.chexbert.compare`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from explainmyxray import hookimpl
from explainmyxray.core.case import Case, Verification
from explainmyxray.core.context import StepContext
from explainmyxray.core.plugin_api import ModelRequest
from explainmyxray.models.chexbert import chexbert_spec, workspace_bytes
from explainmyxray.models.chexbert.verify import verify_reports

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
def verify(
    cases: Sequence[Case], step: StepContext[CheXbertOptions]
) -> list[Verification | Exception]:
    options = step.options
    return verify_reports(
        cases,
        step.model(options.model),
        batch_size=options.batch_size,
        combine_with_rules=options.combine_with_rules,
    )
