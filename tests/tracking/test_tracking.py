"""Acceptance: ``run --track`` and ``eval --track`` write a real MLflow store (SQLite in a
temporary folder), read back through MLflow's client."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("mlflow")
pytest.importorskip("torch")

from explainmyxray.core.errors import TrackingError
from explainmyxray.pipelines.schema import TrackingConfig
from explainmyxray.tracking.mlflow_store import (
    DEFAULT_URI,
    resolve_tracking,
    sqlite_artifact_root,
)

from .conftest import cli
from .mlflow_readback import read_run

REPORT = "Cardiomegaly. No pleural effusion."
PIPELINE = """
name: tracked
device: cpu
batch_size: 4
stages:
  - {stage: preprocess, plugin: image}
  - {stage: generate, plugin: supplied-report}
  - {stage: localize, plugin: litemedsam}
  - {stage: verify, plugin: labeler}
tracking: {experiment: acceptance, overlays: 1}
"""


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"


@pytest.fixture(scope="module")
def tracked_run(store, data_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("tracked")
    pipeline = root / "tracked.yaml"
    pipeline.write_text(PIPELINE)
    images = [data_dir / "cxr" / "nih_00000001_000.png", data_dir / "cxr" / "nih_00027426_000.png"]
    out = root / "run"
    argv = ["run", str(pipeline), *map(str, images), "--out", str(out), "--report", REPORT]
    assert cli([*argv, "--track", store]) == 0
    run_id = json.loads((out / "tracking.json").read_text())["run_id"]
    return {"out": out, "run_id": run_id, "pipeline": pipeline, "logged": read_run(store, run_id)}


def test_run_params_name_the_pipeline_plugins_models_and_budget(tracked_run):
    params = tracked_run["logged"].params
    assert params["pipeline.name"] == "tracked"
    assert params["pipeline.file"] == str(tracked_run["pipeline"])
    assert params["step.2.localize"] == "litemedsam"
    assert params["plugin.litemedsam.version"]
    assert params["model.litemedsam.precision"] == "fp32"
    assert params["model.litemedsam.device"] == "cpu"
    assert len(params["model.litemedsam.weights_sha256"]) == 64
    assert params["devices"] == "cpu"
    assert int(params["budget.cpu_bytes"]) > 0
    assert params["version.explainmyxray"]
    assert tracked_run["logged"].tags["explainmyxray.command"] == "run"
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=read_store(tracked_run))
    experiment = client.get_run(tracked_run["run_id"]).info.experiment_id
    assert client.get_experiment(experiment).name == "acceptance"  # the pipeline's tracking:
    assert tracked_run["logged"].status == "FINISHED"


def test_run_metrics_count_cases_seconds_loads_and_peak_memory(tracked_run):
    metrics = tracked_run["logged"].metrics
    manifest = json.loads((tracked_run["out"] / "run.json").read_text())["summary"]
    assert metrics["cases.total"] == 2 and metrics["cases.finished"] == 2
    assert metrics["cases.failed"] == 0
    for label, seconds in manifest["stage_seconds"].items():
        assert metrics[f"seconds.{label.replace(':', '_')}"] == pytest.approx(seconds)
    assert metrics["models.loads.litemedsam"] == manifest["model_loads"]["litemedsam"] == 1
    assert metrics["models.evictions"] >= 0 and "models.parks" in metrics
    assert metrics["peak_bytes.cpu"] == manifest["peak_bytes"]["cpu"] > 0
    assert metrics["predicted_peak_bytes.cpu"] > 0


def test_run_artifacts_hold_the_page_manifest_plan_and_a_sample_of_overlays(tracked_run):
    artifacts = tracked_run["logged"].artifacts
    assert {"run.json", "index.html", "plan.json", "pipeline.json"} <= set(artifacts)
    assert "pipeline/tracked.yaml" in artifacts
    overlays = [a for a in artifacts if a.endswith("overlay.png")]
    assert len(overlays) == 1  # tracking.overlays: 1 of the 2 cases
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=read_store(tracked_run))
    local = Path(client.download_artifacts(tracked_run["run_id"], "plan.json"))
    document = json.loads(local.read_text())
    assert [s["plugin"] for s in document["steps"]] == [
        "image",
        "supplied-report",
        "litemedsam",
        "labeler",
    ]
    assert document["steps"][2]["models"][0]["name"] == "litemedsam"


def read_store(tracked_run) -> str:
    return json.loads((tracked_run["out"] / "tracking.json").read_text())["uri"]


def test_eval_logs_each_metric_with_its_interval(tracked_run, store, tmp_path):
    reference = tmp_path / "reference.jsonl"
    rows = [
        {"id": "nih_00000001_000", "findings": [{"label": "cardiomegaly"}]},
        {"id": "nih_00027426_000", "findings": [{"label": "normal"}]},
    ]
    reference.write_text("".join(json.dumps(r) + "\n" for r in rows))
    argv = ["eval", str(tracked_run["out"]), "--reference", str(reference)]
    assert cli([*argv, "--resamples", "50", "--track", store]) == 0
    result = json.loads((tracked_run["out"] / "eval.json").read_text())
    from mlflow import MlflowClient

    runs = MlflowClient(tracking_uri=store).search_runs(
        [e.experiment_id for e in MlflowClient(tracking_uri=store).search_experiments()],
        filter_string="tags.`explainmyxray.command` = 'eval'",
    )
    assert len(runs) == 1
    logged = read_run(store, runs[0].info.run_id)
    assert logged.tags["explainmyxray.evaluated_run"] == tracked_run["run_id"]
    assert logged.params["bootstrap.resamples"] == "50"
    assert logged.metrics["cases.total"] == 2
    tested = [name for name, m in result["metrics"].items() if m["estimate"] is not None]
    assert tested
    for name in tested:
        metric = result["metrics"][name]
        assert logged.metrics[name] == pytest.approx(metric["estimate"])
        if metric["low"] is not None:
            assert logged.metrics[f"{name}.ci_low"] == pytest.approx(metric["low"])
            assert logged.metrics[f"{name}.ci_high"] == pytest.approx(metric["high"])
    assert "eval.json" in logged.artifacts


def test_settings_come_from_the_flag_then_environment_then_pipeline(monkeypatch, tmp_path):
    section = TrackingConfig(uri="sqlite:///from-pipeline.db", experiment="pipe")
    assert resolve_tracking(None) is None
    assert resolve_tracking(None, TrackingConfig(enabled=False)) is None
    assert resolve_tracking("", None).uri == DEFAULT_URI
    assert resolve_tracking(None, section).uri == "sqlite:///from-pipeline.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "sqlite:///from-env.db")
    assert resolve_tracking(None).uri == "sqlite:///from-env.db"
    assert resolve_tracking(None, section).uri == "sqlite:///from-env.db"
    assert resolve_tracking("sqlite:///flag.db", section).uri == "sqlite:///flag.db"
    assert resolve_tracking(None, section).experiment == "pipe"
    db = tmp_path / "m.db"
    assert sqlite_artifact_root(f"sqlite:///{db}") == (tmp_path / "mlruns").as_uri()
    assert sqlite_artifact_root("http://127.0.0.1:5000") is None


def test_an_unwritable_store_is_one_clear_error(tmp_path):
    from explainmyxray.tracking.mlflow_store import tracked_run as open_run

    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    settings = resolve_tracking(f"sqlite:///{blocker / 'm.db'}")
    with pytest.raises(TrackingError, match="MLflow store"), open_run(settings, "x"):
        pass
