"""The text that text models (CheXbert, RadGraph) read for a structured report."""

from __future__ import annotations

from ..core.case import StructuredReport


def report_text(report: StructuredReport | None) -> str | None:
    """The report's own text, else its rendering from structure; None when there is none.

    Rendering uses :func:`explainmyxray.report.render.render_report` when that module is
    installed.
    """
    if report is None:
        return None
    if report.text and report.text.strip():
        return report.text
    try:
        from ..report.render import render_report
    except ImportError:
        return None
    rendered = render_report(report)
    return rendered if rendered and rendered.strip() else None
