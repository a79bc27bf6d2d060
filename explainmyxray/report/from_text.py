"""Report text (a generator's answer, or a report the user supplied) into a
:class:`~explainmyxray.core.case.StructuredReport` that keeps the raw text."""

from __future__ import annotations

from collections.abc import Sequence

from ..core.case import Case, StructuredReport

EMPTY_ANSWER = "the model returned an empty answer"
NO_REPORT = (
    "no report was generated: no generator weights are configured and no report was supplied "
    "(pass --report TEXT or put a <image>.txt beside the image)"
)


def report_from_text(text: str, source: str) -> StructuredReport:
    """The structured report of one generator answer; the raw answer stays in ``text``.

    ``source`` names the generator (``"medgemma"``, ``"paligemma"``, ...).
    """
    if not text.strip():
        return StructuredReport(text=text, source=source, warnings=[EMPTY_ANSWER])
    from .parse import parse_report

    report = parse_report(text, source=source)
    if report.text != text or report.source != source:
        report = report.model_copy(update={"text": text, "source": source})
    return report


def reports_from_supplied(
    cases: Sequence[Case], *, source: str, note: str | None = None, no_report: str = NO_REPORT
) -> list[StructuredReport]:
    """Each case's supplied report, parsed (``note`` first among its warnings); ``no_report``
    as the warning of an empty report where none was supplied."""
    from .parse import parse_report

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
