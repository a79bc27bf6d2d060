"""The third-party example package, pip-installed for real and found through its entry point."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from explainmyxray.pipelines.engine import Engine
from explainmyxray.pipelines.loader import parse_pipeline
from explainmyxray.registry.plugins import PluginHost

from .core.fakes import FakeReader

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "explainmyxray-contrast"


@pytest.fixture(scope="module")
def installed_example():
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--disable-pip-version-check",
            str(EXAMPLE),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    importlib.invalidate_caches()
    return "contrast"


def test_plugins_json_lists_the_installed_example(installed_example):
    result = subprocess.run(
        [sys.executable, "-m", "explainmyxray", "plugins", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    plugins = {p["name"]: p for p in json.loads(result.stdout)}
    example = plugins[installed_example]
    assert example["error"] is None
    assert example["version"] == "0.2.0"
    assert "explainmyxray-contrast" in example["source"]
    assert example["stages"] == ["score"]
    assert set(example["hooks"]) == {"register_stages", "score"}
    assert plugins["image"]["source"] == "builtin"


def test_the_example_runs_in_a_pipeline(installed_example, tmp_path):
    host = PluginHost(builtins={}, extra_plugins=[("reader", FakeReader())])
    assert host.infos[installed_example].error is None
    pipeline = parse_pipeline(
        "name: ex\ndevice: cpu\nstages:\n"
        "  - {stage: preprocess, plugin: reader, options: {size: 64}}\n"
        "  - {stage: score, plugin: contrast, options: {bins: 64}}\n",
        host,
    )
    source = tmp_path / "a.png"
    source.write_bytes(b"")
    with Engine(host) as engine:
        summary = engine.run(pipeline, [source], tmp_path / "out")
    assert summary.ok
    (report,) = (tmp_path / "out" / "cases").glob("*/report.json")
    scores = {s["metric"]: s["value"] for s in json.loads(report.read_text())["scores"]}
    gradient = np.tile(np.linspace(0, 1, 64), (64, 1))
    assert scores["contrast.rms"] == pytest.approx(gradient.std(), rel=1e-5)
    assert scores["contrast.entropy_bits"] == pytest.approx(6.0, abs=1e-6)  # 64 equal bins
