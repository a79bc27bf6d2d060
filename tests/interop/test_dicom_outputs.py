"""SR, SEG and SC from the default pipeline over every real radiograph (DICOM, PNG, JPEG).

One shared run (``real_run``): de-identified outputs as ``run --dicom-outputs`` writes them, and
for DICOM sources the ``--keep-phi`` variant too. Checked with the tools of the field:
``dciodvfy`` (dicom3tools) for the IODs, ``dsrdump`` (DCMTK) for the SR tree, highdicom to
read the SR back, pydicom alone to decode the SEG frames.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset

from explainmyxray.imaging.phi import IDENTIFYING, TECHNICAL_TEXT
from explainmyxray.interop.seg import read_seg
from explainmyxray.interop.sr import read_sr

pytestmark = pytest.mark.slow


def dciodvfy_errors(path: Path) -> list[str]:
    if shutil.which("dciodvfy") is None:
        pytest.skip("dciodvfy (Debian dicom3tools) is not installed")
    result = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, timeout=120)
    return [line for line in (result.stdout + result.stderr).splitlines() if "Error" in line]


def report_of(case_dir: Path) -> dict:
    return json.loads((case_dir / "report.json").read_text())


def all_dicom_files(real_run) -> list[Path]:
    folders = real_run.case_dirs() + sorted(real_run.keep_phi_dir.iterdir())
    return [p for folder in folders for p in sorted(folder.glob("*.dcm"))]


def test_every_case_has_an_sr_a_seg_and_a_source_image(real_run):
    assert real_run.summary.ok, real_run.summary.failures
    assert len(real_run.case_dirs()) == len(real_run.sources) == 11
    for case_dir in real_run.case_dirs():
        assert {p.name for p in case_dir.glob("*.dcm")} == {"sc.dcm", "sr.dcm", "seg.dcm"}
    keep = sorted(real_run.keep_phi_dir.iterdir())
    assert len(keep) == 3  # the DICOM sources reference themselves: no sc.dcm
    for folder in keep:
        assert {p.name for p in folder.glob("*.dcm")} == {"sr.dcm", "seg.dcm"}


def test_every_object_passes_dciodvfy_without_errors(real_run):
    files = all_dicom_files(real_run)
    assert len(files) == 11 * 3 + 3 * 2
    problems = {str(p): errors for p in files if (errors := dciodvfy_errors(p))}
    assert problems == {}


def test_dsrdump_prints_the_tid1500_tree(real_run):
    if shutil.which("dsrdump") is None:
        pytest.skip("dsrdump (Debian dcmtk) is not installed")
    for case_dir in real_run.case_dirs():
        report = report_of(case_dir)
        tree = subprocess.run(
            ["dsrdump", str(case_dir / "sr.dcm")], capture_output=True, text=True, timeout=60
        )
        assert tree.returncode == 0, tree.stderr
        text = tree.stdout
        assert "Comprehensive 3D SR Document" in text
        assert '<CONTAINER:(,,"Imaging Measurement Report")=CONTINUOUS>' in text
        assert '(399208008,SCT,"Plain chest X-ray")' in text
        grounded = {g["finding"]: len(g["regions"]) for g in report["groundings"]}
        findings = report["report"]["findings"]
        groups = sum(grounded.get(f["label"], 0) or 1 for f in findings)
        assert text.count('<contains CONTAINER:(,,"Measurement Group")') == groups
        assert text.count('SCOORD:(,,"Image Region")=(POLYLINE') == sum(grounded.values())
        assert '(287272002,SCT,"Cardiomegaly")' in text
        assert '(42425007,SCT,"Equivocal")' in text  # "possible ... atelectasis"
        assert '(272519000,SCT,"Absent")' in text  # "no pneumothorax"
        assert re.search(r'\(aortic elongation,99EMXR\[1\.0\],"aortic elongation"\)', text)
        assert '<contains CONTAINER:(,,"Qualitative Evaluations")' in text
        assert '<contains TEXT:(,,"Impression")="Cardiomegaly with a small' in text


def test_the_sr_reads_back_to_report_json(real_run):
    folders = [(d, d) for d in real_run.case_dirs()]
    folders += [(real_run.out / "cases" / k.name, k) for k in real_run.keep_phi_dir.iterdir()]
    for case_dir, sr_dir in folders:
        report = report_of(case_dir)
        read = read_sr(pydicom.dcmread(sr_dir / "sr.dcm"))
        expected = []
        boxes = {g["finding"]: g["regions"] for g in report["groundings"]}
        for finding in report["report"]["findings"]:
            regions = boxes.get(finding["label"], [])
            for r in regions:
                box = tuple(float(np.float32(r["box"][k])) for k in ("x0", "y0", "x1", "y1"))
                expected.append((finding["label"], finding["status"], r["region"], box))
            if not regions:
                expected.append((finding["label"], finding["status"], None, None))
        got = [
            (
                f.label,
                f.status,
                f.region,
                (f.box.x0, f.box.y0, f.box.x1, f.box.y1) if f.box else None,
            )
            for f in read
        ]
        assert sorted(got, key=repr) == sorted(expected, key=repr)
        assert {f.label for f in read} == {f["label"] for f in report["report"]["findings"]}
        assert any(f.region and f.box for f in read)  # the boxes really are there


def test_the_sr_references_its_image(real_run):
    for case_dir in real_run.case_dirs():
        sr = pydicom.dcmread(case_dir / "sr.dcm")
        sc = pydicom.dcmread(case_dir / "sc.dcm")
        evidence = sr.CurrentRequestedProcedureEvidenceSequence[0]
        instance = evidence.ReferencedSeriesSequence[0].ReferencedSOPSequence[0]
        assert instance.ReferencedSOPInstanceUID == sc.SOPInstanceUID
        assert sr.StudyInstanceUID == sc.StudyInstanceUID == evidence.StudyInstanceUID
        assert (sr.CompletionFlag, sr.VerificationFlag) == ("COMPLETE", "UNVERIFIED")
        report = report_of(case_dir)
        assert (sc.Columns, sc.Rows) == (report["image"]["width"], report["image"]["height"])


def test_seg_frames_equal_the_masks(real_run):
    folders = [(d.name, d) for d in real_run.case_dirs()]
    folders += [(k.name, k) for k in real_run.keep_phi_dir.iterdir()]
    for case, folder in folders:
        masks = {rid: m for rid, m in real_run.masks[case].items() if m.any()}
        seg = pydicom.dcmread(folder / "seg.dcm")
        segments = read_seg(seg)
        assert [s.region for s in segments] == [r for r in coding_order() if r in masks]
        for segment in segments:
            assert np.array_equal(segment.mask, masks[segment.region]), (case, segment.region)
        item = seg.SegmentSequence[0]
        assert item.SegmentedPropertyCategoryCodeSequence[0].CodeValue == "91723000"
        assert len(item.RecommendedDisplayCIELabValue) == 3


def coding_order() -> list[str]:
    from explainmyxray.anatomy.regions import REGION_IDS

    return list(REGION_IDS)


STANDARD = "1.2.840.10008."
"""The root of the UIDs the DICOM standard defines (SOP classes, transfer syntaxes, ...)."""


def identifying_values(source: Path) -> set[str]:
    """Every identifying value and every UID of a source header, as text."""
    ds = pydicom.dcmread(source, stop_before_pixels=True)
    values = set()
    for keyword in IDENTIFYING.values():
        value = ds.get(keyword)
        if value not in (None, ""):
            values.add(str(value).strip())
    for element in ds.iterall():
        if element.VR == "UI" and element.value and not str(element.value).startswith(STANDARD):
            values.add(str(element.value))
    return {v for v in values if len(v) >= 4}


def strings(ds: Dataset) -> list[str]:
    """Every value of the data set as text, but the technical ones the reader may report."""
    allowed = set(TECHNICAL_TEXT.values())
    out = [
        str(e.value)
        for e in ds.iterall()
        if e.VR not in ("SQ", "OB", "OW", "OF") and e.keyword not in allowed
    ]
    out += [str(e.value) for e in ds.file_meta]
    return out


def test_deidentified_outputs_carry_no_identifier_of_the_source(real_run):
    dicom_cases = [c for c, p in real_run.sources.items() if p.suffix == ".dcm"]
    assert len(dicom_cases) == 3
    for case in dicom_cases:
        secrets = identifying_values(real_run.sources[case])
        assert len(secrets) >= 3  # at least the study, series and instance UIDs
        study_uids = set()
        for name in ("sc.dcm", "sr.dcm", "seg.dcm"):
            ds = pydicom.dcmread(real_run.out / "cases" / case / name)
            text = strings(ds)
            leaked = {s for s in secrets for t in text if s in t}
            assert leaked == set(), (case, name, leaked)
            assert ds.PatientID.startswith("EMXR-")
            assert str(ds.PatientName) == ""
            assert ds.get("PatientBirthDate", "") == ""
            assert ds.get("AccessionNumber", "") == ""
            study_uids.add(ds.StudyInstanceUID)
        assert len(study_uids) == 1  # a new study, shared by the three
        sc = pydicom.dcmread(real_run.out / "cases" / case / "sc.dcm")
        assert sc.PatientIdentityRemoved == "YES"


def test_keep_phi_outputs_join_the_source_study(real_run):
    for folder in real_run.keep_phi_dir.iterdir():
        source = pydicom.dcmread(real_run.sources[folder.name], stop_before_pixels=True)
        for name in ("sr.dcm", "seg.dcm"):
            ds = pydicom.dcmread(folder / name)
            assert ds.StudyInstanceUID == source.StudyInstanceUID
            assert ds.PatientID == source.PatientID
            assert ds.SeriesInstanceUID != source.SeriesInstanceUID
        seg = pydicom.dcmread(folder / "seg.dcm")
        referenced = seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence[0]
        assert referenced.ReferencedSOPInstanceUID == source.SOPInstanceUID
