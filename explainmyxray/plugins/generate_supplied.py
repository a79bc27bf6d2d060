"""Reports the user supplied: ``--report TEXT`` or a sidecar ``<image>.txt``, parsed into structure.

This is the generator of the embedded default pipeline when no generator weights are present: it
grounds and verifies a radiologist's (or another system's) report instead of writing one.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from explainmyxray import hookimpl
from explainmyxray.core.case import Case, StructuredReport
from explainmyxray.core.context import StepContext

NO_REPORT = (
    "no report was generated: no generator weights are configured and no report was supplied "
    "(pass --report TEXT or put a <image>.txt beside the image)"
)


class SuppliedReportOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source_label: str = "supplied"


@hookimpl
def register_stages(register) -> None:
    register(
        "generate",
        options=SuppliedReportOptions,
        description="parse a report the user supplied (--report or <image>.txt)",
    )


@hookimpl
def generate(cases: Sequence[Case], step: StepContext) -> list[StructuredReport]:
    options: SuppliedReportOptions = step.options  # type: ignore[assignment]
    return reports_from_supplied(cases, source=options.source_label)


def reports_from_supplied(
    cases: Sequence[Case], *, source: str, note: str | None = None, no_report: str = NO_REPORT
) -> list[StructuredReport]:
    """Each case's supplied report, parsed (``note`` first among its warnings); ``no_report``
    as the warning of an empty report where none was supplied."""
    from explainmyxray.report.parse import parse_report

    reports = []
    for case in cases:
        if case.supplied_report and case.supplied_report.strip():
            report = parse_report(case.supplied_report, source=source)
            if note:
                report.warnings.insert(0, note)
            reports.append(report)
        else:
            reports.append(StructuredReport(source="none", warnings=[no_report]))
    return reports
