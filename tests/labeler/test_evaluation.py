"""Scoring the labeler against IU X-ray MeSH evaluation labels (labeler.evaluation)."""

from __future__ import annotations

import pytest

from explainmyxray.datasets.iu_xray import IUReport, mapping_from_dict
from explainmyxray.labeler.evaluation import evaluate


def test_evaluation_counts():
    mapping = mapping_from_dict(
        {
            "labels": {
                "cardiomegaly": {"mesh": ["Cardiomegaly"], "padchest": ["cardiomegaly"]},
                "pneumonia": {"mesh": ["Pneumonia"], "padchest": ["pneumonia"]},
            }
        }
    )
    reports = [
        IUReport(1, "Mild cardiomegaly.", "", ("Cardiomegaly/mild",)),  # tp
        IUReport(2, "Cardiomegaly.", "", ("normal",)),  # fp
        IUReport(3, "Heart normal.", "Possible pneumonia.", ("Pneumonia",)),  # fn (uncertain)
        IUReport(4, "No pneumonia.", "", ("No Indexing",)),  # counted: no skip list here
    ]
    result = evaluate(reports, mapping)
    cardio, pneumonia = result.per_label["cardiomegaly"], result.per_label["pneumonia"]
    assert (cardio.tp, cardio.fp, cardio.fn) == (1, 1, 0)
    assert (pneumonia.tp, pneumonia.fp, pneumonia.fn) == (0, 0, 1)
    assert result.micro.f1 == pytest.approx(2 * 1 / (2 * 1 + 1 + 1))
    assert result.macro_f1 == pytest.approx((2 / 3 + 0.0) / 2)
    assert result.errors["pneumonia"]["fn"] == [3]
    lenient = evaluate(reports, mapping, uncertain_as_present=True)
    assert lenient.per_label["pneumonia"].tp == 1
