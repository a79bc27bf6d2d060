"""The GPU training benchmark's preparation: the PadChest label extract and the slimmed wheel."""

from __future__ import annotations

import base64
import csv
import gzip
import hashlib
import importlib.util
import re
import sys
import zipfile
from pathlib import Path

import pytest

from explainmyxray.training.dataset import DataOptions, read_padchest_examples

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def train_gpu():
    return _load("train_gpu")


@pytest.fixture(scope="module")
def prepare():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        yield _load("prepare_train_gpu")
    finally:
        sys.path.remove(str(BENCHMARKS))


def _write_padchest(path: Path, rows: list[dict[str, str]]) -> None:
    header = ["", "ImageID", "ImageDir", "StudyDate_DICOM", "PatientID", "Projection"]
    header += ["MethodLabel", "Labels", "Localizations", "LabelsLocalizationsBySentence"]
    with gzip.open(path, "wt", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=header)
        writer.writeheader()
        for i, row in enumerate(rows):
            writer.writerow({"": str(i), "StudyDate_DICOM": "20100101", **row})


def _row(image: str, projection: str, labels: str, sentences: str) -> dict[str, str]:
    return {
        "ImageID": image,
        "ImageDir": "0",
        "PatientID": f"patient-{image}",
        "Projection": projection,
        "MethodLabel": "Physician",
        "Labels": labels,
        "Localizations": "[]",
        "LabelsLocalizationsBySentence": sentences,
    }


def test_label_extract_keeps_pa_rows_and_reads_as_padchest(train_gpu, tmp_path):
    source = tmp_path / "padchest.csv.gz"
    _write_padchest(
        source,
        [
            _row("a.png", "PA", "['normal']", "[['normal']]"),
            _row("b.png", "L", "['cardiomegaly']", "[['cardiomegaly']]"),
            _row("c.png", "PA", "['exclude']", "[['exclude']]"),
            _row("d.png", "PA", "['pleural effusion']", "[['pleural effusion', 'loc left']]"),
            _row("e.png", "PA", "['nodule']", "[['nodule']]"),
        ],
    )
    extract = tmp_path / "extract.csv.gz"
    assert train_gpu.export_labels(extract, 2, labels=source) == 2

    with gzip.open(extract, "rt", newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
        assert tuple(reader.fieldnames or ()) == train_gpu.EXTRACT_COLUMNS
    assert [r["ImageID"] for r in rows] == ["a.png", "d.png"]
    first = extract.read_bytes()
    train_gpu.export_labels(extract, 2, labels=source)
    assert extract.read_bytes() == first  # no timestamp in the gzip header

    images = tmp_path / "images"
    (images / "0").mkdir(parents=True)
    for name in ("a.png", "d.png"):
        (images / "0" / name).write_bytes(b"")
    data = read_padchest_examples(extract, images, DataOptions(validation_fraction=0.0))
    assert [e.key for e in data.examples] == ["a", "d"]
    effusion = data.examples[1].findings[0]
    assert (effusion.label, effusion.locations) == ("pleural effusion", ("loc left",))


def test_build_data_reads_the_extract_instead_of_torchxrayvision(train_gpu, tmp_path):
    source = tmp_path / "padchest.csv.gz"
    rows = [_row(f"{i}.png", "PA", "['nodule']", "[['nodule']]") for i in range(5)]
    _write_padchest(source, rows)
    extract = tmp_path / "extract.csv.gz"
    train_gpu.export_labels(extract, 5, labels=source)

    data = train_gpu.build_data(tmp_path / "work", 3, 8, labels=extract)
    assert [e.key for e in data.examples] == ["0", "1", "2"]
    assert all(e.image.is_file() for e in data.examples)


def _record_digest(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def test_slim_wheel_drops_other_libraries_and_rewrites_record(prepare, tmp_path):
    wheel = tmp_path / "pkg-1.0-py3-none-any.whl"
    files = {
        "pkg/__init__.py": b"x = 1\n",
        "pkg/libpkg_cpu.so": b"cpu",
        "pkg/libpkg_cuda130.so": b"cuda 13.0" * 100,
        "pkg/libpkg_cuda118.so": b"cuda 11.8" * 100,
        "pkg/libpkg_rocm64.so": b"rocm" * 100,
    }
    with zipfile.ZipFile(wheel, "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
        record = "".join(f"{n},{_record_digest(d)},{len(d)}\n" for n, d in files.items())
        zf.writestr("pkg-1.0.dist-info/RECORD", record + "pkg-1.0.dist-info/RECORD,,\n")

    saved = prepare.slim_wheel(
        wheel, re.compile(r"libpkg_(cpu|cuda130)\.so$"), re.compile(r"libpkg_[^/]*\.so$")
    )

    assert saved > 0
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        assert names == {
            "pkg/__init__.py",
            "pkg/libpkg_cpu.so",
            "pkg/libpkg_cuda130.so",
            "pkg-1.0.dist-info/RECORD",
        }
        lines = zf.read("pkg-1.0.dist-info/RECORD").decode().splitlines()
        listed = {}
        for line in lines:
            name, digest, size = line.rsplit(",", 2)
            listed[name] = (digest, size)
        assert set(listed) == names
        for name in names - {"pkg-1.0.dist-info/RECORD"}:
            data = zf.read(name)
            assert data == files[name]
            assert listed[name] == (_record_digest(data), str(len(data)))


def test_timer_stops_training_past_the_budget_once_two_steps_are_timed(train_gpu):
    from transformers import TrainerControl, TrainerState

    timer = train_gpu.timing_callback(warmup=1, label="b1", budget_s=0.0)
    state, control = TrainerState(max_steps=10), TrainerControl()
    timer.on_train_begin(None, state, control)
    stopped_at = None
    for step in range(1, 11):
        state.global_step = step
        timer.on_step_end(None, state, control)
        if control.should_training_stop:
            stopped_at = step
            break
    # the warm-up step, then two timed steps: the earliest point with a step time to report
    assert stopped_at == 3
    assert timer.stopped_early
    assert len(timer.timed()) == 3
    assert timer.seconds_per_step() is not None


def test_predicted_seconds_scales_step_time_by_batch(train_gpu):
    done = {"ok": True, "batch": 4, "seconds_per_step": 2.0, "setup_s": 30.0}
    assert train_gpu.predicted_seconds(done, 2, 8) == pytest.approx(30.0 + 8 * 1.0)
    assert train_gpu.predicted_seconds({"ok": False, "batch": 4}, 2, 8) is None
