"""The IU X-ray reader and the one MeSH → PadChest mapping (benchmark groups and references)."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from explainmyxray.core.errors import ConfigError, InputError
from explainmyxray.datasets.iu_xray import (
    IUReport,
    iter_report_xml,
    load_mapping,
    mapping_from_dict,
    parse_report_xml,
    read_reports,
    split_reports,
)
from explainmyxray.report.ontology import load_ontology

XML = b"""<?xml version="1.0" encoding="utf-8"?>
<eCitation><MedlineCitation><Article><Abstract>
<AbstractText Label="COMPARISON">None.</AbstractText>
<AbstractText Label="FINDINGS">Mild   cardiomegaly. No effusion.</AbstractText>
<AbstractText Label="IMPRESSION">Cardiomegaly.</AbstractText>
</Abstract></Article></MedlineCitation>
<MeSH><major>Cardiomegaly/mild</major><major>Pulmonary Atelectasis/base/left</major>
<automatic>Cardiomegaly</automatic></MeSH></eCitation>"""

XML_WITH_IDS = b"""<?xml version="1.0" encoding="utf-8"?>
<eCitation><uId id="CXR2417"/>
<MedlineCitation><Article><Abstract>
<AbstractText Label="FINDINGS"></AbstractText>
<AbstractText Label="IMPRESSION">No acute disease.</AbstractText>
</Abstract></Article></MedlineCitation>
<MeSH><major>normal</major></MeSH>
<parentImage id="CXR2417_IM-0958-1001"/><parentImage id="CXR2417_IM-0958-2001"/>
</eCitation>"""


def test_parse_report_xml():
    report = parse_report_xml(XML, "ecgen-radiology/7.xml")
    assert report.id == 7
    assert report.findings == "Mild cardiomegaly. No effusion."
    assert report.impression == "Cardiomegaly."
    assert report.mesh_major == ("Cardiomegaly/mild", "Pulmonary Atelectasis/base/left")
    assert report.text == "Mild cardiomegaly. No effusion.\nCardiomegaly."
    assert report.sectioned_text == (
        "FINDINGS: Mild cardiomegaly. No effusion.\nIMPRESSION: Cardiomegaly."
    )
    assert (report.uid, report.images, report.key, report.split) == ("", (), "IU7", "dev")


def test_parse_report_xml_ids_images_and_errors():
    report = parse_report_xml(XML_WITH_IDS, "somewhere/renamed.xml")
    assert (report.id, report.uid, report.key) == (2417, "CXR2417", "CXR2417")
    assert report.images == ("CXR2417_IM-0958-1001", "CXR2417_IM-0958-2001")
    assert report.held_out and report.split == "held-out"
    assert report.text == "No acute disease." and report.findings == ""
    assert report.sectioned_text == "IMPRESSION: No acute disease."
    with pytest.raises(InputError, match=r"broken\.xml"):
        parse_report_xml(b"<eCitation><uId id='1'>", "broken.xml")
    unnumbered = parse_report_xml(XML, "notes.xml")
    assert unnumbered.id is None and unnumbered.split is None
    with pytest.raises(InputError, match="no number"):
        split_reports([unnumbered])


def test_read_reports_from_an_archive_and_split(tmp_path):
    archive = tmp_path / "reports.tgz"
    with tarfile.open(archive, "w:gz") as tar:
        for name in ("ecgen-radiology/2001.xml", "ecgen-radiology/15.xml"):
            info = tarfile.TarInfo(name)
            info.size = len(XML)
            tar.addfile(info, io.BytesIO(XML))
    reports = read_reports(archive)
    assert [r.id for r in reports] == [15, 2001]
    assert reports[0].where == f"{archive}:ecgen-radiology/15.xml"
    dev, held = split_reports(reports)
    assert [r.id for r in dev] == [15] and [r.id for r in held] == [2001]


def test_read_reports_from_a_folder_or_one_file(tmp_path):
    folder = tmp_path / "xml"
    folder.mkdir()
    (folder / "3.xml").write_bytes(XML)
    (folder / "2417.xml").write_bytes(XML_WITH_IDS)
    assert [r.key for r in read_reports(folder)] == ["IU3", "CXR2417"]
    assert [r.id for r in read_reports(folder / "3.xml")] == [3]
    with pytest.raises(InputError, match="not found"):
        list(iter_report_xml(tmp_path / "missing.tgz"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match=r"no \*\.xml"):
        list(iter_report_xml(empty))
    (tmp_path / "not.tgz").write_text("plain text")
    with pytest.raises(InputError, match="not a readable tar archive"):
        list(iter_report_xml(tmp_path / "not.tgz"))


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
    assert not mapping.indexed(IUReport(3, "Text.", "", ()))
    assert mapping.indexed(IUReport(4, "", "", ("normal",)))


def test_unknown_padchest_labels_in_the_mapping_are_config_errors():
    data = {"labels": {"x": {"mesh": ["Cardiomegaly"], "padchest": ["big heart"]}}}
    with pytest.raises(ConfigError, match="big heart"):
        mapping_from_dict(data, known_labels={"cardiomegaly"})
    refined = {
        "labels": {
            "x": {
                "mesh": ["Cardiomegaly"],
                "padchest": ["cardiomegaly"],
                "refine": {"Cardiomegaly/severe": "huge heart"},
            }
        }
    }
    with pytest.raises(ConfigError, match="huge heart"):
        mapping_from_dict(refined, known_labels={"cardiomegaly"})
    extra = {"labels": {}, "reference_only": {"Heart Failure": "heart trouble"}}
    with pytest.raises(ConfigError, match=r"reference_only.*heart trouble"):
        mapping_from_dict(extra, known_labels={"cardiomegaly"})
    with pytest.raises(ConfigError, match="needs `mesh` and `padchest`"):
        mapping_from_dict({"labels": {"x": {"mesh": ["Cardiomegaly"]}}})


def test_packaged_mapping_loads():
    names = {label.name for label in load_mapping().labels}
    assert {"normal", "cardiomegaly", "pleural effusion", "atelectasis"} <= names


def test_mesh_terms():
    """Terms as eval references read them: one PadChest label, PadChest locations."""
    mapping = load_mapping()
    cases = {
        "Calcified Granuloma/lung/upper lobe/right": (
            "calcified granuloma",
            ("loc right upper lobe",),
        ),
        # the benchmark's `lung opacity` group: the labeler predicts it with `increased density`
        "Opacity/lung/base/bilateral/streaky": ("increased density", ("loc basal bilateral",)),
        "Opacity/lung/base/left": ("increased density", ("loc basal", "loc left")),
        "Pulmonary Atelectasis/base/left": ("atelectasis", ("loc basal", "loc left")),
        "Lung/hypoinflation/mild": ("hypoexpansion", ()),
        "Diaphragm/right/elevated/mild": (
            "hemidiaphragm elevation",
            ("loc diaphragm", "loc right"),
        ),
        "Costophrenic Angle/left/blunted": (
            "costophrenic angle blunting",
            ("loc left costophrenic angle",),
        ),
        "Fractures, Bone/ribs/left/healed": ("callus rib fracture", ("loc rib", "loc left")),
        "Fractures, Bone/ribs/right": ("rib fracture", ("loc rib", "loc right")),
        "Aorta/tortuous": ("aortic elongation", ("loc aortic",)),
        # the benchmark's `bronchovascular markings` group takes every `Markings` term
        "Markings/lung/bilateral/interstitial/diffuse": (
            "bronchovascular markings",
            ("loc diffuse bilateral",),
        ),
        "Tube, Inserted/trachea, carina": ("tracheostomy tube", ("loc tracheal",)),
        "Implanted Medical Device/humerus/right": (
            "humeral prosthesis",
            ("loc humerus", "loc right"),
        ),
        "Heart Failure": ("heart insufficiency", ()),
        "Lung/hilum/left/prominent": ("hilar enlargement", ("loc hilar", "loc left")),
        "normal": ("normal", ()),
        "Epicardial Fat/prominent": ("mediastinic lipomatosis", ()),
        # MeSH does not say which tube; ribs may or may not be old fractures
        "Tube, Inserted": (None, ()),
        "Deformity/ribs/right": (None, ()),
        "No Indexing": (None, ()),
    }
    for term, expected in cases.items():
        mapped = mapping.map_term(term)
        assert (mapped.label, mapped.locations) == expected, term
    assert mapping.map_term("Opacity/lung/base/left").groups == ("lung opacity",)
    assert mapping.map_term("Heart Failure").groups == ()
    assert mapping.map_term("Tube, Inserted").groups == ("tube",)


def test_mesh_targets_are_padchest_labels():
    ontology = load_ontology()
    mapping = load_mapping()
    targets = {label for _, label in mapping.reference_only}
    for group in mapping.labels:
        targets |= set(group.padchest) | {label for _, label in group.refine}
        if group.reference is not None:
            targets.add(group.reference)
    assert all(ontology.get(t) is not None for t in targets), [
        t for t in targets if ontology.get(t) is None
    ]
    sites = set(mapping.location_rules.sites.values())
    assert all(f"loc {site}" in ontology.locations for site in sites), sites


def test_reference_labels_are_what_the_benchmark_accepts():
    """A group's reference label is one of its PadChest labels (so eval and benchmark agree),
    except the few refinements that name what a frozen group lumps in."""
    outside = set()
    for group in load_mapping().labels:
        if group.reference is not None:
            assert group.reference in group.padchest, group.name
        outside |= {(group.name, label) for _, label in group.refine if label not in group.padchest}
    assert outside == {
        ("implanted electrical device", "humeral prosthesis"),
        ("implanted electrical device", "osteosynthesis material"),
        ("arthritis", "vertebral degenerative changes"),
    }


def test_real_archive_numbers_and_keys(iu_archive: Path):
    reports = read_reports(iu_archive)
    assert len(reports) == 3955
    assert all(r.key == f"CXR{r.id}" for r in reports)
    dev, held = split_reports(reports)
    assert len(dev) == 1978 and max(r.id for r in dev) == 1999  # numbers have gaps
    assert min(r.id for r in held) == 2000
