"""Compare an independent CheXpert reading of a report's text with its structured findings.

Each structured finding is mapped to its CheXpert observation and judged against the reading:

* ``agree``: the reading gives the finding's status;
* ``contradicted``: one says present, the other absent;
* ``unsupported``: one is uncertain, the other definite;
* ``not_mentioned``: the reading does not mention the observation, or the finding has no
  CheXpert counterpart (the detail says which).

A finding that belongs to several CheXpert groups (``pneumonia``: Lung Opacity and Pneumonia)
is judged against the most specific one. ``hallucinated`` lists the structured findings
reported present whose observation the reading does not support (not mentioned or absent);
``dropped`` lists the CheXpert observations the reading finds present that no structured
finding reports present, directly or through CheXpert's hierarchy (a present Pneumonia implies
Lung Opacity); "No Finding" is never listed.

A second reading (the rule-based labeler) can be merged in: where both readings agree, or only
one mentions an observation, that status is used; where they conflict, the model's reading is
used and the detail records the disagreement.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from ...core.case import Finding, FindingStatus, FindingVerdict, Verification
from ...labeler.verify import judge
from .labels import (
    CHEXPERT_LABELS,
    NO_FINDING,
    LabelReading,
    canonical_label,
    most_specific,
    parents,
)

ToCheXpert = Callable[[str], str | Sequence[str] | None]
"""Finding label -> its CheXpert observation(s); several when it belongs to several groups."""

_STRENGTH: dict[FindingStatus, int] = {"absent": 0, "uncertain": 1, "present": 2}


def chexpert_targets(mapped: str | Sequence[str] | None) -> list[str]:
    """The CheXpert spellings of what a mapper returned (a name, several, or none)."""
    if mapped is None:
        return []
    names = [mapped] if isinstance(mapped, str) else list(mapped)
    return [n for n in (canonical_label(x) for x in names) if n is not None]


def merge_readings(model: LabelReading, rules: LabelReading) -> tuple[LabelReading, dict[str, str]]:
    """Merge the model's reading with the rule-based one; return it and per-label notes."""
    merged: LabelReading = {}
    notes: dict[str, str] = {}
    for name in CHEXPERT_LABELS:
        a, b = model.get(name), rules.get(name)
        if a == b:
            merged[name] = a
            if a is not None:
                notes[name] = "the rule-based labeler agrees"
        elif a is None or b is None:
            merged[name] = a if a is not None else b
            source = "CheXbert" if a is not None else "the rule-based labeler"
            notes[name] = f"only {source} mentions it"
        else:
            merged[name] = a
            notes[name] = f"readers disagree: CheXbert reads {a}, the rule-based labeler {b}"
    return merged, notes


def compare(
    findings: Sequence[Finding],
    reading: Mapping[str, FindingStatus | None],
    to_chexpert: ToCheXpert,
    *,
    verifier: str = "chexbert",
    notes: Mapping[str, str] | None = None,
) -> Verification:
    """Judge each structured finding against ``reading`` (CheXpert label -> status)."""
    notes = notes or {}
    verdicts: list[FindingVerdict] = []
    reported: dict[str, FindingStatus] = {}
    hallucinated: list[str] = []
    for finding in findings:
        targets = chexpert_targets(to_chexpert(finding.label))
        target = most_specific(targets)
        if target is None:
            verdicts.append(
                FindingVerdict(
                    label=finding.label,
                    verdict="not_mentioned",
                    reported_status=finding.status,
                    detail="no CheXpert counterpart; not checked",
                )
            )
            continue
        implied = [p for t in targets for p in parents(t)] if finding.status == "present" else []
        for name in [*targets, *implied]:
            previous = reported.get(name)
            if previous is None or _STRENGTH[finding.status] > _STRENGTH[previous]:
                reported[name] = finding.status
        read = reading.get(target)
        detail = f"CheXpert {target}" + (f"; {notes[target]}" if target in notes else "")
        verdicts.append(
            FindingVerdict(
                label=finding.label,
                verdict=judge(finding.status, read),
                reported_status=finding.status,
                verifier_status=read,
                detail=detail,
            )
        )
        if finding.status == "present" and read in (None, "absent"):
            hallucinated.append(finding.label)
    dropped = [
        name
        for name in CHEXPERT_LABELS
        if name != NO_FINDING and reading.get(name) == "present" and reported.get(name) != "present"
    ]
    return Verification(
        verifier=verifier,
        verdicts=verdicts,
        hallucinated=list(dict.fromkeys(hallucinated)),
        dropped=dropped,
    )
