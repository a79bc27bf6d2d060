"""What the generator plugin tests share: real radiographs as cases, and a plugin's generate step
run through its model requests, the registry and the model manager."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from explainmyxray.core.case import Case, XrayImage
from explainmyxray.core.context import StepContext
from explainmyxray.core.memory import MemoryBudget
from explainmyxray.core.model_manager import ModelManager
from explainmyxray.registry.plugins import PluginHost
from explainmyxray.registry.weights import locate_weights

CXR = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "cxr"
GiB = 1024**3


def xray_cases(names: Sequence[str]) -> list[Case]:
    """One case per named PNG of the shared radiographs (the test skips when they are absent)."""
    if not CXR.is_dir():
        pytest.skip(f"real radiographs folder {CXR} is absent (see shared/data/README.md)")
    from PIL import Image

    cases = []
    for name in names:
        pixels = np.asarray(Image.open(CXR / name).convert("L"), dtype=np.float32) / 255.0
        image = XrayImage(
            pixels=pixels, width=pixels.shape[1], height=pixels.shape[0], source_format="png"
        )
        cases.append(Case(id=name, source=str(CXR / name), image=image))
    return cases


def fresh(cases: list[Case]) -> list[Case]:
    return [c.model_copy(deep=False) for c in cases]


def load_runner(host: PluginHost, plugin: str, options: Any) -> tuple[ModelManager, Any]:
    """Load through the plugin's model requests, the registry and the model manager."""
    manager = ModelManager(host.models, MemoryBudget(80 * GiB, 64 * GiB), locate=locate_weights)
    runners = manager.prepare(host.model_requests("generate", plugin, options), "cpu")
    return manager, runners


def run_generate(host: PluginHost, plugin: str, cases: list[Case], options: Any, runners) -> list:
    step = StepContext(
        stage="generate", plugin=plugin, options=options, get_model=runners.__getitem__
    )
    return host.call_stage("generate", plugin, cases, step)
