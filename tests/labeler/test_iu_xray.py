from __future__ import annotations

import io
import tarfile

import pytest

from explainmyxray.core.errors import ConfigError
from explainmyxray.labeler.evaluation import evaluate
from explainmyxray.labeler.iu_xray import (
    IUReport,
    load_mapping,
    mapping_from_dict,
    parse_report_xml,
    read_reports,
    split_reports,
)

XML = b"""<?xml version="1.0" encoding="utf-8"?>
<eCitation><MedlineCitation><Article><Abstract>
<AbstractText Label="COMPARISON">None.</AbstractText>
<AbstractText Label="FINDINGS">Mild   cardiomegaly. No effusion.</AbstractText>
<AbstractText Label="IMPRESSION">Cardiomegaly.</AbstractText>
</Abstract></Article></MedlineCitation>
<MeSH><major>Cardiomegaly/mild</major><major>Pulmonary Atelectasis/base/left</major>
<automatic>Cardiomegaly</automatic></MeSH></eCitation>"""


def test_parse_report_xml():
    report = parse_report_xml(XML, 7)
    assert report.id == 7
    assert report.findings == "Mild cardiomegaly. No effusion."
    assert report.impression == "Cardiomegaly."
    assert report.mesh_major == ("Cardiomegaly/mild", "Pulmonary Atelectasis/base/left")
    assert report.text == "Mild cardiomegaly. No effusion.\nCardiomegaly."


def test_read_reports_from_an_archive_and_split(tmp_path):
    archive = tmp_path / "reports.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        for name in ("ecgen-radiology/2001.xml", "ecgen-radiology/15.xml"):
            info = tarfile.TarInfo(name)
            info.size = len(XML)
            tar.addfile(info, io.BytesIO(XML))
    reports = read_reports(archive)
    assert [r.id for r in reports] == [15, 2001]
    dev, held = split_reports(reports)
    assert [r.id for r in dev] == [15] and [r.id for r in held] == [2001]


def test_mesh_patterns_need_their_qualifiers():
    mapping = mapping_from_dict(
        {
            "labels": {
                "aortic calcification": {
                    "mesh": ["Calcinosis/aorta", "Calcinosis/aorta, thoracic"],
                    "padchest": ["aortic atheromatosis"],
                },
                "atelectasis": {"mesh": ["Pulmonary Atelectasis"], "padchest": ["atelectasis"]},
            },
            "skip_reports_with": ["No Indexing"],
        }
    )
    calcified, atelectasis = mapping.labels
    assert calcified.in_mesh(["Calcinosis/aorta/mild"])
    assert calcified.in_mesh(["Calcinosis/aorta, thoracic"])
    assert not calcified.in_mesh(["Calcinosis/lung/hilum"])
    assert atelectasis.in_mesh(["Pulmonary Atelectasis/base/left"])
    assert not mapping.usable(IUReport(1, "Text.", "", ("No Indexing",)))
    assert not mapping.usable(IUReport(2, "", "", ("normal",)))


def test_unknown_padchest_labels_in_the_mapping_are_config_errors():
    data = {"labels": {"x": {"mesh": ["Cardiomegaly"], "padchest": ["big heart"]}}}
    with pytest.raises(ConfigError, match="big heart"):
        mapping_from_dict(data, known_labels={"cardiomegaly"})


def test_packaged_mapping_loads():
    names = {label.name for label in load_mapping().labels}
    assert {"normal", "cardiomegaly", "pleural effusion", "atelectasis"} <= names


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
