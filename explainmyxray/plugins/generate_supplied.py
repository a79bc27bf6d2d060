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
from explainmyxray.report.from_text import reports_from_supplied


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
def generate(
    cases: Sequence[Case], step: StepContext[SuppliedReportOptions]
) -> list[StructuredReport]:
    options = step.options
    return reports_from_supplied(cases, source=options.source_label)
