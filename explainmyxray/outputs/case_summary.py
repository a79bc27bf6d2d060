"""Facts about a case that both the overlay and the HTML index state the same way."""

from __future__ import annotations

from typing import Literal

from explainmyxray.core.case import Case

CaseStatus = Literal["failed", "flagged", "ok"]


def report_missing(case: Case) -> bool:
    """True when no report was generated: none at all, or one with no findings and no text."""
    report = case.report
    if report is None:
        return True
    return not report.findings and not (report.text or "").strip() and not report.impression.strip()


def missing_report_reasons(case: Case) -> list[str]:
    """Why a case has no report, in words (empty when it has one)."""
    if not report_missing(case):
        return []
    if case.report is not None:
        return list(case.report.warnings) or ["the generator returned an empty report"]
    generate_errors = [e for e in case.errors if e.stage == "generate"]
    if generate_errors:
        return [f"{e.plugin}: {e.error_type}: {e.message}" for e in generate_errors]
    if case.errors:
        first = case.errors[0]
        return [f"the case failed in the {first.stage} stage before a report was written"]
    return ["the pipeline has no generate step"]


def case_status(case: Case) -> CaseStatus:
    """``failed`` if any stage failed, ``flagged`` if a quality check warned, else ``ok``."""
    if case.failed:
        return "failed"
    if any(flag.severity != "info" for flag in case.quality):
        return "flagged"
    return "ok"


FRONTAL_VIEWS = {"PA", "AP", "AP SUPINE", "AP_SUPINE", "PA-AP", "FRONTAL"}
LATERAL_VIEWS = {"LL", "RL", "LAT", "LATERAL", "RLD", "LLD"}


def orientation(view: str | None) -> tuple[str, str] | None:
    """Markers for the image's left and right edges: a frontal (PA/AP) view is displayed with
    the patient's right on the image's left. None for a lateral view. An unrecorded view is
    taken as frontal (raster chest images almost always are)."""
    if (view or "").strip().upper() in LATERAL_VIEWS:
        return None
    return ("R", "L")
