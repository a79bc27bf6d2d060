"""Acceptance: drift between real radiograph sets, through the CLI, the MLflow store and a
headless Chromium.

Reference: the shared adult chest radiographs (NIH, TBX11K, covid-chestxray, OpenCXR, JSRT PNG /
JPEG, the SIIM CR and pydicom-data's RG1 CR). Shifted set, all real images: the lateral thorax DX of
a dog, a Fuji CR of a tibia (an extremity film, AP), and CT, MR, ultrasound and nuclear-medicine
images of the kind a misrouted worklist sends: a population a chest service must notice.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("mlflow")
pytest.importorskip("matplotlib")
pytest.importorskip("scipy")

from explainmyxray.tracking.profile import load_profile
from tests.headless import page_requests, screenshot

from .conftest import cli
from .mlflow_readback import read_run

REPORT = "Cardiomegaly. No pleural effusion."
SHIFTED_TESTDATA = (
    "RG3_UNCR.dcm",  # CR, tibia AP (pydicom-data)
    "693_UNCR.dcm",  # CT slice
    "CT_small.dcm",  # CT slice (pydicom)
    "MR2_UNCR.dcm",  # MR, shoulder
    "MR_small.dcm",  # MR (pydicom)
    "US1_UNCR.dcm",  # ultrasound
    "OBXXXX1A.dcm",  # obstetric ultrasound, palette colour
    "JPEG2000_UNC.dcm",  # NM whole-body bone scan
)


def _testdata(name: str) -> Path:
    from pydicom.data import get_testdata_file

    path = get_testdata_file(name)
    if path is None:
        pytest.skip(f"{name} not installed (pydicom / pydicom-data)")
    return Path(path)


@pytest.fixture(scope="module")
def runs(light_pipeline, data_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("drift")
    reference = sorted((data_dir / "cxr").iterdir())
    reference += sorted((data_dir / "segmentation" / "jsrt").glob("[0-9].jpg"))
    reference += [data_dir / "dicom" / "siim_chest_cr_jpeg.dcm", _testdata("RG1_UNCR.dcm")]
    shifted = [data_dir / "dicom" / "veterinary_thorax_dx_monochrome1.dcm"]
    shifted += [_testdata(name) for name in SHIFTED_TESTDATA]
    out = {}
    for name, images in (("reference", reference), ("shifted", shifted)):
        argv = ["run", str(light_pipeline), *map(str, images), "--out", str(root / name)]
        assert cli([*argv, "--report", REPORT]) == 0
        out[name] = root / name
    profile = root / "reference-profile.json"
    assert cli(["monitor", "profile", str(out["reference"]), "--out", str(profile)]) == 0
    out["profile"] = profile
    out["n_reference"], out["n_shifted"] = len(reference), len(shifted)
    return out


def _signals(drift_dir: Path) -> dict[str, dict]:
    document = json.loads((drift_dir / "drift.json").read_text())
    return {f"{s['group']}: {s['name']}": s for s in document["signals"]}


def test_profile_keeps_signals_but_no_identifiers(runs):
    profile = load_profile(runs["profile"])
    assert profile.n_cases == runs["n_reference"]
    assert profile.text_embedding_model == "minilm-l6"
    assert len(profile.text_embeddings) == profile.n_cases
    assert len(profile.text_embeddings[0]) == 384
    modalities = {c.categorical["modality"] for c in profile.cases}
    assert modalities == {"CR", "(not recorded)"}
    assert all(c.continuous["dynamic_range"] > 0.25 for c in profile.cases)
    assert all(len(c.appearance) == 256 for c in profile.cases)
    text = runs["profile"].read_text()
    for case_dir in (runs["reference"] / "cases").iterdir():
        assert case_dir.name not in text
    assert "nih_" not in text and str(runs["reference"]) not in text


def test_the_same_set_shows_no_drift(runs, tmp_path):
    out = tmp_path / "same"
    assert cli(["monitor", str(runs["profile"]), str(runs["reference"]), "--out", str(out)]) == 0
    signals = _signals(out)
    assert [k for k, s in signals.items() if s["verdict"] == "drift"] == []
    tested = [s for s in signals.values() if s["verdict"] == "no drift"]
    assert len(tested) >= 15
    assert all(s["p_value"] > 0.5 for s in tested)


@pytest.fixture(scope="module")
def shifted_report(runs, tmp_path_factory):
    root = tmp_path_factory.mktemp("shift")
    store = f"sqlite:///{root / 'mlflow.db'}"
    out = root / "drift"
    argv = ["monitor", str(runs["profile"]), str(runs["shifted"]), "--out", str(out)]
    assert cli([*argv, "--track", store]) == 0
    return {"out": out, "store": store, "signals": _signals(out)}


def test_a_shifted_population_is_flagged_on_the_right_signals(shifted_report):
    signals = shifted_report["signals"]
    drifted = {k for k, s in signals.items() if s["verdict"] == "drift"}
    expected = {
        "acquisition: modality",
        "acquisition: manufacturer",
        "image: appearance (16x16 thumbnail)",
        "quality flags: unexpected_modality",
    }
    assert expected <= drifted, drifted
    for name in expected:
        s = signals[name]
        assert s["statistic"] is not None and s["adjusted_p"] < s["threshold"] == 0.05
        assert s["p_value"] <= s["adjusted_p"]
    # the same report for every case: what the pipeline said did not drift, nor did it fail
    for name in ("finding prevalence: cardiomegaly", "outcomes: failure"):
        assert signals[name]["verdict"] == "no drift"
    assert signals["embeddings: report text (minilm-l6)"]["verdict"] == "no drift"


def test_drift_is_recorded_in_mlflow(shifted_report):
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=shifted_report["store"])
    (run,) = client.search_runs([e.experiment_id for e in client.search_experiments()])
    logged = read_run(shifted_report["store"], run.info.run_id)
    modality = shifted_report["signals"]["acquisition: modality"]
    assert logged.metrics["drift.acquisition.modality.p_value"] == pytest.approx(
        modality["p_value"]
    )
    assert logged.metrics["drift.acquisition.modality.drift"] == 1
    assert logged.metrics["drift.outcomes.failure.drift"] == 0
    assert logged.metrics["drift.signals_drifted"] >= 4
    assert {"drift.html", "drift.json"} <= set(logged.artifacts)


@pytest.mark.browser
def test_the_drift_page_renders_offline_with_its_plots(shifted_report, tmp_path):
    page = shifted_report["out"] / "drift.html"
    html = page.read_text()
    assert "http://" not in html and "https://" not in html
    assert html.count('src="data:image/png;base64,') >= 5
    # the check itself sees a page's remote request (a control page with one remote image)
    control = tmp_path / "control.html"
    control.write_text('<html><body><img src="http://127.0.0.1:9/remote.png"></body></html>')
    control_log = tmp_path / "control-netlog.json"
    screenshot(control, tmp_path, (200, 200), net_log=control_log)
    assert "http://127.0.0.1:9/remote.png" in page_requests(control_log)

    net_log = tmp_path / "netlog.json"
    shot = screenshot(page, tmp_path, (1400, 4000), net_log=net_log)
    remote = {u for u in page_requests(net_log) if not u.startswith(("file:", "data:"))}
    assert remote == set()
    from PIL import Image

    with Image.open(shot) as image:
        pixels = np.asarray(image.convert("RGB")).astype(int)
    blue = np.abs(pixels - [0x44, 0x77, 0xAA]).sum(axis=-1) < 40  # reference bars and lines
    pink = np.abs(pixels - [0xEE, 0x66, 0x77]).sum(axis=-1) < 40  # current
    assert blue.sum() > 2000 and pink.sum() > 2000
    verdict_red = (pixels[..., 0] > 150) & (pixels[..., 1] < 40) & (pixels[..., 2] < 60)
    assert verdict_red.sum() > 100  # the drift verdicts are drawn in red


def test_bad_inputs_are_one_clear_error(tmp_path, capsys):
    assert cli(["monitor", str(tmp_path / "absent"), str(tmp_path)]) == 2
    assert "neither a run folder nor a drift profile file" in capsys.readouterr().err
    stale = tmp_path / "stale.json"
    stale.write_text('{"version": 9}')
    assert cli(["monitor", str(stale), str(tmp_path)]) == 1
    assert "not a drift profile of version 1" in capsys.readouterr().err
    assert cli(["monitor", "profile", str(tmp_path), "--alpha", "2"]) == 2
    assert "--alpha must be between 0 and 1" in capsys.readouterr().err
