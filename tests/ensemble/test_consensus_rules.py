"""The consensus rules on hand-built candidate reports."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from explainmyxray.core.case import Finding, StructuredReport
from explainmyxray.report.consensus import ConsensusOptions, combine, members_of


def report(source: str, *findings: Finding, text: str | None = None, impression: str = ""):
    return StructuredReport(
        findings=list(findings), source=source, text=text, impression=impression
    )


def by_label(result: StructuredReport) -> dict[str, Finding]:
    return {f.label: f for f in result.findings}


def test_majority_vote_keeps_the_majority_status_and_records_every_vote():
    candidates = [
        report("a", Finding(label="Cardiomegaly"), Finding(label="pneumothorax", status="absent")),
        report("b", Finding(label="cardiomegaly")),
        report("c", Finding(label="cardiomegaly", status="absent")),
    ]
    result = combine(candidates, ConsensusOptions(min_agreement=0.0))
    assert result.source == "consensus"
    heart = by_label(result)["cardiomegaly"]
    assert heart.status == "present"
    assert heart.confidence == pytest.approx(2 / 3, abs=1e-4)
    assert heart.sources == ["a", "b", "c"]
    assert heart.votes == {"a": "present", "b": "present", "c": "absent"}
    assert heart.evidence == "supported by a, b; contradicted by c (absent)"
    # a's 'pneumothorax absent' is the only vote cast on it: 1 of 3 generators
    assert by_label(result)["pneumothorax"].status == "absent"
    assert by_label(result)["pneumothorax"].sources == ["a"]


def test_min_agreement_leaves_out_findings_too_few_generators_report():
    candidates = [
        report("a", Finding(label="cardiomegaly"), Finding(label="nodule")),
        report("b", Finding(label="cardiomegaly")),
        report("c"),
    ]
    kept = combine(candidates, ConsensusOptions(min_agreement=0.5))
    assert list(by_label(kept)) == ["cardiomegaly"]
    assert any("'nodule'" in w and "0.33" in w for w in kept.warnings)
    everything = combine(candidates, ConsensusOptions(min_agreement=1 / 3))
    assert list(by_label(everything)) == ["cardiomegaly", "nodule"]
    assert by_label(everything)["nodule"].votes == {"a": "present"}


def test_weighted_vote_uses_generator_weights_and_finding_confidence():
    candidates = [
        report("big", Finding(label="pleural effusion", confidence=0.9)),
        report("small", Finding(label="pleural effusion", status="absent", confidence=0.8)),
        report("tiny", Finding(label="pleural effusion", status="absent")),
    ]
    plain = combine(candidates, ConsensusOptions(method="vote", min_agreement=0.0))
    assert by_label(plain)["pleural effusion"].status == "absent"
    weighted = ConsensusOptions(
        method="weighted", weights={"big": 3.0, "small": 1.0, "tiny": 0.5}, min_agreement=0.0
    )
    effusion = by_label(combine(candidates, weighted))["pleural effusion"]
    # present 3 * 0.9 = 2.7 against absent 1 * 0.8 + 0.5 * 1 = 1.3, out of 4.5
    assert effusion.status == "present"
    assert effusion.confidence == pytest.approx(2.7 / 4.5, abs=1e-4)


def test_missing_confidence_counts_as_one():
    candidates = [
        report("a", Finding(label="atelectasis", confidence=0.4)),
        report("b", Finding(label="atelectasis", status="absent")),
    ]
    result = combine(candidates, ConsensusOptions(method="weighted", min_agreement=0.0))
    assert by_label(result)["atelectasis"].status == "absent"


def test_the_labeler_strikes_a_vote_its_own_text_does_not_support():
    candidates = [
        report(
            "honest",
            Finding(label="pleural effusion"),
            text="FINDINGS: Small left pleural effusion.",
        ),
        report(
            "sloppy",
            Finding(label="pleural effusion", status="absent"),
            text="FINDINGS: Large pleural effusion on the right.",
        ),
    ]
    arbitrated = by_label(combine(candidates))["pleural effusion"]
    assert arbitrated.status == "present"
    assert arbitrated.votes == {"honest": "present", "sloppy": "absent"}
    assert "struck by the labeler (own text disagrees): sloppy" in arbitrated.evidence
    assert arbitrated.confidence == pytest.approx(0.5)
    unarbitrated = combine(candidates, ConsensusOptions(arbitrate_with="none"))
    assert by_label(unarbitrated)["pleural effusion"].status == "uncertain"


def test_an_unresolved_disagreement_is_uncertain_and_a_textless_member_keeps_its_vote():
    candidates = [
        report("a", Finding(label="pneumonia"), text="FINDINGS: Right lower lobe pneumonia."),
        report("b", Finding(label="pneumonia", status="absent")),
    ]
    result = combine(candidates)
    pneumonia = by_label(result)["pneumonia"]
    assert pneumonia.status == "uncertain"
    assert pneumonia.votes == {"a": "present", "b": "absent"}
    assert any("b has no report text" in w for w in result.warnings)


def test_findings_match_through_synonyms_and_the_hierarchy():
    candidates = [
        report("a", Finding(label="loculated pleural effusion", locations=["loc left"])),
        report("b", Finding(label="Pleural Effusions", locations=["loc basal"])),
    ]
    result = by_label(combine(candidates))
    # the specific finding votes for its ancestor: both generators support 'pleural effusion'
    general = result["pleural effusion"]
    assert general.votes == {"a": "present", "b": "present"}
    assert general.locations == ["loc left", "loc basal"]
    assert result["loculated pleural effusion"].votes == {"a": "present"}


def test_an_absent_ancestor_denies_a_specific_finding():
    candidates = [
        report("a", Finding(label="loculated pleural effusion")),
        report("b", Finding(label="pleural effusion", status="absent")),
        report("c", Finding(label="pleural effusion", status="absent")),
    ]
    result = by_label(combine(candidates, ConsensusOptions(min_agreement=0.0)))
    assert result["loculated pleural effusion"].status == "absent"
    assert result["loculated pleural effusion"].votes == {
        "a": "present",
        "b": "absent",
        "c": "absent",
    }


def test_locations_are_the_union_of_the_agreeing_generators_only():
    candidates = [
        report("a", Finding(label="nodule", locations=["loc right upper lobe"])),
        report("b", Finding(label="nodule", locations=["loc left"])),
        report("c", Finding(label="nodule", status="absent", locations=["loc apical"])),
    ]
    nodule = by_label(combine(candidates))["nodule"]
    assert nodule.locations == ["loc right upper lobe", "loc left"]


def test_impressions_joined_or_from_the_highest_weight_generator():
    candidates = [
        report("a", impression="Cardiomegaly."),
        report("b", impression="Enlarged heart."),
        report("c", impression="Cardiomegaly."),
    ]
    assert combine(candidates).impression == "Cardiomegaly. Enlarged heart."
    best = ConsensusOptions(impression="best", weights={"b": 2.0})
    assert combine(candidates, best).impression == "Enlarged heart."


def test_earlier_consensus_reports_are_not_members_and_repeated_sources_are_numbered():
    earlier = report("consensus", Finding(label="nodule"))
    members = members_of([report("m"), earlier, report("m")])
    assert [m.name for m in members] == ["m", "m#2"]
    result = combine([report("m", Finding(label="mass")), earlier], ConsensusOptions())
    assert list(by_label(result)) == ["mass"]


def test_no_generator_reports_is_an_error():
    with pytest.raises(ValueError, match="no generator reports"):
        combine([report("consensus")])


def test_options_reject_unknown_keys_and_bad_values():
    with pytest.raises(ValidationError):
        ConsensusOptions(mthod="vote")
    with pytest.raises(ValidationError):
        ConsensusOptions(min_agreement=1.5)
    with pytest.raises(ValidationError):
        ConsensusOptions(arbitrate_with="chexbert")


def test_the_consensus_text_renders_its_findings():
    result = combine([report("a", Finding(label="cardiomegaly"), impression="Big heart.")])
    assert result.text is not None
    assert "cardiomegaly" in result.text.lower() and "Big heart." in result.text


def test_the_consensus_keeps_each_generators_unmapped_statements():
    from explainmyxray.report.parse import parse_report

    a = parse_report("Cardiomegaly. There is a 3 cm lesion in the right lung.", source="a")
    b = report("b", Finding(label="cardiomegaly"))
    combined = combine([a, b])
    (unmapped,) = combined.unmapped
    assert unmapped.text == "There is a 3 cm lesion in the right lung"
    assert unmapped.reason.startswith("a: ") and unmapped.start is None
