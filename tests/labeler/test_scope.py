"""Negation, uncertainty and implied statements, one sentence at a time."""

from __future__ import annotations

import pytest

from explainmyxray.labeler import chexpert_labels, label_report, label_text


@pytest.mark.parametrize(
    ("text", "label", "status"),
    [
        # pre-negation, over a list
        ("No pleural effusion, pneumothorax, or focal consolidation.", "pneumothorax", "absent"),
        ("No pleural effusion, pneumothorax, or focal consolidation.", "consolidation", "absent"),
        ("Without evidence of pneumothorax.", "pneumothorax", "absent"),
        ("Negative for pneumothorax.", "pneumothorax", "absent"),
        ("The lungs are free of consolidation.", "consolidation", "absent"),
        ("Lungs are clear of focal airspace disease.", "alveolar pattern", "absent"),
        # post-negation
        ("Pneumothorax is not seen.", "pneumothorax", "absent"),
        ("The previously seen left effusion has resolved.", "pleural effusion", "absent"),
        ("Pneumothorax is no longer visualized.", "pneumothorax", "absent"),
        # negation inside the phrase's own gap
        ("The heart is not enlarged.", "cardiomegaly", "absent"),
        # uncertainty
        ("Possible right lower lobe pneumonia.", "pneumonia", "uncertain"),
        ("Findings may represent atelectasis.", "atelectasis", "uncertain"),
        ("Cannot exclude a small effusion.", "pleural effusion", "uncertain"),
        ("Small effusion cannot be excluded.", "pleural effusion", "uncertain"),
        ("Atelectasis versus pneumonia.", "atelectasis", "uncertain"),
        ("Atelectasis versus pneumonia.", "pneumonia", "uncertain"),
        ("Questionable left apical pneumothorax.", "pneumothorax", "uncertain"),
        ("Opacity suggestive of early pneumonia.", "pneumonia", "uncertain"),
        # favouring hedges count as present
        ("Findings consistent with pulmonary edema.", "pulmonary edema", "present"),
        ("Probable small left pleural effusion.", "pleural effusion", "present"),
        # ... but defer to an earlier negation in the clause
        ("No findings consistent with pulmonary edema.", "pulmonary edema", "absent"),
        ("No focal opacity to suggest pneumonia.", "pneumonia", "absent"),
        # scope ends at a conjunction, a semicolon, a new clause
        ("No pneumothorax but there is a small left effusion.", "pleural effusion", "present"),
        ("No pneumothorax; small left effusion.", "pleural effusion", "present"),
        ("No pneumothorax, however there is cardiomegaly.", "cardiomegaly", "present"),
        # a comma ends a post-trigger's reach
        ("Stable cardiomegaly, lungs are within normal limits.", "cardiomegaly", "present"),
        # pseudo-negation
        ("No change in the mild cardiomegaly.", "cardiomegaly", "present"),
        ("Stable cardiomegaly.", "cardiomegaly", "present"),
        # statements that imply absence
        ("Normal heart size.", "cardiomegaly", "absent"),
        ("The heart size is within normal limits.", "cardiomegaly", "absent"),
        ("The lungs are clear.", "consolidation", "absent"),
        ("The lungs are clear.", "pleural effusion", "absent"),
        ("No acute cardiopulmonary abnormality.", "pneumothorax", "absent"),
        ("No acute cardiopulmonary abnormality.", "pneumonia", "absent"),
        ("The costophrenic angles are sharp.", "costophrenic angle blunting", "absent"),
    ],
)
def test_status(text, label, status):
    assert label_report(text).get(label) == status, label_text(text)


@pytest.mark.parametrize(
    ("text", "label"),
    [
        ("The lungs are not clear.", "consolidation"),  # a negated statement implies nothing
        ("The left lung is clear.", "consolidation"),  # one lung says nothing about the other
        ("Acute cardiopulmonary process.", "pneumonia"),  # a class named positively: nothing
        ("Normal heart size.", "pleural effusion"),
    ],
)
def test_statements_that_imply_nothing(text, label):
    assert label not in label_report(text)


def test_conflicting_mentions_resolve_present_over_uncertain_over_absent():
    text = "No right pleural effusion. Possible small left pleural effusion."
    assert label_report(text)["pleural effusion"] == "uncertain"
    text += " Small left pleural effusion is present."
    assert label_report(text)["pleural effusion"] == "present"


def test_explicit_mentions_beat_implied_absences():
    report = label_report("The lungs are otherwise clear. Right lower lobe consolidation.")
    assert report["consolidation"] == "present"
    assert report["pulmonary edema"] == "absent"


def test_normal_is_derived_from_the_other_findings():
    assert label_report("No acute cardiopulmonary abnormality.")["normal"] == "present"
    assert label_report("Clear lungs. Mild cardiomegaly.")["normal"] == "absent"
    assert label_report("Clear lungs. Possible small effusion.")["normal"] == "absent"
    assert label_report("Comparison none.") == {}


def test_mentions_carry_offsets_triggers_and_locations():
    text = "Heart normal. No left pleural effusion. Right lower lobe pneumonia."
    mentions = {m.label: m for m in label_text(text)}
    effusion = mentions["pleural effusion"]
    assert text[effusion.start : effusion.end] == effusion.text == "pleural effusion"
    assert effusion.trigger == "no" and effusion.sentence == 1
    assert "loc left" in effusion.locations
    assert "loc right lower lobe" in mentions["pneumonia"].locations
    assert mentions["loc right lower lobe"].kind == "location"


def test_specific_phrases_win_over_the_words_inside_them():
    labels = label_report(
        "Calcified granuloma. Subcutaneous emphysema. Degenerative changes of the left shoulder."
    )
    assert labels["calcified granuloma"] == "present" and "granuloma" not in labels
    assert labels["subcutaneous emphysema"] == "present" and "emphysema" not in labels
    assert labels["non axial articular degenerative changes"] == "present"
    assert "vertebral degenerative changes" not in labels


def test_rollup_sets_ancestors():
    labels = label_report("Bibasilar atelectasis.", rollup=True)
    assert labels["atelectasis basal"] == "present" and labels["atelectasis"] == "present"
    assert "atelectasis" not in label_report("Bibasilar atelectasis.")


def test_chexpert_labels():
    labels = chexpert_labels(
        "Stable cardiomegaly. No pneumothorax. Possible left lower lobe pneumonia. "
        "Right PICC in the SVC."
    )
    assert labels["Cardiomegaly"] == "present"
    assert labels["Pneumothorax"] == "absent"
    assert labels["Pneumonia"] == "uncertain"
    assert labels["Support Devices"] == "present"
    # CheXpert leaves No Finding out when there is a finding: it is never negative.
    assert "No Finding" not in labels
    assert chexpert_labels("Normal chest radiograph.")["No Finding"] == "present"


def test_chexpert_view_follows_the_chexpert_labelers_conventions():
    # A support device does not make a study abnormal.
    assert chexpert_labels("Endotracheal tube in place. Lungs are clear.") == {
        "Support Devices": "present",
        "Consolidation": "absent",
        "Pneumonia": "absent",
        "Lung Opacity": "absent",
        "Edema": "absent",
        "Pleural Effusion": "absent",
        "No Finding": "present",
    }
    # A finding outside the 14 (scoliosis) still takes No Finding away.
    assert "No Finding" not in chexpert_labels("Mild scoliosis.")
    # Heart failure: Edema, and Cardiomegaly at least uncertain.
    failure = chexpert_labels("Findings consistent with congestive heart failure.")
    assert failure["Edema"] == "present" and failure["Cardiomegaly"] == "uncertain"
    # Unmentions: a calcified granuloma is no lung lesion, a pericardial effusion no pleural one,
    # blunting of the angle alone is not called an effusion.
    assert "Lung Lesion" not in chexpert_labels("Calcified granuloma in the right upper lobe.")
    assert "Pleural Effusion" not in chexpert_labels("Small pericardial effusion.")
    assert "Pleural Effusion" not in chexpert_labels("Blunting of the left costophrenic angle.")
    # Scar is an opacity; fibrosis is "Pleural Other" in the CheXpert lists.
    assert chexpert_labels("Right apical scarring.")["Lung Opacity"] == "present"
    assert chexpert_labels("Pulmonary fibrosis.")["Pleural Other"] == "present"
