"""Reference loaders on the real tables torchxrayvision ships, plus the JSONL format."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from explainmyxray.core.case import Box, Case
from explainmyxray.core.errors import InputError, UsageError
from explainmyxray.report.ontology import load_ontology
from explainmyxray.scoring.references import (
    case_key,
    detect_format,
    load_references,
    padchest_findings,
)

PADCHEST = "PADCHEST_chest_x_ray_images_labels_160K_01.02.19.csv.gz"


@pytest.fixture(scope="module")
def padchest_excerpt(txv_data: Path, tmp_path_factory) -> Path:
    """The header and first 400 rows of the real PadChest table (reading all takes seconds)."""
    out = tmp_path_factory.mktemp("padchest") / "padchest_excerpt.csv.gz"
    with gzip.open(txv_data / PADCHEST, "rt", newline="") as src:
        lines = [next(src) for _ in range(401)]
    with gzip.open(out, "wt", newline="") as dst:
        dst.writelines(lines)
    return out


def test_padchest_rows(padchest_excerpt: Path):
    refs = load_references(padchest_excerpt)
    assert refs.format == "padchest"
    assert 350 < len(refs) <= 400
    normal = refs.get("20536686640136348236148679891455886468_k6ga29")
    assert normal is not None
    assert [f.label for f in normal.findings] == ["normal"]
    fibrosis = refs.get("135803415504923515076821959678074435083_fzis7d")
    by_label = {f.label: f for f in fibrosis.findings}
    assert set(by_label) == {
        "pulmonary fibrosis",
        "chronic changes",
        "kyphosis",
        "pseudonodule",
        "ground glass pattern",
    }
    # Locations come from the sentence each label is in.
    assert by_label["pulmonary fibrosis"].locations == ("loc basal bilateral",)
    assert by_label["ground glass pattern"].locations == ("loc basal",)
    assert by_label["kyphosis"].locations == ()
    assert "fibrosis" in fibrosis.text and fibrosis.meta["method"] == "Physician"
    # Every label of the excerpt is a PadChest term the ontology knows.
    ontology = load_ontology()
    labels = {f.label for r in refs for f in r.findings}
    assert all(ontology.resolve(label) is not None for label in labels), labels
    locations = {loc for r in refs for f in r.findings for loc in f.locations}
    assert locations and all(loc in ontology.locations for loc in locations)


def test_padchest_keys_filter_and_matching(padchest_excerpt: Path):
    refs = load_references(
        padchest_excerpt, keys=["renamed_135803415504923515076821959678074435083_fzis7b"]
    )
    assert [r.case_key for r in refs] == ["135803415504923515076821959678074435083_fzis7b"]
    case = Case(id="c", source="/x/renamed_135803415504923515076821959678074435083_fzis7b.png")
    assert refs.for_case(case) is not None


def test_padchest_cells_as_the_table_writes_them():
    # Cells copied from the table: a 'nan' sentence, a flat sentence list, a missing label list.
    findings = padchest_findings(
        "['unchanged', 'vascular hilar enlargement']",
        "[nan, ['unchanged'], [], ['vascular hilar enlargement', 'loc hilar', 'loc cardiac'], "
        "['normal', 'loc costophrenic angle']]",
    )
    assert [(f.label, f.locations) for f in findings] == [
        ("unchanged", ()),
        ("vascular hilar enlargement", ("loc hilar", "loc cardiac")),
    ]
    flat = padchest_findings("['pacemaker']", "['pacemaker', 'normal']")
    assert [f.label for f in flat] == ["pacemaker"]
    assert padchest_findings("nan", "nan") is None
    assert padchest_findings("['exclude']", "['exclude']") is None
    assert [f.label for f in padchest_findings("[' pleural effusion', '']", "")] == [
        "pleural effusion"
    ]


def test_iu_xray_archive(txv_data: Path):
    refs = load_references(txv_data / "NLMCXR_reports.tgz")
    assert refs.format == "iuxray"
    assert len(refs) > 7000  # one reference per image; 3,955 reports
    granuloma = refs.get("CXR10_IM-0002-1001")
    assert [(f.label, f.locations) for f in granuloma.findings] == [
        ("calcified granuloma", ("loc right upper lobe",))
    ]
    assert granuloma.text.startswith("FINDINGS:") and "IMPRESSION:" in granuloma.text
    assert granuloma.meta["report"] == "CXR10"
    # Both images of report 1 share its (normal) reference.
    assert refs.get("CXR1_1_IM-0001-3001").findings == refs.get("CXR1_1_IM-0001-4001").findings
    assert [f.label for f in refs.get("CXR1_1_IM-0001-3001").findings] == ["normal"]
    ontology = load_ontology()
    labels = {f.label for r in refs for f in r.findings or ()}
    assert all(ontology.get(label) is not None for label in labels)
    # The mapping leaves MeSH terms with no clear PadChest counterpart unmapped (rib and clavicle
    # Deformity, Spinal Fusion, Density outside the lung, Medical Device...): 7.5% of references
    # name one. (The earlier scoring-only mapping guessed labels for most and stayed under 5%.)
    unmapped = sum(bool(r.meta["unmapped"]) for r in refs)
    assert unmapped / len(refs) < 0.08
    # Each report is also keyed by its uId, the key of `explainmyxray label` cases.
    report = refs.get("CXR10")
    assert report is not None and report.findings == granuloma.findings
    assert report.meta["mesh"] == "Calcified Granuloma/lung/upper lobe/right"
    assert report.meta["split"] == "dev" and refs.get("CXR2000").meta["split"] == "held-out"
    # A report MeSH did not index says nothing about findings (not: a normal study).
    not_indexed = [r for r in refs if r.meta["mesh"] == "No Indexing"]
    assert not_indexed and all(r.findings is None for r in not_indexed)
    # Locations where MeSH has them: Pulmonary Atelectasis/base/left.
    atelectasis = [
        f
        for r in refs
        if "Pulmonary Atelectasis/base/left" in r.meta["mesh"].split("; ")
        for f in r.findings
        if f.label == "atelectasis"
    ]
    assert atelectasis and all({"loc basal", "loc left"} <= set(f.locations) for f in atelectasis)


def test_iu_xray_folder_and_single_file(tmp_path: Path, txv_data: Path):
    import tarfile

    with tarfile.open(txv_data / "NLMCXR_reports.tgz") as archive:
        member = archive.getmember("ecgen-radiology/10.xml")
        data = archive.extractfile(member).read()
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "10.xml").write_bytes(data)
    assert detect_format(tmp_path / "reports") == "iuxray"
    folder = load_references(tmp_path / "reports")
    single = load_references(tmp_path / "reports" / "10.xml")
    assert [r.case_key for r in folder] == [r.case_key for r in single]
    assert folder.get("CXR10_IM-0002-1001").findings == single.get("CXR10_IM-0002-1001").findings
    (tmp_path / "broken.xml").write_text("<eCitation><uId id='1'>")
    with pytest.raises(InputError, match=r"broken\.xml"):
        load_references(tmp_path / "broken.xml")


def test_nih_boxes(txv_data: Path):
    refs = load_references(txv_data / "BBox_List_2017.csv.gz")
    assert refs.format == "nih-bbox"
    assert len(refs) == 880  # images with boxes; 984 boxes
    assert sum(len(r.boxes) for r in refs) == 984
    ref = refs.match("nih_00003440_000")
    assert ref is not None and ref.findings is None and ref.image_size == (1024, 1024)
    labels = sorted(b.label for b in ref.boxes)
    assert labels == ["atelectasis", "mass"]
    mass = next(b.box for b in ref.boxes if b.label == "mass")
    assert mass.x0 == pytest.approx(591.644444444445)
    assert mass.width == pytest.approx(114.861375661376)
    ontology = load_ontology()
    assert all(ontology.get(b.label) is not None for r in refs for b in r.boxes)


def test_jsonl(tmp_path: Path):
    path = tmp_path / "refs.jsonl"
    lines = [
        {
            "id": "patient1_view1.png",
            "findings": [
                {"label": "pleural effusion", "locations": ["loc left costophrenic angle"]},
                {"label": "pneumothorax", "status": "absent"},
            ],
            "boxes": [{"label": "nodule", "x0": 10, "y0": 20, "x1": 50, "y1": 60}],
            "image_size": [512, 512],
            "report": "Small left effusion.",
        },
        {"id": "boxes_only", "boxes": [{"label": "mass", "x0": 0, "y0": 0, "x1": 5, "y1": 5}]},
    ]
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n\n")
    refs = load_references(path)
    first = refs.match("PATIENT1_VIEW1")
    assert [f.label for f in first.present()] == ["pleural effusion"]
    assert first.boxes[0].box == Box(x0=10, y0=20, x1=50, y1=60)
    assert first.image_size == (512, 512) and first.text == "Small left effusion."
    assert refs.get("boxes_only").findings is None

    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(lines[1]) + "\n" + json.dumps({"id": "x", "finding": []}) + "\n")
    with pytest.raises(InputError, match=r"bad.jsonl:2: .*finding"):
        load_references(bad)


def test_format_detection_and_errors(tmp_path: Path):
    other = tmp_path / "other.csv"
    other.write_text("a,b\n1,2\n")
    with pytest.raises(InputError, match="neither PadChest"):
        detect_format(other)
    with pytest.raises(InputError, match="cannot tell"):
        detect_format(tmp_path / "x.parquet")
    with pytest.raises(UsageError, match="no such file"):
        load_references(tmp_path / "missing.jsonl")
    with pytest.raises(UsageError, match="unknown reference format"):
        load_references(other, "mimic")


def test_case_key():
    assert case_key(Case(id="i", source="/data/00003440_000.png")) == "00003440_000"
    assert case_key(Case(id="i", source="/data/scan.DCM")) == "scan"
    assert case_key(Case(id="i", source="/data/CXR1_1_IM-0001-3001")) == "CXR1_1_IM-0001-3001"
    # report-only cases (explainmyxray label on .txt reports), sidecars included
    assert case_key(Case(id="i", source="/reports/CXR1.txt")) == "CXR1"
    assert case_key(Case(id="i", source="/data/CXR1_1_IM-0001-3001.png.txt")) == (
        "CXR1_1_IM-0001-3001"
    )
    assert case_key(Case(id="CXR7", source="")) == "CXR7"
