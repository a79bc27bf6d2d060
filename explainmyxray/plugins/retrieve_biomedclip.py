"""Retrieve similar reference cases from an index, with BiomedCLIP or a text-only MiniLM backend.

``backend: biomedclip`` embeds each case's radiograph and searches the index's image
embeddings (or, in a text-only index, its report embeddings: BiomedCLIP's image and text share
one space). ``backend: minilm`` embeds each case's report text (the generated report, else the
supplied one) with all-MiniLM-L6-v2 and searches the index's report embeddings.

With ``zero_shot: true`` (BiomedCLIP only) each case also gets a zero-shot probability per
PadChest finding. A retrieve step can only return similar cases, so the probabilities land on
``case.scores`` in place, as one score ``biomedclip.zeroshot`` whose ``details`` map each finding
to its probability and whose value is the largest of them (read them back with
:func:`~explainmyxray.retrieval.retrieve.zero_shot_of`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from explainmyxray import hookimpl
from explainmyxray.core.case import Case, RetrievedCase
from explainmyxray.core.context import StepContext
from explainmyxray.core.errors import ConfigError
from explainmyxray.core.plugin_api import ModelRequest
from explainmyxray.models.biomedclip.spec import BIOMEDCLIP, biomedclip_spec, workspace_bytes
from explainmyxray.models.minilm.spec import MINILM, WORKSPACE_PER_TEXT, minilm_spec
from explainmyxray.retrieval.retrieve import (
    Search,
    open_index,
    retrieve_by_image,
    retrieve_by_text,
)

PLUGIN = "biomedclip"
DEFAULT_MODELS = {"biomedclip": BIOMEDCLIP, "minilm": MINILM}


class RetrieveOptions(BaseModel):
    """Options of the ``retrieve: biomedclip`` step."""

    model_config = ConfigDict(extra="forbid")

    index: Path | None = Field(
        default=None,
        description="reference index folder (explainmyxray index build); needed to retrieve",
    )
    top_k: int = Field(default=5, ge=1, le=1000)
    backend: Literal["biomedclip", "minilm"] = "biomedclip"
    model: str | None = Field(
        default=None, description="registered model name; default: biomedclip or minilm-l6"
    )
    weights: Path | None = Field(
        default=None, description="local model folder (local-dir:); overrides the default place"
    )
    precision: Literal["fp32", "fp16", "bf16", "auto"] | None = None
    batch_size: int = Field(default=16, ge=1, le=1024)
    zero_shot: bool = Field(default=False, description="add zero-shot finding probabilities")
    zero_shot_labels: list[str] | None = Field(
        default=None, description="PadChest findings to score; default: the 30 most frequent"
    )
    min_score: float | None = Field(
        default=None, ge=-1.0, le=1.0, description="drop references below this cosine similarity"
    )

    @model_validator(mode="after")
    def _coherent(self) -> RetrieveOptions:
        if self.index is None and not self.zero_shot:
            raise ValueError("'index' is required (or set zero_shot: true to only score findings)")
        if self.zero_shot and self.backend != "biomedclip":
            raise ValueError("zero_shot needs backend: biomedclip (MiniLM reads no images)")
        if self.zero_shot_labels is not None:
            from explainmyxray.models.biomedclip.zeroshot import canonical_labels

            try:
                canonical_labels(self.zero_shot_labels)
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
        return self

    @property
    def model_name(self) -> str:
        return self.model or DEFAULT_MODELS[self.backend]


def model_requests(options: RetrieveOptions) -> list[ModelRequest]:
    """The one embedding model the step needs; the planner anchors a relative weights folder
    to the pipeline file's folder."""
    if options.backend == "biomedclip":
        workspace = workspace_bytes(options.batch_size, options.precision)
    else:
        workspace = options.batch_size * WORKSPACE_PER_TEXT
    weights = str(options.weights).removeprefix("local-dir:") if options.weights else None
    return [
        ModelRequest(
            options.model_name,
            precision=options.precision,
            weights=Path(weights).expanduser() if weights else None,
            workspace_bytes=workspace,
        )
    ]


@hookimpl
def register_stages(register) -> None:
    register(
        "retrieve",
        options=RetrieveOptions,
        models=model_requests,
        description=(
            "similar reference cases from an index (BiomedCLIP images or MiniLM report text); "
            "optional zero-shot finding probabilities"
        ),
    )


@hookimpl
def register_models(register) -> None:
    register(biomedclip_spec())
    register(minilm_spec())


@hookimpl
def retrieve(
    cases: Sequence[Case], step: StepContext[RetrieveOptions]
) -> list[list[RetrievedCase] | Exception]:
    options = step.options
    runner = step.model(options.model_name)
    index = open_index(step.resolve(options.index)) if options.index else None
    if index is not None:
        index.check(runner.identity)
    search = Search(options.top_k, options.min_score, options.batch_size)
    if options.backend == "minilm":
        return retrieve_by_text(cases, runner, index, search)
    labels = None
    if options.zero_shot:
        from explainmyxray.models.biomedclip.zeroshot import canonical_labels, default_labels

        labels = (
            canonical_labels(options.zero_shot_labels)
            if options.zero_shot_labels is not None
            else default_labels()
        )
    return retrieve_by_image(cases, runner, index, search, zero_shot_labels=labels)
