"""Write a :class:`StructuredReport` as the three-section text report.

The layout, which :func:`explainmyxray.report.parse.parse_report` reads back::

    FINDINGS:
    - cardiomegaly
    - no pleural effusion
    - possible pneumonia
    LOCATIONS:
    - possible pneumonia: right lower lobe, lingula
    IMPRESSION:
    Cardiomegaly. Possible pneumonia.

Findings are PadChest labels; an absent finding reads ``no <label>``, an uncertain one
``possible <label>``. Locations are PadChest location labels without their ``loc`` prefix, one
line per finding that has any. An empty section holds ``- none``.
"""

from __future__ import annotations

from ..core.case import Finding, FindingStatus, StructuredReport
from .ontology import Ontology, load_ontology

STATUS_PREFIX: dict[FindingStatus, str] = {"present": "", "absent": "no ", "uncertain": "possible "}
EMPTY_ITEM = "none"


def finding_phrase(finding: Finding, ontology: Ontology | None = None) -> str:
    """``<status wording><label>``, the label canonical where the ontology knows it."""
    return STATUS_PREFIX[finding.status] + _label(finding, ontology or load_ontology())


def location_names(locations: list[str], ontology: Ontology | None = None) -> list[str]:
    """Location labels as a report writes them (``loc left`` -> ``left``)."""
    ontology = ontology or load_ontology()
    names = []
    for location in locations:
        term = ontology.locations.get(location) or ontology.resolve(location, kind="location")
        names.append(term.display if term is not None else location.strip())
    return names


def render_report(report: StructuredReport) -> str:
    """The report as ``FINDINGS:`` / ``LOCATIONS:`` / ``IMPRESSION:`` text."""
    ontology = load_ontology()
    findings = [f"- {finding_phrase(f, ontology)}" for f in report.findings]
    locations = [
        f"- {finding_phrase(f, ontology)}: {', '.join(location_names(f.locations, ontology))}"
        for f in report.findings
        if f.locations
    ]
    impression = report.impression.strip() or EMPTY_ITEM
    lines = [
        "FINDINGS:",
        *(findings or [f"- {EMPTY_ITEM}"]),
        "LOCATIONS:",
        *(locations or [f"- {EMPTY_ITEM}"]),
        "IMPRESSION:",
        impression,
    ]
    return "\n".join(lines) + "\n"


def _label(finding: Finding, ontology: Ontology) -> str:
    label = " ".join(finding.label.split())
    if not finding.known:
        return label
    term = ontology.get(label)
    if term is None:
        term = ontology.resolve(label, kind="finding") or ontology.resolve(label, kind="diagnosis")
    return term.label if term is not None else label
