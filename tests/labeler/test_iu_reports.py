"""Real IU X-ray reports of the development split (ids < 2000), read from the packaged archive.

Each expectation was checked by reading the report; the text itself stays in the archive.
"""

from __future__ import annotations

import pytest

from explainmyxray.labeler import label_report

EXPECTED: dict[int, dict[str, str]] = {
    # normal study: every named finding negated, normal heart size implied
    1: {
        "pulmonary edema": "absent",
        "consolidation": "absent",
        "pleural effusion": "absent",
        "pneumothorax": "absent",
        "cardiomegaly": "absent",
        "normal": "present",
    },
    # enlarged silhouette, XXXX central line, effusions with atelectasis, "without overt edema"
    1243: {
        "cardiomegaly": "present",
        "central venous catheter": "present",
        "pleural effusion": "present",
        "atelectasis": "present",
        "pneumothorax": "absent",
        "pulmonary edema": "absent",
        "normal": "absent",
    },
    # loculated effusion, "possibly passive atelectasis", PICC, normal heart size
    1649: {
        "loculated pleural effusion": "present",
        "alveolar pattern": "present",
        "atelectasis": "uncertain",
        "central venous catheter": "present",
        "cardiomegaly": "absent",
        "pneumothorax": "absent",
    },
    # "scarring versus XXXX effusion", tortuous aorta, elevated hemidiaphragm
    175: {
        "cardiomegaly": "present",
        "aortic elongation": "present",
        "hemidiaphragm elevation": "present",
        "costophrenic angle blunting": "present",
        "fibrotic band": "uncertain",
        "pleural effusion": "uncertain",
        "pneumothorax": "absent",
    },
    # borderline heart size counts; "without typical findings of pulmonary edema"
    1164: {
        "cardiomegaly": "present",
        "hypoexpansion": "present",
        "bronchovascular markings": "present",
        "consolidation": "absent",
        "pleural effusion": "absent",
        "pulmonary edema": "absent",
    },
    # "left lung is clear" does not clear the right lung's consolidation
    1501: {
        "consolidation": "present",
        "atelectasis": "present",
        "hemidiaphragm elevation": "present",
        "subcutaneous emphysema": "present",
        "fracture": "present",
        "pneumothorax": "absent",
    },
    # nodular opacity at the hilum, clips, and "could be due to ... lymph node"
    1918: {
        "nodule": "present",
        "increased density": "present",
        "suture material": "present",
        "pulmonary edema": "absent",
        "pneumothorax": "absent",
    },
    # hyperexpanded lungs, scattered granuloma, "no mediastinal widening"
    1437: {
        "hyperinflated lung": "present",
        "granuloma": "present",
        "mediastinal enlargement": "absent",
        "cardiomegaly": "absent",
        "normal": "absent",
    },
    # "Negative for acute displaced rib fracture"
    947: {"rib fracture": "absent", "consolidation": "absent", "normal": "present"},
    # upper lobe opacity and pneumonia in the impression
    268: {"increased density": "present", "pneumonia": "present", "cardiomegaly": "absent"},
}


@pytest.mark.parametrize("report_id", sorted(EXPECTED))
def test_development_report(iu_dev, report_id):
    report = iu_dev[report_id]
    assert not report.held_out
    labels = label_report(report.text)
    wrong = {
        label: (labels.get(label), status)
        for label, status in EXPECTED[report_id].items()
        if labels.get(label) != status
    }
    assert not wrong, f"report {report_id}: (labeler, expected) {wrong}"
