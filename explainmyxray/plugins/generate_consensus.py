"""An ensemble's last generate step: combine the earlier generators' reports into one.

Put it after two or more generate steps; it reads ``case.candidates`` (every earlier generate
step's report, earlier consensus reports left out) and writes a report with
``source: consensus``. The rules (matching, voting, arbitration by the labeler, locations,
impression) are documented in :mod:`explainmyxray.report.consensus`. No model, no torch.
"""

from __future__ import annotations

from collections.abc import Sequence

from explainmyxray import hookimpl
from explainmyxray.core.case import Case, StructuredReport
from explainmyxray.core.context import StepContext
from explainmyxray.core.errors import StageError
from explainmyxray.report.consensus import ConsensusOptions, combine

PLUGIN = "consensus"


@hookimpl
def register_stages(register) -> None:
    register(
        "generate",
        options=ConsensusOptions,
        description="combine the earlier generate steps' reports by vote (ensemble consensus)",
    )


@hookimpl
def generate(
    cases: Sequence[Case], step: StepContext[ConsensusOptions]
) -> list[StructuredReport | Exception]:
    options = step.options
    results: list[StructuredReport | Exception] = []
    for case in cases:
        try:
            results.append(combine(case.candidates, options))
        except ValueError as exc:
            results.append(StageError("generate", PLUGIN, f"case {case.id}: {exc}"))
    return results
