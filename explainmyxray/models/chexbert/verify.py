"""CheXbert as a verifier: read each report's text into CheXpert labels, compare with its findings.

The text is the report's own (``case.report.text``), else the report rendered from its
structure. With ``combine_with_rules`` the rule-based CheXpert labeler reads the text too and
the two readings are merged (see :mod:`.compare`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from ...core.case import Case, StructuredReport, Verification
from ...core.errors import ConfigError, StageError
from ..report_text import report_text
from .compare import ToCheXpert, compare, merge_readings
from .labels import canonical_label, normalize_reading

PLUGIN = "chexbert"


def verify_reports(
    cases: Sequence[Case], runner: Any, *, batch_size: int = 16, combine_with_rules: bool = False
) -> list[Verification | Exception]:
    """One verification per case (a ``StageError`` where the case has no report text), reading
    the texts in batches of ``batch_size`` with ``runner.label``."""
    rules = rule_labeler() if combine_with_rules else None
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
    readings = runner.label(texts, batch_size=batch_size) if texts else []
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
        from ...report.ontology import load_ontology
    except ImportError:
        return canonical_label
    ontology = load_ontology()

    def to_chexpert(label: str) -> str | Sequence[str] | None:
        mapped: Any = ontology.to_chexpert(label)
        return mapped or canonical_label(label)

    return to_chexpert


def rule_labeler() -> Callable[[str], Any]:
    try:
        from ...labeler import chexpert_labels
    except ImportError as exc:
        raise ConfigError(
            "verify (chexbert): combine_with_rules needs the rule-based labeler "
            f"(explainmyxray.labeler), which is not available: {exc}"
        ) from exc
    return chexpert_labels
