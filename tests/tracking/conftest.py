"""A real MLflow store (SQLite in a temporary folder) and the real radiographs under shared/."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import SHARED_DATA

LIGHT_PIPELINE = """
name: tracking-light
device: cpu
batch_size: 8
stages:
  # a monitor sees what a misrouted worklist sends: every modality and body part is read
  - stage: preprocess
    plugin: image
    options: {modalities: ['*'], body_parts: ['*'], on_quality_error: continue}
  - {stage: generate, plugin: supplied-report}
  - {stage: verify, plugin: labeler}
"""


@pytest.fixture(autouse=True)
def _no_tracking_env(monkeypatch):
    """Only what a test sets reaches MLflow (no user store, no user experiment)."""
    for name in ("MLFLOW_TRACKING_URI", "MLFLOW_EXPERIMENT_NAME", "MLFLOW_RUN_ID"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(scope="module")
def light_pipeline(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("pipeline") / "light.yaml"
    path.write_text(LIGHT_PIPELINE)
    return path


@pytest.fixture(scope="module")
def data_dir() -> Path:
    if not (SHARED_DATA / "cxr").is_dir():
        pytest.skip(f"real data folder {SHARED_DATA} is absent (see shared/data/README.md)")
    return SHARED_DATA


def cli(argv: list[str]) -> int:
    from explainmyxray.cli.app import main

    return main(argv)
