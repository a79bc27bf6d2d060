"""Combine several generators' structured reports into one consensus report.

Rules (each generator is one *member*; earlier consensus reports are not members):

* **Matching.** Findings are matched by canonical PadChest label (``Ontology.resolve``); labels
  the ontology does not know match by their normalized text. Every label any member reports
  becomes a question the members vote on.
* **A member's vote** on a label is its own status for it; failing that, through the hierarchy,
  the status of a more specific finding it reports present or uncertain ("loculated pleural
  effusion" votes for "pleural effusion"), or *absent* when it reports an ancestor absent ("no
  effusion" denies a loculated effusion). A member that says nothing abstains.
* **Weights.** ``vote``: one vote per member. ``weighted``: a vote weighs the member's weight
  (``weights`` by member name, default 1) times the finding's confidence (missing: 1).
* **Majority.** A status wins when it holds more than half of the weight cast. Without one, and
  with ``arbitrate_with: labeler``, every vote whose finding the member's *own* text does not
  support (the rule-based labeler's verdict is not ``agree``) is struck, and the remaining votes
  are counted again. A member without text cannot be checked and keeps its vote. A disagreement
  still unresolved becomes ``uncertain``, supported by the votes for present or uncertain.
* **Agreement.** The winning weight over the whole membership's weight (abstainers included) is
  the finding's ``confidence``; a finding below ``min_agreement`` is left out (and listed in the
  report's warnings).
* **Records.** ``sources`` lists the members that voted on the finding, ``votes`` every member's
  status, ``evidence`` who supported, contradicted or was struck.
* **Locations** (and regions) are the union of the supporting members' locations, in order of
  first appearance.
* **Impression**: ``joined``: the members' distinct impressions, in member order; ``best``: the
  impression of the highest-weight member (the first one on a tie).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ..core.case import Finding, FindingStatus, StructuredReport, UnmappedStatement
from .ontology import Ontology, load_ontology, lookup_key

CONSENSUS_SOURCE = "consensus"
_PRECEDENCE: dict[str, int] = {"absent": 0, "uncertain": 1, "present": 2}
_TOLERANCE = 1e-9


class ConsensusOptions(BaseModel):
    """Options of the ``consensus`` generate step."""

    model_config = ConfigDict(extra="forbid")

    method: Literal["vote", "weighted"] = Field(
        default="vote",
        description="vote: one vote per generator; weighted: generator weight x finding confidence",
    )
    min_agreement: float = Field(
        default=0.5,
        ge=0.0,
        le=1.0,
        description="least fraction of the generators' (weighted) votes a finding needs to be kept",
    )
    weights: dict[str, float] = Field(
        default_factory=dict,
        description="weight per generator (its report's source name); unnamed generators weigh 1",
    )
    arbitrate_with: Literal["labeler", "none"] = Field(
        default="labeler",
        description="labeler: on a disagreement, strike votes their own text does not support",
    )
    impression: Literal["joined", "best"] = Field(
        default="joined",
        description="joined: all distinct impressions; best: the highest-weight generator's",
    )

    def weight(self, member: str) -> float:
        """A member's weight; ``medgemma#2`` falls back to the weight of ``medgemma``."""
        if member in self.weights:
            return self.weights[member]
        return self.weights.get(member.split("#", 1)[0], 1.0)


@dataclass
class Member:
    """One generator's report, with its findings keyed by matching label."""

    name: str
    report: StructuredReport
    findings: dict[str, Finding] = field(default_factory=dict)
    support: dict[int, bool] = field(default_factory=dict)
    """id(finding) -> whether the member's own text supports it (filled when arbitration runs)."""


@dataclass(frozen=True)
class Vote:
    member: str
    status: FindingStatus
    weight: float
    finding: Finding


def members_of(candidates: Sequence[StructuredReport]) -> list[Member]:
    """The generators' reports (consensus reports left out), named by source, made unique."""
    seen: dict[str, int] = {}
    members = []
    for report in candidates:
        if report.source == CONSENSUS_SOURCE:
            continue
        seen[report.source] = seen.get(report.source, 0) + 1
        count = seen[report.source]
        name = report.source if count == 1 else f"{report.source}#{count}"
        members.append(Member(name=name, report=report))
    return members


def matching_label(finding: Finding, ontology: Ontology) -> str:
    """The canonical PadChest label, or the normalized text of a label the ontology lacks."""
    term = ontology.resolve(finding.label)
    if term is not None and term.kind != "location":
        return term.label
    return lookup_key(finding.label) or finding.label


def combine(
    candidates: Sequence[StructuredReport],
    options: ConsensusOptions | None = None,
    *,
    ontology: Ontology | None = None,
) -> StructuredReport:
    """The consensus of ``candidates`` under ``options`` (see the module docstring)."""
    options = options or ConsensusOptions()
    ontology = ontology or load_ontology()
    members = members_of(candidates)
    if not members:
        raise ValueError("no generator reports to combine (consensus needs earlier generate steps)")
    labels: dict[str, Finding] = {}
    for member in members:
        for finding in member.report.findings:
            key = matching_label(finding, ontology)
            labels.setdefault(key, finding)
            held = member.findings.get(key)
            if held is None or _PRECEDENCE[finding.status] > _PRECEDENCE[held.status]:
                member.findings[key] = finding
    ancestors = {key: set(ontology.ancestors(key)) for key in labels}
    total = sum(options.weight(m.name) if options.method == "weighted" else 1.0 for m in members)
    findings: list[Finding] = []
    warnings: list[str] = []
    for key, first in labels.items():
        votes = [
            v for m in members if (v := _vote(m, key, ancestors, ontology, options)) is not None
        ]
        decision = _decide(votes, members, options, warnings)
        if decision is None:
            continue
        status, support, struck = decision
        agreement = sum(v.weight for v in support) / total if total else 0.0
        label = key if ontology.get(key) else first.label
        if agreement + _TOLERANCE < options.min_agreement:
            warnings.append(
                f"left out {label!r} ({status}): agreement {agreement:.2f} is under "
                f"min_agreement {options.min_agreement:.2f}"
            )
            continue
        findings.append(_finding(label, status, votes, support, struck, agreement, first))
    report = StructuredReport(
        findings=findings,
        impression=_impression(members, options),
        source=CONSENSUS_SOURCE,
        warnings=list(dict.fromkeys(warnings)),
        # A generator's statement that no finding names stays visible; its offsets were into
        # that generator's text, not the consensus's.
        unmapped=[
            UnmappedStatement(text=u.text, reason=f"{member.name}: {u.reason}")
            for member in members
            for u in member.report.unmapped
        ],
    )
    from .render import render_report

    report.text = render_report(report)
    return report


def _vote(
    member: Member,
    key: str,
    ancestors: dict[str, set[str]],
    ontology: Ontology,
    options: ConsensusOptions,
) -> Vote | None:
    finding = member.findings.get(key)
    if finding is None:
        finding = _related(member, key, ancestors, ontology)
    if finding is None:
        return None
    status = finding.status
    weight = 1.0
    if options.method == "weighted":
        confidence = 1.0 if finding.confidence is None else finding.confidence
        weight = options.weight(member.name) * confidence
    return Vote(member=member.name, status=status, weight=weight, finding=finding)


def _related(
    member: Member, key: str, ancestors: dict[str, set[str]], ontology: Ontology
) -> Finding | None:
    """A more specific present/uncertain finding, else an absent ancestor, of ``key``."""
    narrower = [
        f
        for other, f in member.findings.items()
        if f.status != "absent" and key in set(ontology.ancestors(other))
    ]
    if narrower:
        return max(narrower, key=lambda f: _PRECEDENCE[f.status])
    for other, f in member.findings.items():
        if f.status == "absent" and other in ancestors.get(key, set()):
            return f
    return None


def _majority(votes: Sequence[Vote]) -> FindingStatus | None:
    cast = sum(v.weight for v in votes)
    tallies: dict[str, float] = {}
    for v in votes:
        tallies[v.status] = tallies.get(v.status, 0.0) + v.weight
    for status, tally in tallies.items():
        if cast > 0 and tally > cast / 2 + _TOLERANCE:
            return status  # type: ignore[return-value]
    return None


def _decide(
    votes: list[Vote],
    members: Sequence[Member],
    options: ConsensusOptions,
    warnings: list[str],
) -> tuple[FindingStatus, list[Vote], list[str]] | None:
    """The winning status, the votes that support it and the members whose vote was struck;
    None when no vote is cast."""
    if not votes:
        return None
    status = _majority(votes)
    remaining = votes
    if status is None and options.arbitrate_with == "labeler":
        by_name = {m.name: m for m in members}
        remaining = [v for v in votes if _supported(by_name[v.member], v.finding, warnings)]
        status = _majority(remaining)
    struck = [v.member for v in votes if v not in remaining]
    if status is None:
        return "uncertain", [v for v in remaining if v.status != "absent"], struck
    return status, [v for v in remaining if v.status == status], struck


def _supported(member: Member, finding: Finding, warnings: list[str]) -> bool:
    """Whether the member's own text supports its finding (a member without text: yes)."""
    text = member.report.text
    if not text or not text.strip():
        warnings.append(f"{member.name} has no report text: its votes could not be arbitrated")
        return True
    if not member.support:
        from ..labeler.verify import compare

        verification = compare(member.report.findings, text)
        for f, verdict in zip(member.report.findings, verification.verdicts, strict=True):
            member.support[id(f)] = verdict.verdict == "agree"
    return member.support.get(id(finding), True)


def _finding(
    label: str,
    status: FindingStatus,
    votes: Sequence[Vote],
    support: Sequence[Vote],
    struck: Sequence[str],
    agreement: float,
    first: Finding,
) -> Finding:
    supporters = {v.member for v in support}
    contradicting = [v for v in votes if v.member not in supporters and v.member not in struck]
    parts = [f"supported by {', '.join(v.member for v in support) or 'no generator'}"]
    if contradicting:
        parts.append(
            "contradicted by " + ", ".join(f"{v.member} ({v.status})" for v in contradicting)
        )
    if struck:
        parts.append("struck by the labeler (own text disagrees): " + ", ".join(struck))
    return Finding(
        label=label,
        status=status,
        locations=_union(v.finding.locations for v in support),
        regions=_union(v.finding.regions for v in support),
        confidence=round(min(agreement, 1.0), 4),
        evidence="; ".join(parts),
        known=first.known,
        sources=[v.member for v in votes],
        votes={v.member: v.status for v in votes},
    )


def _union(groups: Iterable[Iterable[str]]) -> list[str]:
    return list(dict.fromkeys(item for group in groups for item in group))


def _impression(members: Sequence[Member], options: ConsensusOptions) -> str:
    if options.impression == "best":
        best = max(members, key=lambda m: options.weight(m.name))  # max keeps the first on a tie
        return best.report.impression.strip()
    distinct = dict.fromkeys(m.report.impression.strip() for m in members)
    return " ".join(text for text in distinct if text)
