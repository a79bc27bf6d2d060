"""Retrieve similar reference cases from an index, with BiomedCLIP or a text-only MiniLM backend.

``backend: biomedclip`` embeds each case's radiograph and searches the index's image
embeddings (or, in a text-only index, its report embeddings: BiomedCLIP's image and text share
one space). ``backend: minilm`` embeds each case's report text (the generated report, else the
supplied one) with all-MiniLM-L6-v2 and searches the index's report embeddings.

With ``zero_shot: true`` (BiomedCLIP only) each case also gets a zero-shot probability per
PadChest finding. A retrieve step can only return similar cases, so the probabilities land on
``case.scores`` in place, as one score ``biomedclip.zeroshot`` whose ``details`` map each finding
to its probability and whose value is the largest of them (read them back with
:func:`zero_shot_of`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from explainmyxray import hookimpl
from explainmyxray.core.case import Case, RetrievedCase, Score
from explainmyxray.core.context import StepContext
from explainmyxray.core.errors import ConfigError, InputError
from explainmyxray.core.plugin_api import ModelRequest
from explainmyxray.models.biomedclip.spec import BIOMEDCLIP, biomedclip_spec, workspace_bytes
from explainmyxray.models.minilm.spec import MINILM, WORKSPACE_PER_TEXT, minilm_spec

PLUGIN = "biomedclip"
ZERO_SHOT_METRIC = "biomedclip.zeroshot"
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
def retrieve(cases: Sequence[Case], step: StepContext) -> list[list[RetrievedCase] | Exception]:
    options: RetrieveOptions = step.options  # type: ignore[assignment]
    runner = step.model(options.model_name)
    index = open_index(step.resolve(options.index)) if options.index else None
    if index is not None:
        index.check(runner.identity)
    if options.backend == "minilm":
        return _retrieve_by_text(cases, runner, index, options)
    return _retrieve_by_image(cases, runner, index, options)


def _retrieve_by_image(
    cases: Sequence[Case], runner: Any, index: Any, options: RetrieveOptions
) -> list[list[RetrievedCase] | Exception]:
    results: list[list[RetrievedCase] | Exception] = [[] for _ in cases]
    ready = []
    for position, case in enumerate(cases):
        if case.image is None or case.image.pixels is None:
            results[position] = InputError(f"case {case.id}: no decoded image to retrieve with")
        else:
            ready.append(position)
    if not ready:
        return results
    images = [cases[i].image.pixels for i in ready]  # type: ignore[union-attr]
    embeddings = runner.embed_images(images, batch_size=options.batch_size)
    if index is not None:
        kind = "image" if index.has_images else "text"
        found = index.search(embeddings, options.top_k, kind=kind, min_score=options.min_score)
        for position, similar in zip(ready, found, strict=True):
            results[position] = similar
    if options.zero_shot:
        from explainmyxray.models.biomedclip.zeroshot import (
            canonical_labels,
            default_labels,
            probabilities_from_embeddings,
        )

        labels = (
            canonical_labels(options.zero_shot_labels)
            if options.zero_shot_labels is not None
            else default_labels()
        )
        probabilities = probabilities_from_embeddings(runner, embeddings, labels)
        for position, probs in zip(ready, probabilities, strict=True):
            attach_zero_shot(cases[position], probs)
    return results


def _retrieve_by_text(
    cases: Sequence[Case], runner: Any, index: Any, options: RetrieveOptions
) -> list[list[RetrievedCase] | Exception]:
    results: list[list[RetrievedCase] | Exception] = [[] for _ in cases]
    ready: list[int] = []
    texts: list[str] = []
    for position, case in enumerate(cases):
        text = query_text(case)
        if text is None:
            results[position] = InputError(
                f"case {case.id}: no report text to retrieve with (the minilm backend reads "
                f"the generated or supplied report)"
            )
            continue
        ready.append(position)
        texts.append(text)
    if ready:
        embeddings = runner.embed_texts(texts, batch_size=options.batch_size)
        found = index.search(embeddings, options.top_k, kind="text", min_score=options.min_score)
        for position, similar in zip(ready, found, strict=True):
            results[position] = similar
    return results


def query_text(case: Case) -> str | None:
    """The text a case is retrieved by: its report's text, else the supplied report."""
    from explainmyxray.models.report_text import report_text

    text = report_text(case.report)
    if text is None and case.supplied_report and case.supplied_report.strip():
        text = case.supplied_report
    return text


def attach_zero_shot(case: Case, probabilities: dict[str, float]) -> None:
    """Put (or replace) the case's ``biomedclip.zeroshot`` score."""
    case.scores = [s for s in case.scores if s.metric != ZERO_SHOT_METRIC]
    details: dict[str, Any] = {label: round(p, 4) for label, p in probabilities.items()}
    value = max(details.values()) if details else None
    case.scores.append(Score(metric=ZERO_SHOT_METRIC, value=value, details=details))


def zero_shot_of(case: Case) -> dict[str, float]:
    """The zero-shot probability of each finding a retrieve step attached to ``case``."""
    for score in case.scores:
        if score.metric == ZERO_SHOT_METRIC:
            return {label: float(p) for label, p in score.details.items()}
    return {}


def open_index(path: Path) -> Any:
    """The index at ``path``, opened once per version of its metadata (cached across batches)."""
    from explainmyxray.retrieval.index import METADATA

    meta = Path(path) / METADATA
    stamp = os.stat(meta).st_mtime_ns if meta.is_file() else 0
    return _open_cached(str(Path(path).resolve()), stamp)


@lru_cache(maxsize=4)
def _open_cached(path: str, stamp: int) -> Any:
    from explainmyxray.retrieval.index import ReferenceIndex

    return ReferenceIndex.open(Path(path))
