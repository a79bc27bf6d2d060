"""A whole run: preprocess, retrieve (with zero-shot scores), supplied report; paths in the
pipeline file relative to its folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from explainmyxray.pipelines.engine import Engine
from explainmyxray.pipelines.loader import load_pipeline
from explainmyxray.registry.plugins import DEFAULT_PLUGINS, PluginHost
from explainmyxray.retrieval.index import build_index
from explainmyxray.retrieval.references import load_references

from .conftest import REPORTS

PIPELINE = """\
name: retrieval
device: cpu
batch_size: 2
budget: {cpu: 8GiB}
stages:
  - stage: preprocess
    plugin: image
  - stage: retrieve
    plugin: biomedclip
    options: {index: refs-index, weights: models/tiny, top_k: 2, zero_shot: true,
              zero_shot_labels: [cardiomegaly, pleural effusion]}
  - stage: generate
    plugin: supplied-report
"""


def test_a_run_writes_similar_cases_and_zero_shot_scores(
    reference_folder, tiny_dir, tiny_runner, tmp_path
):
    project = tmp_path / "project"
    (project / "models").mkdir(parents=True)
    shutil.copytree(tiny_dir, project / "models" / "tiny")
    build_index(load_references(reference_folder), tiny_runner, project / "refs-index")
    (project / "pipeline.yaml").write_text(PIPELINE, encoding="utf-8")
    host = PluginHost(
        builtins={**DEFAULT_PLUGINS, "biomedclip": "explainmyxray.plugins.retrieve_biomedclip"},
        discover=False,
    )
    pipeline = load_pipeline(project / "pipeline.yaml", host)
    names = ["nih_00000001_000.png", "rgb_16747_3_1.jpg"]
    with Engine(host) as engine:
        summary = engine.run(pipeline, [reference_folder / n for n in names], tmp_path / "out")
    assert summary.ok and summary.finished == 2 and summary.model_loads == {"biomedclip": 1}
    docs = {}
    for path in (tmp_path / "out").glob("cases/*/report.json"):
        doc = json.loads(path.read_text())
        docs[Path(summary.paths[doc["id"]]).name] = doc
    assert sorted(docs) == sorted(names)
    for name, doc in docs.items():
        first, second = doc["retrieved"]
        assert first["id"] == name and first["report"] == REPORTS[name]
        assert abs(first["score"] - 1.0) < 2e-3 and second["score"] < first["score"]
        (zero_shot,) = [s for s in doc["scores"] if s["metric"] == "biomedclip.zeroshot"]
        assert set(zero_shot["details"]) == {"cardiomegaly", "pleural effusion"}
        assert zero_shot["value"] == max(zero_shot["details"].values())
        assert doc["report"]["text"].strip() == REPORTS[name]
