"""The MedGemma generator plugin, run end to end on a tiny random Gemma 3 built offline."""

from __future__ import annotations

import gc
import re
import time
import weakref
from pathlib import Path

import pytest
from pydantic import ValidationError

from explainmyxray.core.case import Case, RetrievedCase, StructuredReport
from explainmyxray.core.errors import ConfigError, InputError, WeightsNotFoundError
from explainmyxray.core.plugin_api import LoadRequest
from explainmyxray.models.vision_language.medgemma import prompt as prompt_mod
from explainmyxray.models.vision_language.medgemma.spec import MEDGEMMA_4B, medgemma_4b_spec
from explainmyxray.plugins import generate_medgemma
from explainmyxray.plugins.generate_medgemma import MedGemmaOptions
from explainmyxray.registry.plugins import PluginHost
from explainmyxray.report.from_text import report_from_text

from . import generator_harness as harness
from .generator_harness import fresh
from .tensor_memory import cpu_tensor_bytes

pytest.importorskip("torch")
pytest.importorskip("transformers")

PLUGIN = {"medgemma": "explainmyxray.plugins.generate_medgemma"}
IMAGES = ("nih_00000001_000.png", "nih_00027426_000.png", "tbx11k_tb_tb0005.png")


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory) -> Path:
    from explainmyxray.models.vision_language.medgemma.tiny import build_tiny_medgemma

    return build_tiny_medgemma(tmp_path_factory.mktemp("tiny-medgemma"))


@pytest.fixture(scope="session")
def adapter_dir(tiny_dir, tmp_path_factory) -> Path:
    from explainmyxray.models.vision_language.medgemma.tiny import build_random_adapter

    return build_random_adapter(tiny_dir, tmp_path_factory.mktemp("lora") / "adapter")


@pytest.fixture(scope="session")
def xray_cases() -> list[Case]:
    return harness.xray_cases(IMAGES)


@pytest.fixture(scope="module")
def host() -> PluginHost:
    return PluginHost(builtins=PLUGIN, discover=False)


def load_runner(host: PluginHost, options):
    return harness.load_runner(host, "medgemma", options)


def run_generate(host: PluginHost, cases: list[Case], options, runners) -> list:
    return harness.run_generate(host, "medgemma", cases, options, runners)


@pytest.fixture(scope="module")
def fp32(host, tiny_dir):
    options = MedGemmaOptions(weights=tiny_dir, precision="fp32", max_new_tokens=12)
    manager, runners = load_runner(host, options)
    yield options, runners
    manager.close()


# --- registration, options, spec ---------------------------------------------------------------


def test_plugin_registers_stage_and_pinned_model(host):
    assert host.load_errors == {}
    assert host.plugins_for("generate") == ["medgemma"]
    spec = host.models.get(MEDGEMMA_4B)
    assert spec.hub_id == "google/medgemma-4b-it"
    assert spec.revision is not None and re.fullmatch(r"[0-9a-f]{40}", spec.revision)
    assert spec.default_precision == "nf4" and spec.extra == "medgemma"
    assert spec.estimate("nf4") < spec.estimate("bf16") < spec.estimate("fp32")
    assert spec.plugin == "medgemma"


def test_options_map_to_one_model_request(tmp_path):
    options = MedGemmaOptions(weights=tmp_path / "w", adapter=tmp_path / "a", precision="bf16")
    (request,) = generate_medgemma.model_requests(options)
    assert request.name == MEDGEMMA_4B and request.precision == "bf16"
    assert request.weights == (tmp_path / "w").resolve()
    assert request.settings == {"adapter": tmp_path / "a"}
    (plain,) = generate_medgemma.model_requests(MedGemmaOptions())
    assert plain.settings == {"adapter": None} and plain.weights is None


def test_workspace_grows_with_batch_tokens_and_adapter(tmp_path):
    def workspace(**kw) -> int:
        return generate_medgemma.model_requests(MedGemmaOptions(**kw))[0].workspace_bytes

    one = workspace(batch_size=1)
    assert 100 * 10**6 < one < 2 * 10**9
    assert workspace(batch_size=8) == 8 * one
    assert workspace(batch_size=1, max_new_tokens=1000) > one
    assert workspace(batch_size=1, use_retrieved=False) < one
    assert workspace(batch_size=1, adapter=tmp_path) > one


@pytest.mark.parametrize(
    "bad", [{"temprature": 0.5}, {"precision": "int8"}, {"batch_size": 0}, {"top_p": 1.5}]
)
def test_options_reject_unknown_and_out_of_range(bad):
    with pytest.raises(ValidationError):
        MedGemmaOptions(**bad)


def test_prompt_vocabulary_is_padchest():
    from explainmyxray.report.ontology import load_ontology

    ontology = load_ontology()
    kinds = {t: getattr(ontology.resolve(t), "kind", None) for t in prompt_mod.PADCHEST_FINDINGS}
    assert {t: k for t, k in kinds.items() if k not in ("finding", "diagnosis")} == {}
    places = [t for t in prompt_mod.PADCHEST_LOCATIONS if ontology.resolve(t, "location") is None]
    assert places == []
    text = prompt_mod.build_prompt()
    for header in ("FINDINGS:", "LOCATIONS:", "IMPRESSION:"):
        assert header in text
    assert "costophrenic angle blunting" in text and "retrocardiac" in text


def test_retrieved_context_keeps_to_its_token_budget():
    reports = [
        RetrievedCase(id=f"r{i}", score=0.9 - i / 10, report=f"case {i} " + "word " * 30)
        for i in range(5)
    ]
    context = prompt_mod.retrieved_context(reports, 90)
    assert prompt_mod.word_count(context) <= 90
    assert "case 0" in context and "case 1" in context and "case 2" not in context
    short = prompt_mod.retrieved_context(reports, 20)  # the first report, cut
    assert "case 0" in short and short.endswith("…") and prompt_mod.word_count(short) <= 20
    assert prompt_mod.retrieved_context(reports, 0) == ""
    assert prompt_mod.build_prompt(reports, max_context_tokens=0) == prompt_mod.build_prompt()
    assert prompt_mod.CONTEXT_HEADER in prompt_mod.build_prompt(reports, max_context_tokens=100)


# --- missing weights ---------------------------------------------------------------------------


def test_missing_weights_name_files_place_and_pull_command(host, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(WeightsNotFoundError) as caught:
        load_runner(host, MedGemmaOptions())
    assert time.perf_counter() - start < 20
    message = str(caught.value)
    assert "config.json" in message and "*.safetensors" in message
    assert "the Hugging Face cache" in message
    assert "explainmyxray models pull medgemma-4b-it" in message


def test_incomplete_weights_folder_lists_what_is_missing(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "pytorch_model.bin").write_bytes(b"")  # pickled weights are not accepted
    runner = medgemma_4b_spec().factory()
    with pytest.raises(WeightsNotFoundError) as caught:
        runner.load(LoadRequest(device="cpu", precision="bf16", weights=tmp_path))
    message = str(caught.value)
    assert str(tmp_path) in message and "*.safetensors" in message and "tokenizer*" in message
    assert "config.json," not in message
    assert not runner.loaded


def test_bad_adapter_folder_is_a_config_error(tiny_dir, tmp_path):
    runner = medgemma_4b_spec().factory()
    request = LoadRequest("cpu", "fp32", tiny_dir, settings={"adapter": str(tmp_path)})
    with pytest.raises(ConfigError, match=r"adapter_config\.json"):
        runner.load(request)


# --- generation through the plugin ------------------------------------------------------------


def test_generate_one_report_per_case_deterministic(host, fp32, xray_cases):
    pytest.importorskip("explainmyxray.report.parse")
    options, runners = fp32
    cases = fresh(xray_cases)
    first = run_generate(host, cases, options, runners)
    second = run_generate(host, fresh(xray_cases), options, runners)
    assert len(first) == len(cases)
    for report in first:
        assert isinstance(report, StructuredReport)
        assert report.source == "medgemma"
        assert report.text is not None and report.text.strip()
    assert [r.text for r in first] == [r.text for r in second]


def test_left_padding_keeps_each_answer_independent_of_its_batch(fp32, xray_cases):
    from explainmyxray.models.vision_language.medgemma.generation import (
        GenerationSettings,
        generate_batch,
        to_pil,
    )

    _, runners = fp32
    runner = runners[MEDGEMMA_4B]
    images = [to_pil(c.image.pixels) for c in xray_cases]
    context = [
        RetrievedCase(id="x", score=0.8, report="small left pleural effusion " * k)
        for k in (1, 6, 12)
    ]
    prompts = [prompt_mod.build_prompt([c], max_context_tokens=200) for c in context]
    lengths = {runner.count_tokens(p) for p in prompts}
    assert len(lengths) == 3  # the batch really needs padding
    settings = GenerationSettings(max_new_tokens=8)
    batched = generate_batch(runner, images, prompts, settings)
    alone = [
        generate_batch(runner, [i], [p], settings)[0] for i, p in zip(images, prompts, strict=True)
    ]
    assert batched == alone


def test_batch_size_splits_the_work_and_imageless_cases_fail_alone(
    host, fp32, xray_cases, monkeypatch
):
    from explainmyxray.models.vision_language.medgemma import generation

    options, runners = fp32
    options = options.model_copy(update={"batch_size": 2, "fast": False})
    sizes: list[int] = []
    real = generation.generate_batch

    def spy(runner, images, prompts, settings):
        sizes.append(len(images))
        return real(runner, images, prompts, settings)

    monkeypatch.setattr(generation, "generate_batch", spy)
    monkeypatch.setattr(generate_medgemma, "report_from_text", lambda text, source: text)
    cases = fresh(xray_cases)
    cases.insert(1, Case(id="empty", source="nowhere.png"))
    results = run_generate(host, cases, options, runners)
    assert sizes == [2, 1]
    assert isinstance(results[1], InputError) and "empty" in str(results[1])
    assert all(isinstance(r, str) and r for i, r in enumerate(results) if i != 1)


def test_retrieved_reports_reach_the_prompt_only_when_asked(host, fp32, xray_cases, monkeypatch):
    from explainmyxray.models.vision_language.medgemma import generation

    options, runners = fp32
    seen: list[str] = []
    monkeypatch.setattr(
        generation, "generate_batch", lambda r, i, prompts, s: seen.extend(prompts) or [""] * len(i)
    )
    options = options.model_copy(update={"fast": False})
    case = fresh(xray_cases[:1])[0]
    case.retrieved = [RetrievedCase(id="ref", score=0.7, report="cardiomegaly with effusion")]
    run_generate(host, [case], options, runners)
    run_generate(host, [case], options.model_copy(update={"use_retrieved": False}), runners)
    assert "cardiomegaly with effusion" in seen[0]
    assert "cardiomegaly with effusion" not in seen[1]


def test_instruction_option_replaces_the_built_in_prompt(host, fp32, xray_cases, monkeypatch):
    from explainmyxray.models.vision_language.medgemma import generation

    options, runners = fp32
    seen: list[str] = []
    monkeypatch.setattr(
        generation, "generate_batch", lambda r, i, prompts, s: seen.extend(prompts) or [""] * len(i)
    )
    custom = options.model_copy(update={"instruction": "Describe the findings.", "fast": False})
    run_generate(host, fresh(xray_cases[:1]), custom, runners)
    assert seen == ["Describe the findings."]


def test_an_answer_in_the_asked_layout_parses_whole():
    pytest.importorskip("explainmyxray.report.parse")
    answer = (
        "FINDINGS:\n- cardiomegaly\n- pleural effusion\n- no pneumothorax\n- possible pneumonia\n"
        "LOCATIONS:\n- pleural effusion: left, costophrenic angle\n- possible pneumonia: "
        "right lower lobe\nIMPRESSION:\nCardiomegaly with a small left pleural effusion."
    )
    report = report_from_text(answer, "medgemma")
    assert report.text == answer and report.source == "medgemma"
    found = {f.label: (f.status, f.locations) for f in report.findings}
    assert found == {
        "cardiomegaly": ("present", []),
        "pleural effusion": ("present", ["loc left", "loc costophrenic angle"]),
        "pneumothorax": ("absent", []),
        "pneumonia": ("uncertain", ["loc right lower lobe"]),
    }
    assert report.impression.startswith("Cardiomegaly") and report.warnings == []


def test_empty_answer_is_a_report_with_a_warning():
    report = report_from_text("  ", "medgemma")
    assert report.source == "medgemma" and report.findings == [] and report.warnings


# --- adapters, quantization, memory -------------------------------------------------------------


def _logits(runner, cases):
    import torch

    from explainmyxray.models.vision_language.medgemma.generation import prepare_inputs, to_pil

    images = [to_pil(c.image.pixels) for c in cases]
    inputs = prepare_inputs(runner, images, [prompt_mod.build_prompt()] * len(images))
    with torch.inference_mode():
        return runner.model(**inputs).logits[:, -1].float()


def test_lora_adapter_loads_and_changes_the_logits(host, fp32, tiny_dir, adapter_dir, xray_cases):
    import torch
    from peft import PeftModel

    _, base_runners = fp32
    options = MedGemmaOptions(weights=tiny_dir, adapter=adapter_dir, precision="fp32")
    manager, runners = load_runner(host, options)
    try:
        runner = runners[MEDGEMMA_4B]
        assert isinstance(runner.model, PeftModel)
        lora = runner.model.peft_config["default"]
        assert (lora.r, lora.lora_alpha) == (32, 64)
        assert not runner.model.training
        tuned = _logits(runner, xray_cases[:2])
        base = _logits(base_runners[MEDGEMMA_4B], xray_cases[:2])
        assert tuned.shape == base.shape
        assert not torch.allclose(tuned, base, atol=1e-3)
        with runner.model.disable_adapter():
            assert torch.allclose(_logits(runner, xray_cases[:2]), base, atol=1e-4)
    finally:
        manager.close()


def test_unload_frees_the_model(tiny_dir):
    runner = medgemma_4b_spec().factory()
    before = cpu_tensor_bytes()
    runner.load(LoadRequest("cpu", "fp32", tiny_dir))
    model_ref = weakref.ref(runner.model)
    weights = sum(p.numel() * p.element_size() for p in runner.model.parameters())
    assert cpu_tensor_bytes() - before >= weights
    runner.unload()
    gc.collect()
    assert model_ref() is None and not runner.loaded
    assert cpu_tensor_bytes() - before < weights // 10


def test_nf4_on_cpu_quantizes_and_generates(host, tiny_dir, xray_cases):
    pytest.importorskip("bitsandbytes")
    import bitsandbytes as bnb

    options = MedGemmaOptions(weights=tiny_dir, precision="nf4", max_new_tokens=4)
    manager, runners = load_runner(host, options)
    try:
        runner = runners[MEDGEMMA_4B]
        quantized = [m for m in runner.model.modules() if isinstance(m, bnb.nn.Linear4bit)]
        assert quantized and all(m.weight.quant_type == "nf4" for m in quantized)
        pytest.importorskip("explainmyxray.report.parse")
        reports = run_generate(host, fresh(xray_cases[:2]), options, runners)
        assert [r.source for r in reports] == ["medgemma", "medgemma"]
    finally:
        manager.close()


# --- a whole run ---------------------------------------------------------------------------------


def test_a_pipeline_run_writes_medgemma_reports(tiny_dir, xray_cases, tmp_path):
    import json

    from explainmyxray.pipelines.engine import Engine
    from explainmyxray.pipelines.loader import parse_pipeline
    from explainmyxray.registry.plugins import DEFAULT_PLUGINS

    pytest.importorskip("explainmyxray.report.parse")
    host = PluginHost(builtins={**DEFAULT_PLUGINS, **PLUGIN}, discover=False)
    # The planner budgets with the registry's 4B estimate (fp32: 16 GiB), whatever folder is given.
    pipeline = parse_pipeline(
        "name: t\ndevice: cpu\nbatch_size: 2\nbudget: {cpu: 32GiB}\nstages:\n"
        "  - stage: preprocess\n    plugin: image\n"
        "  - stage: generate\n    plugin: medgemma\n"
        f"    options: {{weights: '{tiny_dir}', precision: fp32, max_new_tokens: 6}}\n",
        host,
        source="t.yaml",
    )
    sources = [Path(c.source) for c in xray_cases[:2]]
    with Engine(host) as engine:
        summary = engine.run(pipeline, sources, tmp_path / "out")
    assert summary.ok and summary.finished == 2 and summary.model_loads == {MEDGEMMA_4B: 1}
    docs = [json.loads(p.read_text()) for p in (tmp_path / "out").glob("cases/*/report.json")]
    assert len(docs) == 2
    for doc in docs:
        assert doc["report"]["source"] == "medgemma" and doc["report"]["text"]
        generate = next(p for p in doc["provenance"] if p["stage"] == "generate")
        assert generate["models"][0]["precision"] == "fp32"


def test_the_plugin_fast_path_gives_the_plain_paths_reports(host, fp32, xray_cases, monkeypatch):
    options, runners = fp32
    monkeypatch.setattr(generate_medgemma, "report_from_text", lambda text, source: text)
    plain = run_generate(
        host, fresh(xray_cases), options.model_copy(update={"fast": False}), runners
    )
    fast = run_generate(host, fresh(xray_cases), options.model_copy(update={"fast": True}), runners)
    assert fast == plain and all(isinstance(r, str) for r in fast)
