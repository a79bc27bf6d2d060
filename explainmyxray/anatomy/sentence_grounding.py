"""Scoring sentence grounding: does each report sentence land on the regions a radiologist would
box? Used by ``benchmarks/grounding_sentences.py`` and its regression test.

A development set is a tab-separated file: the sentence, the expected findings (``;``-separated
PadChest labels, ``-`` for none present) and the expected region ids (space-separated, ``-`` for
none). Each sentence is read by :func:`explainmyxray.report.parse.parse_report` and grounded by
:func:`explainmyxray.anatomy.grounding.ground_report`; a sentence is grounded right when the union
of its present and uncertain findings' regions equals the expected set exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..core.case import Box, Region
from .regions import REGIONS


@dataclass(frozen=True)
class SentenceCase:
    sentence: str
    findings: tuple[str, ...]
    regions: frozenset[str]

    @property
    def negated(self) -> bool:
        return not self.findings


@dataclass(frozen=True)
class SentenceResult:
    case: SentenceCase
    findings: tuple[str, ...]
    regions: frozenset[str]

    @property
    def regions_right(self) -> bool:
        return self.regions == self.case.regions

    @property
    def findings_right(self) -> bool:
        return set(self.findings) == set(self.case.findings)


def read_cases(path: Path) -> list[SentenceCase]:
    """The development set's rows (see the module docstring)."""
    cases = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split("\t")
        if len(parts) != 3:
            raise ValueError(f"{path}:{number}: expected 3 tab-separated fields, got {len(parts)}")
        sentence, findings, regions = parts
        labels = () if findings.strip() == "-" else tuple(f.strip() for f in findings.split(";"))
        ids = frozenset() if regions.strip() == "-" else frozenset(regions.split())
        cases.append(SentenceCase(sentence, labels, ids))
    return cases


def _all_regions() -> list[Region]:
    box = Box(x0=0, y0=0, x1=1, y1=1)
    return [Region(id=r.id, name=r.name, color=r.color, box=box) for r in REGIONS]


def ground_sentence(case: SentenceCase) -> SentenceResult:
    """Read and ground one sentence."""
    from ..report.parse import parse_report
    from .grounding import ground_report

    report = parse_report(case.sentence, source="benchmark")
    grounded = ground_report(report, _all_regions())
    regions = frozenset(r.region for g in grounded for r in g.regions)
    findings = tuple(f.label for f in report.findings if f.status != "absent")
    return SentenceResult(case, findings, regions)


@dataclass(frozen=True)
class SentenceScore:
    sentences: int
    abnormal: int
    negated: int
    regions_right: int
    findings_right: int
    negated_grounded: int
    results: tuple[SentenceResult, ...]

    @property
    def grounding_accuracy(self) -> float:
        """Share of sentences stating a finding that land on exactly the expected regions."""
        return self.regions_right / self.abnormal if self.abnormal else 0.0


def score(cases: Sequence[SentenceCase]) -> SentenceScore:
    results = tuple(ground_sentence(c) for c in cases)
    abnormal = [r for r in results if not r.case.negated]
    negated = [r for r in results if r.case.negated]
    return SentenceScore(
        sentences=len(results),
        abnormal=len(abnormal),
        negated=len(negated),
        regions_right=sum(r.regions_right for r in abnormal),
        findings_right=sum(r.findings_right for r in results),
        negated_grounded=sum(bool(r.regions) for r in negated),
        results=results,
    )
