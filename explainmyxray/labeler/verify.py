"""Compare the labeler's reading of a report's text with the report's structured findings.

Each structured finding gets a verdict from the reading of its label:

* ``agree``: the text gives the same status (or, for a present finding, names a broader finding
  present: "pleural effusion" supports "loculated pleural effusion"; the detail says so);
* ``contradicted``: one says present, the other absent;
* ``unsupported``: one hedges (uncertain), the other is definite;
* ``not_mentioned``: the text says nothing about it.

With the ontology hierarchy on (the default), a finding's reading also comes from its relatives:
a more specific finding in the text counts for it ("bibasilar atelectasis" is an atelectasis)
and an absent ancestor makes it absent ("no effusion" denies a loculated effusion). Several
readings of one label resolve like :func:`explainmyxray.labeler.fold_mentions`:
``present > uncertain > absent``.

``hallucinated`` lists the structured findings reported present that the text does not support
(absent or never mentioned). ``dropped`` lists the labels the text reads present that no
structured finding covers (same label, an ancestor or a descendant, any status), leaving out the
``ignore`` labels and any label that is an ancestor of another dropped one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import cache

from ..core.case import Finding, FindingStatus, FindingVerdict, Verdict, Verification
from .labeler import PRECEDENCE, Labeler, Mention, default_labeler, fold_mentions

VERIFIER = "labeler"
DEFAULT_IGNORE: tuple[str, ...] = ("normal", "unchanged", "exclude")


@dataclass(frozen=True)
class Reading:
    """The labeler's status for one label and the words it read it from."""

    status: FindingStatus
    evidence: str
    via: str | None = None  # the related label the status came from, if not the label itself


def judge(reported: FindingStatus, read: FindingStatus | None) -> Verdict:
    """The verdict on one reported status given the labeler's status."""
    if read is None:
        return "not_mentioned"
    if read == reported:
        return "agree"
    if {reported, read} == {"present", "absent"}:
        return "contradicted"
    return "unsupported"


@cache
def _ancestors(label: str) -> frozenset[str]:
    from ..report.ontology import load_ontology

    return frozenset(load_ontology().ancestors(label))


def read_text(
    text: str, *, labeler: Labeler | None = None, implied: bool = True
) -> tuple[dict[str, FindingStatus], dict[str, str]]:
    """Statuses per label for ``text`` and, per label, the text of its deciding mention."""
    labeler = labeler or default_labeler()
    mentions = [m for m in labeler.label_text(text) if implied or not m.implied]
    statuses = fold_mentions(mentions)
    evidence: dict[str, str] = {}
    for mention in mentions:
        if mention.kind != "location" and statuses.get(mention.label) == mention.status:
            evidence.setdefault(mention.label, _evidence(mention))
    return statuses, evidence


def _evidence(mention: Mention) -> str:
    """The mention's words and what set its status: ``'effusion' (negated by 'no')``."""
    words = repr(mention.text)
    if mention.implied:
        return f"{words} (implied: {mention.trigger})"
    if mention.trigger and mention.status == "absent":
        return f"{words} (negated by {mention.trigger!r})"
    if mention.trigger and mention.status == "uncertain":
        return f"{words} (hedged by {mention.trigger!r})"
    return words


def reading_for(
    label: str,
    statuses: dict[str, FindingStatus],
    evidence: dict[str, str],
    *,
    hierarchy: bool = True,
    ancestors: Callable[[str], Iterable[str]] = _ancestors,
) -> Reading | None:
    """The labeler's reading of ``label``, from the label itself and (optionally) its relatives."""
    candidates: list[Reading] = []
    if label in statuses:
        candidates.append(Reading(statuses[label], evidence.get(label, ""), None))
    if hierarchy:
        own_ancestors = set(ancestors(label))
        for other, status in statuses.items():
            if other == label:
                continue
            # A specific finding counts for its ancestors; an absent ancestor denies the label.
            narrower = status != "absent" and label in set(ancestors(other))
            denying = status == "absent" and other in own_ancestors
            if narrower or denying:
                candidates.append(Reading(status, evidence.get(other, ""), other))
    if not candidates:
        return None
    return max(candidates, key=lambda r: (PRECEDENCE[r.status], r.via is None))


def compare(
    findings: Sequence[Finding],
    text: str,
    *,
    labeler: Labeler | None = None,
    hierarchy: bool = True,
    implied: bool = True,
    ignore: Iterable[str] = DEFAULT_IGNORE,
    ancestors: Callable[[str], Iterable[str]] = _ancestors,
) -> Verification:
    """Judge each structured finding against the labeler's reading of ``text``."""
    statuses, evidence = read_text(text, labeler=labeler, implied=implied)
    verdicts: list[FindingVerdict] = []
    hallucinated: list[str] = []
    for finding in findings:
        reading = reading_for(
            finding.label, statuses, evidence, hierarchy=hierarchy, ancestors=ancestors
        )
        broader = _broader_support(finding, statuses, hierarchy, ancestors)
        if reading is None and broader is not None:
            reading = broader
        read = reading.status if reading else None
        verdict = judge(finding.status, read)
        if reading is not None and reading is broader and read == finding.status:
            verdict = "agree"
        verdicts.append(
            FindingVerdict(
                label=finding.label,
                verdict=verdict,
                reported_status=finding.status,
                verifier_status=read,
                detail=_detail(reading, broader),
            )
        )
        if finding.status == "present" and read in (None, "absent"):
            hallucinated.append(finding.label)
    return Verification(
        verifier=VERIFIER,
        verdicts=verdicts,
        hallucinated=list(dict.fromkeys(hallucinated)),
        dropped=_dropped(findings, statuses, set(ignore), hierarchy, ancestors),
    )


def _broader_support(
    finding: Finding,
    statuses: dict[str, FindingStatus],
    hierarchy: bool,
    ancestors: Callable[[str], Iterable[str]],
) -> Reading | None:
    """A present ancestor of a present finding: supporting, though less specific."""
    if not hierarchy or finding.status != "present":
        return None
    for ancestor in ancestors(finding.label):
        if statuses.get(ancestor) == "present":
            return Reading("present", "", ancestor)
    return None


def _detail(reading: Reading | None, broader: Reading | None) -> str | None:
    if reading is None:
        return "the text does not mention it"
    if reading is broader:
        return f"the text names the broader finding '{reading.via}'"
    parts = []
    if reading.via:
        parts.append(f"read from '{reading.via}'")
    if reading.evidence:
        parts.append(f"text: {reading.evidence}")
    return "; ".join(parts) or None


def _dropped(
    findings: Sequence[Finding],
    statuses: dict[str, FindingStatus],
    ignore: set[str],
    hierarchy: bool,
    ancestors: Callable[[str], Iterable[str]],
) -> list[str]:
    reported = {f.label for f in findings}

    def covered(label: str) -> bool:
        if label in reported:
            return True
        if not hierarchy:
            return False
        lineage = set(ancestors(label))
        return any(r in lineage or label in set(ancestors(r)) for r in reported)

    dropped = [
        label
        for label, status in statuses.items()
        if status == "present" and label not in ignore and not covered(label)
    ]
    if hierarchy:
        dropped = [d for d in dropped if not any(d in set(ancestors(o)) for o in dropped)]
    return dropped
