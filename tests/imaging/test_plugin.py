"""The built-in ``image`` plugin: registration, options, per-case failures, a real pipeline run."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from pydantic import ValidationError

from explainmyxray.core.case import Case, QualityFlag, XrayImage
from explainmyxray.core.context import StepContext
from explainmyxray.core.errors import InputError
from explainmyxray.pipelines.engine import Engine
from explainmyxray.pipelines.loader import parse_pipeline
from explainmyxray.plugins.preprocess_image import ImageOptions
from explainmyxray.registry.plugins import PluginHost

from .conftest import shared_file, synthetic_chest

PLUGIN = {"image": "explainmyxray.plugins.preprocess_image"}


@pytest.fixture(scope="module")
def host() -> PluginHost:
    return PluginHost(builtins=PLUGIN, discover=False)


def _step(**options) -> StepContext:
    return StepContext(stage="preprocess", plugin="image", options=ImageOptions(**options))


def _png(path, pixels: np.ndarray):
    Image.fromarray(np.round(pixels * 255).astype(np.uint8)).save(path)
    return path


def test_registers_the_preprocess_stage(host):
    assert host.load_errors == {}
    assert host.plugins_for("preprocess") == ["image"]
    spec = host.stage_spec("preprocess", "image")
    assert spec.options is ImageOptions
    assert spec.model_requests(ImageOptions()) == []


def test_options_are_validated():
    with pytest.raises(ValidationError, match="extra"):
        ImageOptions(max_side=1024)
    with pytest.raises(ValidationError):
        ImageOptions(voi="hounsfield")
    with pytest.raises(ValidationError):
        ImageOptions(frame=-1)
    with pytest.raises(ValidationError, match="extra"):
        ImageOptions(quality={"min_side": 3})
    assert ImageOptions(quality={"min_side_px": 64}).quality.min_side_px == 64


def test_one_bad_file_fails_only_its_case(host, tmp_path):
    good = _png(tmp_path / "good.png", synthetic_chest())
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n broken")
    cases = [Case(id=p.stem, source=str(p)) for p in (good, bad, good)]
    results = host.call_stage("preprocess", "image", cases, _step())
    assert isinstance(results[0], XrayImage) and isinstance(results[2], XrayImage)
    assert isinstance(results[1], InputError)
    assert str(bad) in str(results[1])
    assert cases[0].metadata["format"] == "png" and cases[1].metadata == {}


def test_options_reach_the_reader(host, tmp_path):
    negative = _png(tmp_path / "neg.png", 1 - synthetic_chest())
    case = Case(id="neg", source=str(negative))
    [image] = host.call_stage("preprocess", "image", [case], _step())
    assert [f.code for f in case.quality] == ["inverted"]
    case = Case(id="neg", source=str(negative))
    [fixed] = host.call_stage("preprocess", "image", [case], _step(fix_inverted="always"))
    assert [f.code for f in case.quality] == ["polarity_corrected"]
    assert np.allclose(fixed.pixels, 1 - image.pixels, atol=1e-6)
    small = Case(id="small", source=str(_png(tmp_path / "s.png", synthetic_chest(200, 180))))
    host.call_stage("preprocess", "image", [small], _step(quality={"min_side_px": 100}))
    assert small.quality == []


def test_rerun_replaces_its_own_flags_and_keeps_others(host, tmp_path):
    path = _png(tmp_path / "s.png", synthetic_chest(200, 180))
    other = QualityFlag(code="from_elsewhere", message="kept")
    case = Case(id="s", source=str(path), quality=[other])
    for _ in range(2):
        host.call_stage("preprocess", "image", [case], _step())
    assert [f.code for f in case.quality] == ["from_elsewhere", "small_image"]


def test_unexpected_decoder_errors_become_input_errors(host, tmp_path, monkeypatch):
    def explode(*args, **kwargs):
        raise KeyError("decoder bug")

    monkeypatch.setattr("explainmyxray.imaging.read_xray", explode)
    case = Case(id="x", source=str(tmp_path / "x.png"))
    [result] = host.call_stage("preprocess", "image", [case], _step())
    assert isinstance(result, InputError)
    assert "unexpected error while decoding (KeyError" in str(result)


def test_a_pipeline_run_writes_flags_and_errors(host, tmp_path):
    pipeline = parse_pipeline(
        "name: t\ndevice: cpu\nstages:\n  - stage: preprocess\n    plugin: image\n",
        host,
        source="t.yaml",
    )
    vet = shared_file("dicom/veterinary_thorax_dx_monochrome1.dcm")
    empty = tmp_path / "empty.dcm"
    empty.write_bytes(b"")
    with Engine(host) as engine:
        summary = engine.run(pipeline, [vet, empty], tmp_path / "out")
    assert summary.finished == 1 and summary.failed == 1
    docs = [json.loads(p.read_text()) for p in (tmp_path / "out").glob("cases/*/report.json")]
    by_source = {summary.paths[d["id"]]: d for d in docs}
    dog = by_source[str(vet)]
    assert {f["code"] for f in dog["quality"]} >= {"non_human", "not_frontal_chest"}
    assert dog["image"]["width"] == 211 and "pixels" not in dog["image"]
    failed = by_source[str(empty)]
    assert failed["errors"][0]["error_type"] == "InputError"
    assert "the file is empty" in failed["errors"][0]["message"]
