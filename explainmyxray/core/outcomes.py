"""What a run could and could not do, stage by stage, in words a user can act on.

Computed from the finished cases, so it says what really landed ("anatomy for 11 cases") and, for
the cases where a step produced nothing, why ("no report: no generator weights … and no supplied
report"). The *main* stage is the one whose output is the product: the report when the pipeline
generates one, else the grounding, else the decoded image. When it produced nothing for every
case the run exits with :data:`EXIT_NOTHING_PRODUCED`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .case import Case, StructuredReport

EXIT_NOTHING_PRODUCED = 4
MAIN_STAGE_ORDER = ("generate", "localize", "retrieve", "preprocess")


@dataclass
class StageOutcome:
    """One pipeline step over the run's cases."""

    label: str
    stage: str
    plugin: str
    produced: int = 0
    reached: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    sources: Counter[str] = field(default_factory=Counter)

    @property
    def what(self) -> str:
        return {
            "preprocess": "image",
            "retrieve": "similar cases",
            "generate": "report",
            "localize": "anatomy",
            "verify": "verification",
            "score": "scores",
        }.get(self.stage, self.stage)

    def sentence(self) -> str:
        """``anatomy for 11 cases`` or ``no report: <reason>`` or both, for partial output."""
        parts = []
        if self.produced:
            by = ""
            if self.sources:
                by = " (" + ", ".join(f"{n} from {s}" for s, n in self.sources.items()) + ")"
            parts.append(f"{self.what} for {self.produced} case{_s(self.produced)}{by}")
        missing = self.reached - self.produced
        if missing:
            why = "; ".join(self.reasons) or "nothing returned"
            prefix = f"no {self.what}" + (f" for {missing}" if self.produced else "")
            parts.append(f"{prefix}: {why}")
        if not self.reached:
            parts.append(f"no {self.what}: no case reached this step")
        return "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.label,
            "produced": self.produced,
            "reached": self.reached,
            "reasons": dict(self.reasons),
            "sources": dict(self.sources),
            "summary": self.sentence(),
        }


def _s(n: int) -> str:
    return "" if n == 1 else "s"


def _report_given(report: StructuredReport | None) -> bool:
    if report is None:
        return False
    return bool(report.findings or (report.text or "").strip() or report.impression.strip())


def step_outcomes(steps: Sequence[tuple[str, str]], cases: Sequence[Case]) -> list[StageOutcome]:
    """``steps`` as (stage, plugin) in pipeline order; one outcome per step."""
    outcomes = [StageOutcome(f"{s}:{p}", s, p) for s, p in steps]
    for case in cases:
        generated = 0
        for outcome in outcomes:
            ran = any(
                r.stage == outcome.stage and r.plugin == outcome.plugin for r in case.provenance
            )
            errors = [
                e for e in case.errors if e.stage == outcome.stage and e.plugin == outcome.plugin
            ]
            if not ran and not errors:
                continue
            outcome.reached += 1
            produced, reason, source = _produced(outcome, case, generated)
            if outcome.stage == "generate":
                generated += 1
            if errors:
                produced = False
                reason = f"{errors[0].error_type}: {errors[0].message}"
            if produced:
                outcome.produced += 1
                if source:
                    outcome.sources[source] += 1
            else:
                outcome.reasons[reason] += 1
    return outcomes


def _produced(outcome: StageOutcome, case: Case, generated: int) -> tuple[bool, str, str | None]:
    stage = outcome.stage
    if stage == "preprocess":
        return case.image is not None, "the image could not be decoded", None
    if stage == "retrieve":
        return bool(case.retrieved), "no similar case above the threshold", None
    if stage == "generate":
        report = case.candidates[generated] if generated < len(case.candidates) else None
        if _report_given(report):
            return True, "", report.source if report else None
        why = report.warnings[0] if report is not None and report.warnings else "empty report"
        return False, why.removeprefix("no report was generated: "), None
    if stage == "localize":
        return bool(case.anatomy or case.groundings), "no region found", None
    if stage == "verify":
        done = any(v.verdicts for v in case.verification)
        why = "no report to verify" if not _report_given(case.report) else "nothing judged"
        return done, why, None
    if stage == "score":
        return bool(case.scores), "nothing to score against", None
    return True, "", None


def main_outcome(outcomes: Sequence[StageOutcome]) -> StageOutcome | None:
    """The outcome of the product's step: the last generate step, else localize, …"""
    for stage in MAIN_STAGE_ORDER:
        matching = [o for o in outcomes if o.stage == stage]
        if matching:
            return matching[-1]
    return None


def nothing_produced(outcomes: Sequence[StageOutcome], total: int) -> str | None:
    """The one-line reason when the main stage produced nothing for any case, else None."""
    main = main_outcome(outcomes)
    if main is None or total == 0 or main.produced:
        return None
    why = "; ".join(main.reasons) or "no case reached this step"
    return f"no {main.what} for any of {total} case{_s(total)}: {why}"
