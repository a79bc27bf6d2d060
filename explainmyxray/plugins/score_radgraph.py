"""RadGraph F1 of each report against a reference report.

The hypothesis is the report's text (else its rendering); the reference comes from the
``reference`` JSONL file (one ``{"id" or "image": ..., "report": ...}`` per line; ``image``
matches a case's source path, file name or file stem) or, failing that, from the report the
user supplied with the image. Scores (see :mod:`explainmyxray.models.radgraph.model`):
``radgraph_f1`` (the partial, RG_ER level, with both graphs in its details),
``radgraph_f1_simple`` and ``radgraph_f1_complete``. A case with no text or no reference gets
``radgraph_f1`` with value None and the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from explainmyxray import hookimpl
from explainmyxray.core.case import Case, Score
from explainmyxray.core.context import StepContext
from explainmyxray.core.plugin_api import ModelRequest
from explainmyxray.models.radgraph.model import ARCHIVES, WORKSPACE_BYTES, radgraph_spec
from explainmyxray.models.radgraph.scoring import load_references, score_cases

RECORD_FORM = '{"id" or "image": ..., "report": "..."}'


class RadGraphOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    model: Literal["radgraph", "radgraph-xl"] = "radgraph"
    weights: Path | None = Field(
        default=None,
        description="the model archive (radgraph.tar.gz), its folder, or the extracted folder",
    )
    encoder: Path | None = Field(
        default=None, description="a local folder with the encoder's config.json and tokenizer"
    )
    reference: Path | None = Field(
        default=None, description='JSONL of {"id" or "image": ..., "report": ...} references'
    )


def model_requests(options: RadGraphOptions) -> list[ModelRequest]:
    settings = {"encoder": options.encoder.expanduser()} if options.encoder else {}
    return [
        ModelRequest(
            options.model,
            weights=options.weights.expanduser() if options.weights else None,
            settings=settings,
            workspace_bytes=WORKSPACE_BYTES,
        )
    ]


@hookimpl
def register_stages(register) -> None:
    register(
        "score",
        options=RadGraphOptions,
        models=model_requests,
        description="RadGraph F1 (entities and relations) of the report against a reference",
    )


@hookimpl
def register_models(register) -> None:
    for model_type in ARCHIVES:
        register(radgraph_spec(model_type))


@hookimpl
def score(cases: Sequence[Case], step: StepContext[RadGraphOptions]) -> list[list[Score]]:
    options = step.options
    references = load_references(step.resolve(options.reference)) if options.reference else {}
    return score_cases(cases, step.model(options.model), references, model=options.model)
