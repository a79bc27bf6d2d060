"""The rule-based labeler as a verifier: read the report's text, compare with its findings.

The text is the report's own (``case.report.text``), else the report rendered from its
structure (:func:`explainmyxray.report.render.render_report`); ``text: report`` or
``text: rendered`` picks one. Verdicts, ``hallucinated`` and ``dropped`` are defined in
:mod:`explainmyxray.labeler.verify`. No model, no torch: this step runs anywhere, fast.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from explainmyxray import hookimpl
from explainmyxray.core.case import Case, StructuredReport, Verification
from explainmyxray.core.context import StepContext
from explainmyxray.core.errors import StageError

PLUGIN = "labeler"


class LabelerVerifyOptions(BaseModel):
    """Options of the ``labeler`` verify step."""

    model_config = ConfigDict(extra="forbid")

    text: Literal["auto", "report", "rendered"] = Field(
        default="auto",
        description="auto: the report's text, else its rendering; report / rendered: only that",
    )
    hierarchy: bool = Field(
        default=True,
        description="use the PadChest hierarchy: specific findings count for general ones, "
        "an absent general finding denies its specific ones",
    )
    implied_absences: bool = Field(
        default=True,
        description="count statements such as 'lungs are clear' as absent findings",
    )
    ignore: list[str] = Field(
        default_factory=lambda: ["normal", "unchanged", "exclude"],
        description="labels never listed as dropped",
    )


@hookimpl
def register_stages(register) -> None:
    register(
        "verify",
        options=LabelerVerifyOptions,
        description="read the report text with the rule-based PadChest labeler and compare",
    )


@hookimpl
def verify(
    cases: Sequence[Case], step: StepContext[LabelerVerifyOptions]
) -> list[Verification | Exception]:
    from explainmyxray.labeler.verify import compare

    options = step.options
    results: list[Verification | Exception] = []
    for case in cases:
        text = _text(case.report, options.text)
        if text is None:
            results.append(StageError("verify", PLUGIN, _why_no_text(case.report, options.text)))
            continue
        assert case.report is not None
        results.append(
            compare(
                case.report.findings,
                text,
                hierarchy=options.hierarchy,
                implied=options.implied_absences,
                ignore=options.ignore,
            )
        )
    return results


def _text(report: StructuredReport | None, which: str) -> str | None:
    if report is None:
        return None
    own = report.text if report.text and report.text.strip() else None
    if which == "report" or (which == "auto" and own is not None):
        return own
    from explainmyxray.report.render import render_report

    rendered = render_report(report)
    return rendered if rendered.strip() else None


def _why_no_text(report: StructuredReport | None, which: str) -> str:
    if report is None:
        return "the case has no report to verify (run a generate step first)"
    if which == "report":
        return "the report has no text of its own (set `text: auto` to verify its rendering)"
    return "the report has no text and could not be rendered from its findings"
