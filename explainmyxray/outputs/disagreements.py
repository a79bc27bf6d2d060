"""Where the readers of a case disagree: generator vs verifiers, generators of an ensemble with
each other, and (after ``eval``) the report vs the reference. The page shows these first and the
run index counts them, because they are where a radiologist should look."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from explainmyxray.core.case import Case

REFERENCE_FILE = "reference.json"


@dataclass(frozen=True)
class Disagreement:
    finding: str
    between: str
    detail: str


def read_reference(case_dir: Path | None) -> dict[str, Any] | None:
    """``cases/<id>/reference.json`` as written by ``eval`` (None when absent or unreadable)."""
    if case_dir is None:
        return None
    try:
        document = json.loads((case_dir / REFERENCE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def disagreements(case: Case, reference: dict[str, Any] | None = None) -> list[Disagreement]:
    found: list[Disagreement] = []
    generator = case.report.source if case.report else "report"
    for verification in case.verification:
        for verdict in verification.verdicts:
            if verdict.verdict in ("contradicted", "unsupported"):
                found.append(
                    Disagreement(
                        verdict.label,
                        f"{generator} vs {verification.verifier}",
                        f"report says {verdict.reported_status or '—'}, "
                        f"{verification.verifier} reads {verdict.verifier_status or '—'}"
                        + (f" ({verdict.detail})" if verdict.detail else ""),
                    )
                )
        for label in verification.hallucinated:
            found.append(
                Disagreement(
                    label,
                    f"{generator} vs {verification.verifier}",
                    "in the structured findings but not in the report text",
                )
            )
        for label in verification.dropped:
            found.append(
                Disagreement(
                    label,
                    f"{generator} vs {verification.verifier}",
                    "in the report text but missing from the structured findings",
                )
            )
    if case.report is not None:
        for finding in case.report.findings:
            if len(set(finding.votes.values())) > 1:
                votes = ", ".join(f"{g}: {s}" for g, s in finding.votes.items())
                found.append(Disagreement(finding.label, "generators", votes))
    if reference:
        source = reference.get("source") or "reference"
        for label in reference.get("missed", []):
            found.append(
                Disagreement(label, f"report vs {source}", "in the reference, not reported")
            )
        for label in reference.get("extra", []):
            found.append(
                Disagreement(label, f"report vs {source}", "reported, not in the reference")
            )
        for miss in reference.get("box_misses", []):
            iou = miss.get("best_iou")
            found.append(
                Disagreement(
                    str(miss.get("label")),
                    f"grounding vs {source}",
                    "the reference box lies outside every region the report grounds it to"
                    + (f" (best IoU {iou:.2f})" if isinstance(iou, (int, float)) else ""),
                )
            )
    return found
