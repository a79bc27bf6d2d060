"""Against a real Orthanc with DICOMweb: radiographs in over WADO-RS, results out over STOW-RS."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pydicom
import pytest
import requests

from explainmyxray.cli.app import main
from explainmyxray.interop.dicomweb import (
    PASSWORD_ENV,
    DicomWebAuth,
    DicomWebClient,
    DicomWebError,
    parse_ref,
)

from .conftest import REPORT, rg1_uncr
from .orthanc import PASSWORD, USER

CLI = (sys.executable, "-m", "explainmyxray", "run", "default")
SR_CLASS = "1.2.840.10008.5.1.4.1.1.88.34"
SEG_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"


def client(orthanc) -> DicomWebClient:
    return DicomWebClient(orthanc.dicomweb, DicomWebAuth(USER, PASSWORD))


def instances(orthanc, study: str) -> dict[str, tuple[str, str]]:
    """SOP Instance UID -> (SOP Class UID, Series Instance UID), by a plain QIDO-RS request."""
    response = requests.get(
        f"{orthanc.dicomweb}/studies/{study}/instances",
        params={"includefield": "SOPClassUID,SeriesInstanceUID"},
        auth=(USER, PASSWORD),
        timeout=30,
    )
    response.raise_for_status()
    found = {}
    for item in response.json():

        def value(tag: str, item=item) -> str:
            return item[tag]["Value"][0]

        found[value("00080018")] = (value("00080016"), value("0020000E"))
    return found


def wado_rs_bytes(orthanc, study: str, series: str, instance: str) -> bytes:
    """The instance exactly as WADO-RS sends it (``transfer-syntax=*``: as stored)."""
    response = requests.get(
        f"{orthanc.dicomweb}/studies/{study}/series/{series}/instances/{instance}",
        headers={"Accept": 'multipart/related; type="application/dicom"; transfer-syntax=*'},
        auth=(USER, PASSWORD),
        timeout=60,
    )
    response.raise_for_status()
    boundary = re.search(r'boundary="?([^";]+)"?', response.headers["Content-Type"]).group(1)
    parts = [
        p for p in response.content.split(b"--" + boundary.encode()) if p not in (b"", b"--\r\n")
    ]
    parts = [p for p in parts if b"\r\n\r\n" in p]
    assert len(parts) == 1
    body = parts[0].split(b"\r\n\r\n", 1)[1]
    return body.removesuffix(b"\r\n")


def wado_uri_bytes(orthanc, study: str, series: str, instance: str) -> bytes:
    # the query is written out: Orthanc's WADO-URI does not decode a %2F in contentType
    query = (
        f"requestType=WADO&studyUID={study}&seriesUID={series}&objectUID={instance}"
        "&contentType=application/dicom"
    )
    response = requests.get(f"{orthanc.url}/wado?{query}", auth=(USER, PASSWORD), timeout=60)
    response.raise_for_status()
    assert response.headers["Content-Type"] == "application/dicom"
    return response.content


@pytest.mark.slow
def test_end_to_end_from_the_pacs_and_back(orthanc, shared_data, tmp_path, monkeypatch):
    sources = [rg1_uncr(), shared_data / "dicom" / "siim_chest_cr_jpeg.dcm"]
    headers = [pydicom.dcmread(p, stop_before_pixels=True) for p in sources]
    assert headers[1].file_meta.TransferSyntaxUID.is_compressed  # a JPEG-compressed CR
    stored = client(orthanc).store(sources)
    assert stored == [h.SOPInstanceUID for h in headers]
    studies = [h.StudyInstanceUID for h in headers]

    out = tmp_path / "run"
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    refs = [f"dicomweb:{orthanc.dicomweb}/studies/{s}" for s in studies]
    store = ["--store", f"dicomweb:{orthanc.dicomweb}", "--dicomweb-user", USER]
    status = main(
        ["run", "default", *refs, "--out", str(out), "--keep-phi", "--report", REPORT, *store]
    )
    assert status == 0
    assert not (out / ".dicomweb-inputs").exists()  # retrieved originals do not outlive the run
    case_dirs = sorted((out / "cases").iterdir())
    assert len(case_dirs) == 2
    for case_dir in case_dirs:
        assert re.fullmatch(r"dicomweb-[0-9a-f]{20}-[0-9a-f]{16}", case_dir.name)

    for case_dir in case_dirs:
        sr_file, seg_file = case_dir / "sr.dcm", case_dir / "seg.dcm"
        assert not (case_dir / "sc.dcm").exists()  # the results reference the PACS image
        sr, seg = pydicom.dcmread(sr_file), pydicom.dcmread(seg_file)
        study = sr.StudyInstanceUID
        assert study in studies and seg.StudyInstanceUID == study
        held = instances(orthanc, study)
        source = headers[studies.index(study)]
        assert held[source.SOPInstanceUID][0] == source.SOPClassUID
        assert held[sr.SOPInstanceUID][0] == SR_CLASS
        assert held[seg.SOPInstanceUID][0] == SEG_CLASS
        assert len(held) == 3
        for ds, path in ((sr, sr_file), (seg, seg_file)):
            on_disk = path.read_bytes()
            uids = (study, ds.SeriesInstanceUID, ds.SOPInstanceUID)
            assert held[ds.SOPInstanceUID][1] == ds.SeriesInstanceUID
            assert wado_rs_bytes(orthanc, *uids) == on_disk
            assert wado_uri_bytes(orthanc, *uids) == on_disk

    # the stored results are not inputs: the studies still hold one radiograph each
    web = client(orthanc)
    for study in studies:
        assert len(web.radiographs(study)) == 1


def test_qido_search_finds_studies_by_modality_and_date(orthanc, shared_data):
    source = shared_data / "dicom" / "veterinary_thorax_dx_monochrome1.dcm"
    header = pydicom.dcmread(source, stop_before_pixels=True)
    web = client(orthanc)
    web.store([source])
    base = f"dicomweb:{orthanc.dicomweb}/studies"
    found = web.study_uids(parse_ref(f"{base}?modality=CR,DX&since=1900-01-01"))
    assert header.StudyInstanceUID in found
    assert header.StudyInstanceUID in web.study_uids(parse_ref(f"{base}?modality=DX"))
    assert header.StudyInstanceUID not in web.study_uids(parse_ref(f"{base}?modality=MR"))
    assert web.study_uids(parse_ref(f"{base}?modality=DX&since=2999-01-01")) == []
    folder = Path(orthanc.log).parent / "downloads"
    study = parse_ref(f"dicomweb:{orthanc.dicomweb}/studies/{header.StudyInstanceUID}")
    paths = web.download(study, folder)
    assert len(paths) == 1 and header.SOPInstanceUID not in paths[0].name
    assert pydicom.dcmread(paths[0]).SOPInstanceUID == header.SOPInstanceUID


def test_wrong_credentials_are_one_clear_line(orthanc, tmp_path):
    web = DicomWebClient(orthanc.dicomweb, DicomWebAuth(USER, "wrong"))
    with pytest.raises(DicomWebError, match=r"HTTP 401 \(check the DICOMweb credentials\)"):
        web.study_uids(parse_ref(f"dicomweb:{orthanc.dicomweb}/studies?modality=CR"))
    out = ["--out", str(tmp_path / "o")]
    result = subprocess.run(
        [*CLI, f"dicomweb:{orthanc.dicomweb}/studies?modality=CR", *out, "--dicomweb-user", USER],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, PASSWORD_ENV: "wrong"},
    )
    assert result.returncode == 1
    assert "HTTP 401" in result.stderr and "Traceback" not in result.stderr


def test_storing_without_keep_phi_is_refused_with_exit_2(tmp_path, shared_data):
    out, store = (
        ["--out", str(tmp_path / "o")],
        ["--store", "dicomweb:http://127.0.0.1:9/dicom-web"],
    )
    result = subprocess.run(
        [*CLI, str(shared_data / "cxr" / "nih_00000001_000.png"), *out, *store],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "--keep-phi" in result.stderr and "patient" in result.stderr
    assert not (tmp_path / "o").exists()
