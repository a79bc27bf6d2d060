"""The ``labeler`` verify plugin on hand-built cases."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from explainmyxray.core.case import Case, Finding, StructuredReport
from explainmyxray.core.context import StepContext
from explainmyxray.core.errors import StageError
from explainmyxray.labeler.verify import compare
from explainmyxray.plugins import verify_labeler
from explainmyxray.plugins.verify_labeler import LabelerVerifyOptions
from explainmyxray.registry.plugins import PluginHost


def run(cases: list[Case], **options) -> list:
    step = StepContext(stage="verify", plugin="labeler", options=LabelerVerifyOptions(**options))
    return verify_labeler.verify(cases=cases, step=step)


def case(text: str | None, *findings: Finding) -> Case:
    report = StructuredReport(findings=list(findings), text=text)
    return Case(id="c", source="test", report=report)


def verdicts(verification) -> dict[str, str]:
    return {v.label: v.verdict for v in verification.verdicts}


TEXT = (
    "Mild cardiomegaly. No pleural effusion. Possible right lower lobe pneumonia. "
    "Bibasilar atelectasis. Small right apical pneumothorax."
)


def test_agree_contradicted_unsupported_not_mentioned():
    [result] = run(
        [
            case(
                TEXT,
                Finding(label="cardiomegaly"),
                Finding(label="pleural effusion"),
                Finding(label="pneumonia", status="uncertain"),
                Finding(label="consolidation", status="absent"),
                Finding(label="nodule"),
                Finding(label="pneumothorax", status="uncertain"),
            )
        ]
    )
    assert result.verifier == "labeler"
    assert verdicts(result) == {
        "cardiomegaly": "agree",
        "pleural effusion": "contradicted",
        "pneumonia": "agree",
        "consolidation": "not_mentioned",
        "nodule": "not_mentioned",
        "pneumothorax": "unsupported",
    }
    by_label = {v.label: v for v in result.verdicts}
    assert by_label["pleural effusion"].verifier_status == "absent"
    assert "negated by 'no'" in by_label["pleural effusion"].detail
    assert result.agreement == pytest.approx(2 / 4)


def test_hallucinated_and_dropped():
    [result] = run(
        [
            case(
                TEXT,
                Finding(label="cardiomegaly"),
                Finding(label="pleural effusion"),
                Finding(label="nodule"),
            )
        ]
    )
    # reported present, but the text denies it or never mentions it
    assert result.hallucinated == ["pleural effusion", "nodule"]
    # the text reads them present; no structured finding covers them (uncertain pneumonia is no
    # present reading, so it is not dropped)
    assert sorted(result.dropped) == ["atelectasis basal", "pneumothorax"]


def test_the_hierarchy_links_specific_and_general_findings():
    text = "Bibasilar atelectasis. No pleural effusion. Small pleural effusion on the left."
    general_text = "Small left pleural effusion."
    structured = [Finding(label="atelectasis"), Finding(label="loculated pleural effusion")]
    [specific] = run([case(text, *structured)])
    assert verdicts(specific) == {"atelectasis": "agree", "loculated pleural effusion": "agree"}
    assert specific.dropped == []
    [denied] = run([case("No effusion.", Finding(label="loculated pleural effusion"))])
    assert verdicts(denied) == {"loculated pleural effusion": "contradicted"}
    [flat] = run([case(general_text, *structured)], hierarchy=False)
    assert verdicts(flat) == {
        "atelectasis": "not_mentioned",
        "loculated pleural effusion": "not_mentioned",
    }
    assert flat.dropped == ["pleural effusion"]


def test_implied_absences_can_be_switched_off():
    finding = Finding(label="consolidation")
    [implied] = run([case("The lungs are clear.", finding)])
    assert verdicts(implied) == {"consolidation": "contradicted"}
    [literal] = run([case("The lungs are clear.", finding)], implied_absences=False)
    assert verdicts(literal) == {"consolidation": "not_mentioned"}


def test_a_report_without_text_is_read_from_its_rendering():
    findings = [
        Finding(label="cardiomegaly"),
        Finding(label="pleural effusion", status="absent"),
        Finding(label="pneumonia", status="uncertain", locations=["loc right lower lobe"]),
    ]
    [result] = run([case(None, *findings)])
    assert set(verdicts(result).values()) == {"agree"}
    assert result.hallucinated == [] and result.dropped == []


def test_cases_without_a_report_fail_alone():
    no_report = Case(id="x", source="test")
    results = run([no_report, case("Cardiomegaly.", Finding(label="cardiomegaly"))])
    assert isinstance(results[0], StageError) and "no report" in str(results[0])
    assert verdicts(results[1]) == {"cardiomegaly": "agree"}
    [only_text] = run([case(None, Finding(label="cardiomegaly"))], text="report")
    assert isinstance(only_text, StageError) and "no text" in str(only_text)


def test_options_forbid_unknown_fields():
    with pytest.raises(ValidationError):
        LabelerVerifyOptions(hierarchy=True, colour="blue")


def test_the_plugin_registers_its_verify_stage():
    host = PluginHost(builtins={"labeler": "explainmyxray.plugins.verify_labeler"}, discover=False)
    assert host.load_errors == {}
    assert host.plugins_for("verify") == ["labeler"]
    assert host.stage_spec("verify", "labeler").options is LabelerVerifyOptions
    step = StepContext(stage="verify", plugin="labeler", options=LabelerVerifyOptions())
    [result] = host.call_stage(
        "verify", "labeler", [case("No pneumothorax.", Finding(label="pneumothorax"))], step
    )
    assert verdicts(result) == {"pneumothorax": "contradicted"}


def test_compare_without_the_plugin():
    result = compare([Finding(label="cardiomegaly", status="absent")], "Normal heart size.")
    assert verdicts(result) == {"cardiomegaly": "agree"}
