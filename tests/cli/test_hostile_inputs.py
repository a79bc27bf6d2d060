"""Hostile inputs through the real command: identifiers in paths, bombs and the whole corpus."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image

from explainmyxray.imaging.phi import TECHNICAL_TEXT
from tests.imaging import bombs

REPO = Path(__file__).resolve().parents[2]
IMAGE_ONLY = "name: image\nstages:\n  - stage: preprocess\n    plugin: image\n"
ANY_SUBJECT = IMAGE_ONLY + (
    "    options:\n      modalities: ['*']\n      body_parts: ['*']\n"
    "      on_quality_error: continue\n"  # every decoder runs, whatever the image shows
)
REPORTED = """\
name: reported
stages:
  - stage: preprocess
    plugin: image
  - stage: generate
    plugin: supplied-report
  - stage: verify
    plugin: labeler
"""
PLUGINS = ["--plugin", "image", "--plugin", "supplied-report", "--plugin", "labeler"]

# identifiers as a PACS export carries them: names, MRN, birth date, instance UIDs
NAME, GIVEN, MRN, BIRTH = "ZQXDOE", "QWJOHN", "MRN98765ZQX", "19230417"
UID_ROOT = "1.2.826.0.1.3680043.98765"
IDENTIFIERS = (NAME, GIVEN, MRN, BIRTH, UID_ROOT)
STEM = f"{NAME}_{GIVEN}_{BIRTH}_{MRN}"
VR_VALUES = {
    "PN": f"{NAME}^{GIVEN}",
    "DA": BIRTH,
    "DT": f"{BIRTH}101010",
    "TM": "101010",
    "AS": "099Y",
    **dict.fromkeys(("LO", "SH", "LT", "ST", "UT", "UC", "AE"), MRN),
}
KEPT_TECHNICAL = set(TECHNICAL_TEXT.values())


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}
    return subprocess.run(
        [sys.executable, "-m", "explainmyxray", *args],
        cwd=cwd or REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def measured(*args: str) -> tuple[subprocess.CompletedProcess[str], int]:
    """Run the command in a fresh parent whose only child it is; the child's peak RSS in bytes."""
    probe = (
        "import resource, subprocess, sys\n"
        "code = subprocess.run(sys.argv[1:]).returncode\n"
        "peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss\n"
        "print(f'PEAK_RSS_KIB={peak}', file=sys.stderr)\n"
        "sys.exit(code)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "COLUMNS": "200"}
    done = subprocess.run(
        [sys.executable, "-c", probe, sys.executable, "-m", "explainmyxray", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    line = next(x for x in done.stderr.splitlines() if x.startswith("PEAK_RSS_KIB="))
    return done, int(line.split("=")[1]) * 1024


def identifying_dicom(source: Path, target: Path) -> Path:
    """``source`` with identifiers in every non-technical text, date and instance UID field."""
    ds = pydicom.dcmread(source)
    for attribute in ("PatientName", "PatientID", "PatientBirthDate", "AccessionNumber"):
        setattr(ds, attribute, "")
    ds.InstitutionName = ds.ReferringPhysicianName = ds.StudyDescription = ""
    for element in ds.iterall():
        if element.VR in VR_VALUES and element.keyword not in KEPT_TECHNICAL:
            element.value = VR_VALUES[element.VR]
    for n, attribute in enumerate(("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")):
        setattr(ds, attribute, f"{UID_ROOT}.{n + 1}")
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    target.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(target, enforce_file_format=True)
    return target


@pytest.fixture(scope="module")
def phi_runs(tmp_path_factory) -> dict[str, Path]:
    from pydicom.data import get_testdata_file

    root = tmp_path_factory.mktemp("phi")
    (root / "reported.yaml").write_text(REPORTED)
    folder = root / "named" / STEM / f"{UID_ROOT}.1"
    dicom = identifying_dicom(Path(str(get_testdata_file("RG1_UNCR.dcm"))), folder / f"{STEM}.dcm")
    png = folder / f"{UID_ROOT}.3.{MRN}.png"
    Image.fromarray((np.linspace(0, 255, 64 * 64).reshape(64, 64)).astype(np.uint8)).save(png)
    broken = folder / f"{STEM}_broken.dcm"
    broken.write_bytes(dicom.read_bytes()[:4000])
    neutral = root / "neutral" / "a"
    neutral.mkdir(parents=True)
    for i, path in enumerate((dicom, png, broken)):
        shutil.copyfile(path, neutral / f"image{i}{path.suffix}")
    runs = {}
    for name, inputs, extra in (
        ("named", root / "named", []),
        ("neutral", root / "neutral", []),
        ("kept", root / "named", ["--keep-phi"]),
    ):
        out = root / f"out-{name}"
        done = cli(
            *PLUGINS,
            "run",
            str(root / "reported.yaml"),
            str(inputs),
            "--out",
            str(out),
            "--report",
            "Mild cardiomegaly. No pleural effusion.",
            *extra,
        )
        assert done.returncode == 1, done.stderr  # the truncated file fails its case
        assert "Traceback" not in done.stdout + done.stderr
        runs[name] = out
    return runs


def _case_dirs(out: Path) -> dict[str, Path]:
    return {p.name: p for p in (out / "cases").iterdir() if p.is_dir()}


def test_no_identifier_from_paths_or_headers_reaches_any_output(phi_runs):
    out = phi_runs["named"]
    written = [p for p in out.rglob("*") if p.is_file() and "phi" not in p.relative_to(out).parts]
    assert {p.name for p in written} >= {"report.json", "overlay.png", "index.html", "run.json"}
    for path in written:
        text = path.read_bytes().decode("latin-1").upper()
        for token in IDENTIFIERS:
            assert token.upper() not in text, f"{token} in {path.relative_to(out)}"
    for path in out.rglob("*"):
        assert not any(token in path.name for token in IDENTIFIERS), path
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "phi/" not in index and "sources.json" not in index


def test_the_overlay_is_the_same_pixels_as_with_neutral_names(phi_runs):
    named, neutral = _case_dirs(phi_runs["named"]), _case_dirs(phi_runs["neutral"])
    assert sorted(named) == sorted(neutral)  # ids from content: the names changed nothing
    overlays = [n for n in named if (named[n] / "overlay.png").is_file()]
    assert len(overlays) == 1  # the chest CR; the gradient PNG stops at the quality gate
    for case in overlays:
        a = np.asarray(Image.open(named[case] / "overlay.png"))
        b = np.asarray(Image.open(neutral[case] / "overlay.png"))
        assert a.shape == b.shape and np.array_equal(a, b), case


def test_the_paths_are_only_in_the_marked_identifier_file(phi_runs):
    out = phi_runs["named"]
    sources = out / "phi" / "sources.json"
    document = json.loads(sources.read_text())
    assert document["contains_identifiers"] is True
    assert sorted(document["cases"]) == sorted(_case_dirs(out))
    assert any(STEM in entry["source"] for entry in document["cases"].values())
    assert stat.S_IMODE(sources.stat().st_mode) == 0o600
    for case in _case_dirs(out).values():
        source = json.loads((case / "report.json").read_text())["source"]
        assert source.startswith("sha256:")


def test_keep_phi_brings_the_readable_names_back(phi_runs):
    out = phi_runs["kept"]
    cases = _case_dirs(out)
    assert any(name.startswith(STEM) for name in cases)
    sources = [json.loads((c / "report.json").read_text())["source"] for c in cases.values()]
    assert any(STEM in s for s in sources)


def test_out_that_is_a_file_or_unwritable_is_refused_before_any_work(tmp_path):
    (tmp_path / "image.yaml").write_text(IMAGE_ONLY)
    image = tmp_path / "x.png"
    Image.fromarray(np.zeros((64, 64), dtype=np.uint8)).save(image)
    taken = tmp_path / "taken"
    taken.write_text("not a folder")
    for out, why in ((taken, "exists and is not a folder"), (taken / "below", "not writable")):
        pipeline = str(tmp_path / "image.yaml")
        done = cli("--plugin", "image", "run", pipeline, str(image), "--out", str(out))
        assert done.returncode == 2 and why in done.stderr
        assert "input(s)" not in done.stdout  # refused before any input was looked at
    assert taken.read_text() == "not a folder"


def test_corpus_and_bombs_no_crash_no_traceback_bounded_memory(tmp_path):
    """Every DICOM file pydicom and pydicom-data ship, plus a bomb of each syntax, in one run."""
    from pydicom.data import get_testdata_files

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    files = [Path(p) for p in get_testdata_files("**/*")]
    for n, path in enumerate(files):
        (corpus / f"{n:03d}-{path.name}").symlink_to(path)
    made = bombs.write_all(tmp_path / "corpus" / "bombs")
    (tmp_path / "any.yaml").write_text(ANY_SUBJECT)
    out = tmp_path / "out"
    done, peak = measured(
        "--plugin", "image", "run", str(tmp_path / "any.yaml"), str(corpus), "--out", str(out)
    )
    output = done.stdout + done.stderr
    assert done.returncode in (0, 1), output[-3000:]
    # ("unexpected_modality" is a quality flag; an unexpected error reads "unexpected XError")
    assert "Traceback" not in output and not re.search(r"unexpected \w+Error", output)
    assert peak < 3 * 2**30, f"peak RSS {peak / 2**30:.2f} GiB"
    summary = json.loads((out / "run.json").read_text())["summary"]
    assert summary["total"] >= 200 and summary["finished"] >= 100
    assert summary["finished"] + summary["failed"] == summary["total"]
    sources = json.loads((out / "phi" / "sources.json").read_text())["cases"]
    bomb_ids = {cid for cid, e in sources.items() if "/bombs/" in e["source"]}
    assert len(bomb_ids) == len(made)
    failures = {f["case"]: f["errors"] for f in summary["failures"]}
    for cid in bomb_ids:
        (error,) = failures[cid]
        assert "limit" in error["message"] or "beyond the header" in error["message"]
    assert all("\n" not in e["message"] for errs in failures.values() for e in errs)
