"""A retrieve step's work: embed each case (its radiograph, or its report text), search a
reference index, and optionally attach zero-shot finding probabilities.

With zero-shot labels each case also gets one score ``biomedclip.zeroshot`` whose ``details``
map each finding to its probability and whose value is the largest of them (read them back with
:func:`zero_shot_of`). Runners are duck-typed: ``embed_images``/``embed_texts`` and
``identity``; nothing here imports torch.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from ..core.case import Case, RetrievedCase, Score
from ..core.errors import InputError

ZERO_SHOT_METRIC = "biomedclip.zeroshot"


@dataclass(frozen=True)
class Search:
    """How a retrieve step searches: how many references, the lowest similarity, batch size."""

    top_k: int = 5
    min_score: float | None = None
    batch_size: int = 16


def retrieve_by_image(
    cases: Sequence[Case],
    runner: Any,
    index: Any,
    search: Search,
    *,
    zero_shot_labels: list[str] | None = None,
) -> list[list[RetrievedCase] | Exception]:
    """Each case's similar references by its radiograph's embedding (``runner.embed_images``);
    with ``zero_shot_labels``, a zero-shot probability per label on ``case.scores`` too."""
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
    embeddings = runner.embed_images(images, batch_size=search.batch_size)
    if index is not None:
        kind = "image" if index.has_images else "text"
        found = index.search(embeddings, search.top_k, kind=kind, min_score=search.min_score)
        for position, similar in zip(ready, found, strict=True):
            results[position] = similar
    if zero_shot_labels is not None:
        from ..models.biomedclip.zeroshot import probabilities_from_embeddings

        probabilities = probabilities_from_embeddings(runner, embeddings, zero_shot_labels)
        for position, probs in zip(ready, probabilities, strict=True):
            attach_zero_shot(cases[position], probs)
    return results


def retrieve_by_text(
    cases: Sequence[Case], runner: Any, index: Any, search: Search
) -> list[list[RetrievedCase] | Exception]:
    """Each case's similar references by its report text's embedding (``runner.embed_texts``)."""
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
        embeddings = runner.embed_texts(texts, batch_size=search.batch_size)
        found = index.search(embeddings, search.top_k, kind="text", min_score=search.min_score)
        for position, similar in zip(ready, found, strict=True):
            results[position] = similar
    return results


def query_text(case: Case) -> str | None:
    """The text a case is retrieved by: its report's text, else the supplied report."""
    from ..models.report_text import report_text

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
    from .index import METADATA

    meta = Path(path) / METADATA
    stamp = os.stat(meta).st_mtime_ns if meta.is_file() else 0
    return _open_cached(str(Path(path).resolve()), stamp)


@lru_cache(maxsize=4)
def _open_cached(path: str, stamp: int) -> Any:
    from .index import ReferenceIndex

    return ReferenceIndex.open(Path(path))
