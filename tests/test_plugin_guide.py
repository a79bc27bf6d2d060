"""docs/plugins.md: its generated sections are current, and its two worked plugins, copied
from the guide's text as a plugin author would, load and run through a real engine."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from PIL import Image

from explainmyxray.anatomy.regions import REGIONS
from explainmyxray.core.case import Case
from explainmyxray.pipelines.engine import Engine
from explainmyxray.pipelines.loader import load_pipeline
from explainmyxray.registry.plugins import DEFAULT_PLUGINS, PluginHost

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "plugins.md"


def load_script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def block_after(marker: str, language: str, text: str | None = None) -> str:
    """The first fenced ``language`` block after ``<!-- marker -->`` in the guide."""
    text = GUIDE.read_text() if text is None else text
    start = text.index(f"<!-- {marker} -->")
    match = re.compile(rf"```{language}\n(.*?)```", re.DOTALL).search(text, start)
    assert match, f"no {language} block after {marker}"
    return match.group(1)


def module_from_guide(marker: str, name: str, folder: Path) -> ModuleType:
    path = folder / f"{name}.py"
    path.write_text(block_after(marker, "python"))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def radiograph(tmp_path: Path) -> Path:
    y, x = np.mgrid[0:96, 0:80]
    pixels = (40 + 150 * np.exp(-(((x - 40) / 30.0) ** 2 + ((y - 48) / 40.0) ** 2))).astype(
        np.uint8
    )
    path = tmp_path / "in" / "chest.png"
    path.parent.mkdir()
    Image.fromarray(pixels).save(path)
    return path


def test_the_generated_sections_are_current():
    docs = load_script("plugin_docs")
    text = GUIDE.read_text()
    assert docs.render(text) == text, "run: python scripts/plugin_docs.py"
    for region in REGIONS:
        assert f"| `{region.id}` | {region.name} | {region.side} |" in text
    for hook in ("register_models", "before_stage_run", "localize"):
        assert f"#### `{hook}`" in text


def test_the_guide_states_the_side_convention_and_the_mask_format():
    text = " ".join(GUIDE.read_text().split())
    assert "the patient's right is on the **image's left**" in text
    assert "boolean NumPy array of the image's shape `(height, width)`" in text


def test_the_model_plugin_of_the_guide_runs(tmp_path, radiograph):
    plugin = module_from_guide("example: model-plugin", "guide_toy_abnormality", tmp_path)
    weights = tmp_path / "weights"
    weights.mkdir()
    rng = np.random.default_rng(0)
    np.savez(weights / "toy_abnormality.npz", w=rng.normal(size=64), b=np.array(-0.5))
    pipeline_file = tmp_path / "toy.yaml"
    pipeline_file.write_text(block_after("example: model-plugin", "yaml"))
    host = PluginHost(
        builtins={"image": DEFAULT_PLUGINS["image"]},
        discover=False,
        extra_plugins=[("toy-abnormality", plugin)],
    )
    assert host.load_errors == {}
    assert host.models.get("toy-abnormality").plugin == "toy-abnormality"
    pipeline = load_pipeline(pipeline_file, host)
    with Engine(host) as engine:
        summary = engine.run(pipeline, [radiograph], tmp_path / "out")
        again = engine.run_batch(pipeline, [Case(id="again", source=str(radiograph))])
    assert summary.ok, summary.failures
    assert summary.model_loads == {"toy-abnormality": 1}
    assert engine.manager.stats.loads == {"toy-abnormality": 1}  # resident for the batch too
    (score,) = [s for s in again[0].scores if s.metric == "toy.abnormality"]
    assert 0.0 < score.value < 1.0


def test_the_model_plugin_of_the_guide_explains_missing_weights(tmp_path, radiograph):
    plugin = module_from_guide("example: model-plugin", "guide_toy_abnormality_2", tmp_path)
    host = PluginHost(
        builtins={"image": DEFAULT_PLUGINS["image"]},
        discover=False,
        extra_plugins=[("toy-abnormality", plugin)],
    )
    pipeline_file = tmp_path / "toy.yaml"
    pipeline_file.write_text(block_after("example: model-plugin", "yaml"))
    with Engine(host) as engine:
        (case,) = engine.run_batch(pipeline_file, [Case(id="c", source=str(radiograph))])
    assert case.failed and case.errors[0].stage == "score"
    assert "cannot read" in case.errors[0].message


def test_the_stage_plugin_of_the_guide_runs(tmp_path, radiograph):
    plugin = module_from_guide("example: stage-plugin", "guide_report_stats", tmp_path)
    host = PluginHost(
        builtins={n: DEFAULT_PLUGINS[n] for n in ("image", "supplied-report")},
        discover=False,
        extra_plugins=[("report-stats", plugin)],
    )
    step = block_after("example: stage-plugin", "yaml")
    pipeline_file = tmp_path / "stats.yaml"
    pipeline_file.write_text(
        "name: stats\ndevice: cpu\nstages:\n  - stage: preprocess\n    plugin: image\n"
        "  - stage: generate\n    plugin: supplied-report\n" + step
    )
    with Engine(host) as engine:
        (case,) = engine.run_batch(
            pipeline_file,
            [
                Case(
                    id="c",
                    source=str(radiograph),
                    supplied_report="FINDINGS:\n- cardiomegaly\n- possible pneumonia\n"
                    "IMPRESSION:\nEnlarged heart, possible pneumonia.",
                )
            ],
        )
    assert not case.failed, case.errors
    scores = {s.metric: s.value for s in case.scores}
    assert scores == {"report.present_findings": 2.0, "report.impression_words": 4.0}


def test_the_readme_points_plugin_authors_to_the_guide():
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Writing a plugin") :]
    assert "docs/plugins.md" in section[: section.index("\n## ", 5)]
