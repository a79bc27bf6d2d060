"""The retrieve step end to end: plugin host, model manager, index, cases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from explainmyxray.core.case import Case, RetrievedCase, Score, StructuredReport, XrayImage
from explainmyxray.core.context import StepContext
from explainmyxray.core.errors import ConfigError, InputError
from explainmyxray.core.memory import MemoryBudget
from explainmyxray.core.model_manager import ModelManager
from explainmyxray.plugins import retrieve_biomedclip as plugin
from explainmyxray.plugins.retrieve_biomedclip import RetrieveOptions
from explainmyxray.registry.plugins import PluginHost
from explainmyxray.registry.weights import locate_weights
from explainmyxray.retrieval.index import build_index
from explainmyxray.retrieval.references import Reference, ReferenceSet, load_references
from explainmyxray.retrieval.retrieve import zero_shot_of

from .conftest import REPORTS

PLUGIN = {"biomedclip": "explainmyxray.plugins.retrieve_biomedclip"}
GiB = 1024**3


@pytest.fixture(scope="module")
def host() -> PluginHost:
    return PluginHost(builtins=PLUGIN, discover=False)


@pytest.fixture(scope="module")
def index_dir(reference_folder, tiny_runner, tmp_path_factory):
    out = tmp_path_factory.mktemp("plugin-index") / "index"
    build_index(load_references(reference_folder), tiny_runner, out)
    return out


def _case(path, name) -> Case:
    from explainmyxray.imaging import read_xray

    image, _ = read_xray(path / name)
    return Case(id=name, source=str(path / name), image=image)


def run_retrieve(host: PluginHost, cases: list[Case], options: RetrieveOptions):
    """Through the plugin's model requests, the registry and the model manager."""
    manager = ModelManager(host.models, MemoryBudget(80 * GiB, 64 * GiB), locate=locate_weights)
    try:
        runners = manager.prepare(host.model_requests("retrieve", "biomedclip", options), "cpu")
        step = StepContext(
            stage="retrieve", plugin="biomedclip", options=options, get_model=runners.__getitem__
        )
        return host.call_stage("retrieve", "biomedclip", cases, step)
    finally:
        manager.close()


def test_plugin_registers_the_stage_and_both_models(host):
    assert host.load_errors == {}
    assert host.plugins_for("retrieve") == ["biomedclip"]
    clip = host.models.get("biomedclip")
    assert clip.hub_id == "microsoft/BiomedCLIP-PubMedBERT_256-vit_base_patch16_224"
    assert clip.license == "MIT" and clip.plugin == "biomedclip"
    assert "open_clip_config.json" in clip.files
    assert clip.estimate("fp16") < clip.estimate("fp32")
    minilm = host.models.get("minilm-l6")
    folder = minilm.locate()
    if folder is not None:
        assert (folder / "model.safetensors").is_file()
        assert locate_weights(minilm) == folder


def test_options_validate_their_combinations(tmp_path):
    with pytest.raises(ValidationError, match="'index' is required"):
        RetrieveOptions()
    with pytest.raises(ValidationError, match="needs backend: biomedclip"):
        RetrieveOptions(index=tmp_path, backend="minilm", zero_shot=True)
    with pytest.raises(ValidationError, match="'pneumonoultra'"):
        RetrieveOptions(zero_shot=True, zero_shot_labels=["effusion", "pneumonoultra"])
    with pytest.raises(ValidationError):
        RetrieveOptions(index=tmp_path, topk=3)
    with pytest.raises(ValidationError):
        RetrieveOptions(index=tmp_path, min_score=1.5)
    assert RetrieveOptions(zero_shot=True).index is None


def test_model_requests_follow_backend_and_weights(tmp_path):
    (clip,) = plugin.model_requests(
        RetrieveOptions(index=tmp_path, weights=f"local-dir:{tmp_path}", batch_size=4)
    )
    assert (clip.name, clip.weights) == ("biomedclip", tmp_path)
    (relative,) = plugin.model_requests(RetrieveOptions(index=tmp_path, weights="models/clip"))
    assert relative.weights == Path("models/clip")  # the planner anchors it to the pipeline
    assert clip.workspace_bytes == 4 * 96 * 1024**2
    (text,) = plugin.model_requests(RetrieveOptions(index=tmp_path, backend="minilm"))
    assert (text.name, text.weights, text.precision) == ("minilm-l6", None, None)


def test_retrieve_finds_the_case_itself_and_fails_only_imageless_cases(
    host, index_dir, tiny_dir, reference_folder
):
    names = ["nih_00003440_000.png", "tbx11k_tb_tb0005.png"]
    cases = [_case(reference_folder, n) for n in names]
    cases.insert(1, Case(id="empty", source="nowhere.png"))
    options = RetrieveOptions(index=index_dir, weights=tiny_dir, top_k=2)
    results = run_retrieve(host, cases, options)
    assert isinstance(results[1], InputError) and "empty" in str(results[1])
    for name, found in zip(names, [results[0], results[2]], strict=True):
        assert [type(r) for r in found] == [RetrievedCase, RetrievedCase]
        assert found[0].id == name and found[0].report == REPORTS[name]
        assert found[0].score == pytest.approx(1.0, abs=2e-3)
    assert all(not c.scores for c in cases)  # no zero-shot unless asked


def test_zero_shot_probabilities_land_on_the_case(host, tiny_dir, reference_folder):
    case = _case(reference_folder, "nih_00000001_000.png")
    case.scores.append(Score(metric="biomedclip.zeroshot", value=0.0))  # replaced, not doubled
    labels = ["cardiomegaly", "pleural effusion", "pneumothorax"]
    options = RetrieveOptions(weights=tiny_dir, zero_shot=True, zero_shot_labels=labels)
    (found,) = run_retrieve(host, [case], options)
    assert found == []  # no index: scores only
    (score,) = case.scores
    probabilities = zero_shot_of(case)
    assert list(probabilities) == labels
    assert all(0.0 <= p <= 1.0 for p in probabilities.values())
    assert score.value == max(probabilities.values())
    default = RetrieveOptions(weights=tiny_dir, zero_shot=True)
    run_retrieve(host, [case], default)
    assert len(zero_shot_of(case)) == 30 and len(case.scores) == 1


def test_minilm_backend_retrieves_by_report_text(host, minilm_runner, tmp_path):
    refs = ReferenceSet(
        [
            Reference(id="effusion", report="Large left pleural effusion."),
            Reference(id="clavicle", report="Fracture of the right clavicle."),
        ],
        tmp_path / "refs.jsonl",
    )
    index_dir = tmp_path / "index"
    build_index(refs, minilm_runner, index_dir, backend="minilm")
    generated = Case(
        id="g", source="g.png", report=StructuredReport(text="Fluid in the pleural space.")
    )
    supplied = Case(id="s", source="s.png", supplied_report="Broken collarbone.")
    silent = Case(
        id="n",
        source="n.png",
        image=XrayImage(pixels=np.zeros((4, 4)), width=4, height=4, source_format="png"),
    )
    options = RetrieveOptions(index=index_dir, backend="minilm", top_k=1)
    by_report, by_supplied, nothing = run_retrieve(host, [generated, supplied, silent], options)
    assert [r.id for r in by_report] == ["effusion"]
    assert [r.id for r in by_supplied] == ["clavicle"]
    assert isinstance(nothing, InputError) and "no report text" in str(nothing)


def test_querying_an_index_of_another_model_fails_the_batch(
    host, index_dir, other_tiny_dir, reference_folder
):
    options = RetrieveOptions(index=index_dir, weights=other_tiny_dir)
    with pytest.raises(ConfigError, match="Rebuild the index"):
        run_retrieve(host, [_case(reference_folder, "nih_00000001_000.png")], options)


def test_a_text_only_index_is_searched_across_modalities(
    host, tiny_dir, tiny_runner, reference_folder, tmp_path
):
    index_dir = tmp_path / "reports-only"
    index = build_index(
        load_references(reference_folder), tiny_runner, index_dir, text_only=True
    ).index
    case = _case(reference_folder, "tbx11k_tb_tb0005.png")
    options = RetrieveOptions(index=index_dir, weights=tiny_dir, top_k=3)
    (found,) = run_retrieve(host, [case], options)
    query = tiny_runner.embed_images([case.image.pixels])
    (want,) = index.search(query, k=3, kind="text")
    assert found == want and len(found) == 3
