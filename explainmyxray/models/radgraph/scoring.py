"""RadGraph F1 of reports against reference reports: which texts to compare, the three scores.

The hypothesis is a case's report text (else its rendering); the reference comes from a JSONL
file (one ``{"id" or "image": ..., "report": ...}`` per line; ``image`` matches a case's source
path, file name or file stem) or, failing that, from the report the user supplied with the image.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ...core.case import Case, Score
from ...core.errors import ConfigError
from ..report_text import report_text
from .model import f1_levels, graph


def score_cases(
    cases: Sequence[Case], runner: Any, references: dict[str, str], *, model: str
) -> list[list[Score]]:
    """Per case, its RadGraph F1 scores; ``radgraph_f1`` with value None and the reason where
    there is no text or no reference. Each distinct text is annotated once."""
    pairs: dict[int, tuple[str, str, str]] = {}
    results: list[list[Score]] = [[] for _ in cases]
    for index, case in enumerate(cases):
        hypothesis = report_text(case.report)
        reference, source = reference_for(case, references)
        reason = _why_not(hypothesis, reference, source)
        if reason is not None:
            results[index] = [Score(metric="radgraph_f1", value=None, details={"reason": reason})]
        else:
            assert hypothesis is not None and reference is not None
            pairs[index] = (hypothesis, reference, source)
    if not pairs:
        return results
    texts = list(dict.fromkeys(t for h, r, _ in pairs.values() for t in (h, r)))
    annotations = dict(zip(texts, runner.annotate(texts), strict=True))
    for index, (hypothesis, reference, source) in pairs.items():
        results[index] = scores(
            annotations[hypothesis], annotations[reference], model=model, source=source
        )
    return results


def scores(
    hypothesis: dict[str, Any], reference: dict[str, Any], *, model: str, source: str
) -> list[Score]:
    """The three RadGraph F1 scores of one report pair, from their annotations."""
    levels = f1_levels(hypothesis, reference)
    common = {"model": model, "reference_source": source}
    return [
        Score(
            metric="radgraph_f1",
            value=levels["partial"],
            details={
                **common,
                "level": "partial (RG_ER: entities and whether they have a relation)",
                **levels,
                "hypothesis": graph(hypothesis),
                "reference": graph(reference),
            },
        ),
        Score(metric="radgraph_f1_simple", value=levels["simple"], details=common),
        Score(metric="radgraph_f1_complete", value=levels["complete"], details=common),
    ]


def _why_not(hypothesis: str | None, reference: str | None, source: str) -> str | None:
    if hypothesis is None:
        return "the case has no report text to score"
    if reference is None or not reference.strip():
        return "no reference report for this case (set `reference:` or supply a report)"
    if source == "supplied report" and hypothesis.split() == reference.split():
        return "the report is the supplied report itself; give a `reference:` file"
    return None


def reference_for(case: Case, references: dict[str, str]) -> tuple[str | None, str]:
    """The reference text of ``case`` and where it came from."""
    source = case.input_file
    for key in (case.id, str(source), source.name, source.stem):
        if key in references:
            return references[key], "reference file"
    if case.supplied_report:
        return case.supplied_report, "supplied report"
    return None, ""


def load_references(path: Path) -> dict[str, str]:
    """Reference texts keyed by id, and by image path, file name and stem (unless ambiguous)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise ConfigError(f"cannot read the reference file {path}: {exc}") from exc
    by_key: dict[str, str] = {}
    by_image: dict[str, str] = {}
    ambiguous: set[str] = set()
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError as exc:
            raise ConfigError(f"{path}:{number}: not JSON: {exc}") from exc
        if not isinstance(record, dict) or not isinstance(record.get("report"), str):
            raise ConfigError(
                f'{path}:{number}: expected {{"id" or "image": ..., "report": "..."}}'
            )
        if "id" not in record and "image" not in record:
            raise ConfigError(f'{path}:{number}: a reference needs an "id" or an "image"')
        if "id" in record:
            by_key[str(record["id"])] = record["report"]
        if "image" in record:
            image = str(record["image"])
            by_key[image] = record["report"]
            for key in (Path(image).name, Path(image).stem):
                if key in by_image and by_image[key] != record["report"]:
                    ambiguous.add(key)
                by_image[key] = record["report"]
    for key, text in by_image.items():
        if key not in ambiguous:
            by_key.setdefault(key, text)
    return by_key
