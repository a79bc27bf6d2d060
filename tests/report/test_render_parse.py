"""Rendering a StructuredReport as text and parsing it back, rendered or written by hand."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from explainmyxray.core.case import Finding, StructuredReport
from explainmyxray.report.ontology import load_ontology
from explainmyxray.report.parse import parse_report
from explainmyxray.report.render import render_report

ONTO = load_ontology()
CONDITIONS = sorted([*ONTO.findings, *ONTO.diagnoses])
LOCATIONS = sorted(ONTO.locations)


def triples(report: StructuredReport) -> list[tuple[str, str, list[str]]]:
    return [(f.label, f.status, f.locations) for f in report.findings]


def by_label(report: StructuredReport) -> dict[str, Finding]:
    return {f.label: f for f in report.findings}


@st.composite
def reports(draw: st.DrawFn) -> StructuredReport:
    drawn = draw(st.lists(st.sampled_from(CONDITIONS), max_size=8, unique=True))
    # A report names no finding together with its ancestor (the parser keeps the specific one).
    labels: list[str] = []
    for label in drawn:
        lineage = set(ONTO.ancestors(label))
        if not any(o in lineage or label in ONTO.ancestors(o) for o in labels):
            labels.append(label)
    findings = [
        Finding(
            label=label,
            status=draw(st.sampled_from(["present", "absent", "uncertain"])),
            locations=draw(st.lists(st.sampled_from(LOCATIONS), max_size=4, unique=True)),
        )
        for label in labels
    ]
    present = [f.label for f in findings if f.status == "present"]
    impression = draw(st.sampled_from(["", ", ".join(present).capitalize() + "."]))
    return StructuredReport(findings=findings, impression=impression if present else "")


@settings(max_examples=150, deadline=None)
@given(reports())
def test_round_trip_keeps_labels_statuses_and_locations(report: StructuredReport) -> None:
    parsed = parse_report(render_report(report))
    assert triples(parsed) == triples(report)
    assert parsed.impression == report.impression
    assert parsed.warnings == []
    assert all(f.known for f in parsed.findings)


def test_every_condition_and_status_round_trips_alone() -> None:
    for label in CONDITIONS:
        for status in ("present", "absent", "uncertain"):
            report = StructuredReport(findings=[Finding(label=label, status=status)])
            assert triples(parse_report(render_report(report))) == [(label, status, [])]


def test_render_layout() -> None:
    report = StructuredReport(
        findings=[
            Finding(label="cardiomegaly"),
            Finding(label="pleural effusion", status="absent"),
            Finding(
                label="pneumonia",
                status="uncertain",
                locations=["loc right lower lobe", "loc lingula"],
            ),
        ],
        impression="Cardiomegaly. Possible pneumonia.",
    )
    assert render_report(report) == (
        "FINDINGS:\n"
        "- cardiomegaly\n"
        "- no pleural effusion\n"
        "- possible pneumonia\n"
        "LOCATIONS:\n"
        "- possible pneumonia: right lower lobe, lingula\n"
        "IMPRESSION:\n"
        "Cardiomegaly. Possible pneumonia.\n"
    )


def test_render_writes_canonical_labels_and_empty_sections() -> None:
    text = render_report(StructuredReport(findings=[Finding(label="Enlarged heart")]))
    assert "- cardiomegaly\n" in text
    empty = render_report(StructuredReport())
    assert empty.count("- none") == 2 and empty.rstrip().endswith("none")
    parsed = parse_report(empty)
    assert parsed.findings == [] and parsed.impression == "" and parsed.warnings == []


def test_messy_bullets_case_synonyms_and_inline_locations() -> None:
    text = (
        "findings\n"
        "* Enlarged cardiac silhouette.\n"
        "1. PLEURAL EFFUSIONS (left costophrenic angle)\n"
        "2) Collapse: right lower lobe, lingula\n"
        "• no pneumothorax\n"
        "- ?consolidation\n"
        "**Impression:** Cardiomegaly with left effusion.\n"
    )
    found = by_label(parse_report(text, source="medgemma"))
    assert found["cardiomegaly"].status == "present"
    assert found["pleural effusion"].locations == ["loc left costophrenic angle"]
    assert found["atelectasis"].locations == ["loc right lower lobe", "loc lingula"]
    assert found["pneumothorax"].status == "absent"
    assert found["consolidation"].status == "uncertain"
    assert parse_report(text, source="medgemma").source == "medgemma"
    assert parse_report(text).impression == "Cardiomegaly with left effusion."


def test_locations_section_in_any_order_and_orientation() -> None:
    text = (
        "IMPRESSION: Left basal pneumonia.\n"
        "LOCATIONS:\n"
        "- pneumonia: left, basal\n"
        "- left costophrenic angle: pleural effusion\n"
        "FINDINGS:\n"
        "- pneumonia\n"
        "- pleural effusion\n"
    )
    report = parse_report(text)
    assert triples(report) == [
        ("pneumonia", "present", ["loc left", "loc basal"]),
        ("pleural effusion", "present", ["loc left costophrenic angle"]),
    ]
    assert report.impression == "Left basal pneumonia."


def test_free_text_sentences_with_negation_and_uncertainty_scopes() -> None:
    text = (
        "The heart size is normal. No focal consolidation, pleural effusion or pneumothorax.\n"
        "Small right pleural thickening. Pulmonary edema cannot be excluded.\n"
        "The previously seen pneumothorax has resolved.\n"
    )
    found = by_label(parse_report(text))
    assert found["cardiomegaly"].status == "absent"
    assert found["consolidation"].status == "absent"
    assert found["pleural effusion"].status == "absent"
    # The first statement wins; the contradiction is reported.
    assert found["pneumothorax"].status == "absent"
    assert found["pleural thickening"].status == "present"
    assert found["pleural thickening"].locations == ["loc right"]
    assert found["pulmonary edema"].status == "uncertain"


def test_contradicting_statements_are_warned_about() -> None:
    report = parse_report("FINDINGS:\n- pneumothorax\n- no pneumothorax\n")
    assert triples(report) == [("pneumothorax", "present", [])]
    assert any("both present and absent" in w for w in report.warnings)


def test_free_text_locations_attach_to_the_right_finding() -> None:
    text = "Left lower lobe consolidation and a small right pleural effusion, cardiomegaly."
    found = by_label(parse_report(text))
    assert found["consolidation"].locations == ["loc left lower lobe"]
    assert found["pleural effusion"].locations == ["loc right"]
    assert found["cardiomegaly"].locations == []
    found = by_label(parse_report("Nodule in the right upper lobe without cavitation."))
    assert found["nodule"].locations == ["loc right upper lobe"]
    assert found["cavitation"].status == "absent"


def test_unknown_terms_are_kept_and_warned_about() -> None:
    text = "FINDINGS:\n- flux capacitor (left apex)\n- possible widget sign\n- cardiomegaly\n"
    report = parse_report(text)
    unknown = [f for f in report.findings if not f.known]
    assert [(f.label, f.status, f.locations) for f in unknown] == [
        ("flux capacitor", "present", ["loc left", "loc apical"]),
        ("widget sign", "uncertain", []),
    ]
    assert len([w for w in report.warnings if "unknown finding" in w]) == 2
    assert by_label(report)["cardiomegaly"].known


def test_unknown_locations_and_unreadable_sentences_are_warned_about() -> None:
    report = parse_report(
        "FINDINGS:\n- nodule (near the flux capacitor)\n- The patient is rotated to the side.\n"
    )
    assert triples(report)[0] == ("nodule", "present", [])
    assert any("unknown location" in w and "flux capacitor" in w for w in report.warnings)
    # "rotated" names the suboptimal study label; nothing else on that line is lost silently.
    assert "suboptimal study" in by_label(report)


def test_skipped_sections_and_impression_only_findings() -> None:
    text = (
        "INDICATION: rule out pneumonia\n"
        "FINDINGS:\n- cardiomegaly\n"
        "IMPRESSION:\nCardiomegaly. Possible lung metastasis.\n"
    )
    report = parse_report(text)
    assert "pneumonia" not in by_label(report)
    assert by_label(report)["lung metastasis"].status == "uncertain"
    assert any("INDICATION" in w for w in report.warnings)
    assert any("only in the IMPRESSION" in w for w in report.warnings)


def test_text_without_headers_is_read_as_findings() -> None:
    report = parse_report("Normal chest radiograph.")
    assert triples(report) == [("normal", "present", [])]
    assert report.text == "Normal chest radiograph."


def test_rewritten_phrasings() -> None:
    found = by_label(parse_report("Elevated right hemidiaphragm. The heart is enlarged."))
    assert found["hemidiaphragm elevation"].locations == ["loc right"]
    assert found["cardiomegaly"].status == "present"
    found = by_label(parse_report("Costophrenic angles are sharp. Normal heart size."))
    assert found["costophrenic angle blunting"].status == "absent"
    assert found["cardiomegaly"].status == "absent"


def test_a_section_header_inside_a_line_starts_its_section():
    report = parse_report(
        "FINDINGS: Cardiomegaly. No pneumothorax. IMPRESSION: Cardiomegaly, no acute change."
    )
    assert [(f.label, f.status) for f in report.findings] == [
        ("cardiomegaly", "present"),
        ("pneumothorax", "absent"),
    ]
    assert report.impression == "Cardiomegaly, no acute change."


def test_bi_prefixed_zones_are_bilateral():
    (finding,) = parse_report("Mild biapical pleural thickening.").findings
    assert finding.label == "apical pleural thickening"
    assert finding.locations == ["loc bilateral"]


def test_a_rewritten_phrase_keeps_the_reports_own_words_as_evidence():
    (finding,) = parse_report("The heart size is normal.").findings
    assert (finding.label, finding.status) == ("cardiomegaly", "absent")
    assert finding.evidence == "The heart size is normal"
