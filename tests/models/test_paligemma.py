"""The PaliGemma generator plugin, run end to end on a tiny random PaliGemma 2 built offline."""

from __future__ import annotations

import gc
import time
import weakref
from pathlib import Path

import pytest
from pydantic import ValidationError

from explainmyxray.core.case import Case, RetrievedCase, StructuredReport
from explainmyxray.core.errors import InputError, WeightsNotFoundError
from explainmyxray.core.plugin_api import LoadRequest
from explainmyxray.models.vision_language.paligemma import spec as spec_mod
from explainmyxray.models.vision_language.paligemma.spec import (
    PALIGEMMA2_3B_896,
    paligemma2_3b_896_spec,
)
from explainmyxray.plugins import generate_paligemma
from explainmyxray.plugins.generate_paligemma import PaliGemmaOptions
from explainmyxray.registry.plugins import PluginHost

from . import generator_harness as harness
from .generator_harness import fresh
from .tensor_memory import cpu_tensor_bytes

pytest.importorskip("torch")
pytest.importorskip("transformers")

PLUGIN = {"paligemma": "explainmyxray.plugins.generate_paligemma"}
IMAGES = ("nih_00000001_000.png", "nih_00027426_000.png")


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory) -> Path:
    from explainmyxray.models.vision_language.paligemma.tiny import build_tiny_paligemma

    return build_tiny_paligemma(tmp_path_factory.mktemp("tiny-paligemma"))


@pytest.fixture(scope="module")
def xray_cases() -> list[Case]:
    return harness.xray_cases(IMAGES)


@pytest.fixture(scope="module")
def host() -> PluginHost:
    return PluginHost(builtins=PLUGIN, discover=False)


def load_runner(host: PluginHost, options):
    return harness.load_runner(host, "paligemma", options)


def run_generate(host: PluginHost, cases: list[Case], options, runners) -> list:
    return harness.run_generate(host, "paligemma", cases, options, runners)


@pytest.fixture(scope="module")
def fp32(host, tiny_dir):
    options = PaliGemmaOptions(weights=tiny_dir, precision="fp32", max_new_tokens=10)
    manager, runners = load_runner(host, options)
    yield options, runners
    manager.close()


# --- registration, options, spec ---------------------------------------------------------------


def test_plugin_registers_stage_and_model(host):
    assert host.load_errors == {}
    assert host.plugins_for("generate") == ["paligemma"]
    spec = host.models.get(PALIGEMMA2_3B_896)
    assert spec.hub_id == "google/paligemma2-3b-pt-896" and spec.plugin == "paligemma"
    assert spec.default_precision == "bf16" and "Gemma" in spec.license
    assert spec.estimate("nf4") < spec.estimate("bf16") < spec.estimate("fp32")


def test_memory_estimates_follow_the_real_configs_parameter_count():
    import torch
    from transformers import PaliGemmaForConditionalGeneration

    from explainmyxray.models.vision_language.paligemma.tiny import real_config

    with torch.device("meta"):
        model = PaliGemmaForConditionalGeneration(real_config())
    unique = {id(p): p for p in model.parameters()}
    assert sum(p.numel() for p in unique.values()) == spec_mod.PARAMETERS
    linear = sum(
        m.weight.numel()
        for name, m in model.named_modules()
        if isinstance(m, torch.nn.Linear) and "lm_head" not in name
    )
    assert linear == spec_mod.LINEAR_PARAMETERS
    memory = spec_mod.PALIGEMMA2_3B_896_MEMORY
    # GPU measurements: the parameters' bytes plus at most a little allocator rounding
    assert memory["bf16"] == pytest.approx(2 * spec_mod.PARAMETERS, rel=0.01)
    assert memory["fp32"] == pytest.approx(4 * spec_mod.PARAMETERS, rel=0.01)
    nf4 = spec_mod.LINEAR_PARAMETERS * spec_mod.NF4_BYTES_PER_WEIGHT + 2 * (
        spec_mod.PARAMETERS - spec_mod.LINEAR_PARAMETERS
    )
    assert memory["nf4"] == pytest.approx(nf4, rel=0.02)


def test_options_map_to_one_model_request_with_workspace(tmp_path):
    options = PaliGemmaOptions(weights=tmp_path / "w", precision="nf4")
    (request,) = generate_paligemma.model_requests(options)
    assert request.name == PALIGEMMA2_3B_896 and request.precision == "nf4"
    assert request.weights == tmp_path / "w"

    def workspace(**kw) -> int:
        return generate_paligemma.model_requests(PaliGemmaOptions(**kw))[0].workspace_bytes

    one = workspace(batch_size=1)
    assert 4096 * spec_mod.WORKSPACE_BYTES_PER_TOKEN < one < 2 * 10**9
    assert workspace(batch_size=4) == 4 * one
    assert workspace(batch_size=1, use_retrieved=False) < one
    assert workspace(batch_size=1, precision="fp32") == 2 * one


@pytest.mark.parametrize(
    "bad", [{"temprature": 0.5}, {"precision": "int8"}, {"batch_size": 0}, {"adapter": "x"}]
)
def test_options_reject_unknown_and_out_of_range(bad):
    with pytest.raises(ValidationError):
        PaliGemmaOptions(**bad)


# --- missing weights ---------------------------------------------------------------------------


def test_missing_weights_name_files_place_and_pull_command(host, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(WeightsNotFoundError) as caught:
        load_runner(host, PaliGemmaOptions())
    assert time.perf_counter() - start < 20
    message = str(caught.value)
    assert "config.json" in message and "*.safetensors" in message
    assert f"explainmyxray models pull {PALIGEMMA2_3B_896}" in message


def test_incomplete_weights_folder_lists_what_is_missing(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "pytorch_model.bin").write_bytes(b"")  # pickled weights are not accepted
    runner = paligemma2_3b_896_spec().factory()
    with pytest.raises(WeightsNotFoundError, match=r"\*\.safetensors.*tokenizer\*"):
        runner.load(LoadRequest(device="cpu", precision="bf16", weights=tmp_path))
    assert not runner.loaded


# --- generation through the plugin ------------------------------------------------------------


def test_generate_one_report_per_case_deterministic(host, fp32, xray_cases):
    pytest.importorskip("explainmyxray.report.parse")
    options, runners = fp32
    first = run_generate(host, fresh(xray_cases), options, runners)
    second = run_generate(host, fresh(xray_cases), options, runners)
    assert len(first) == len(xray_cases)
    for report in first:
        assert isinstance(report, StructuredReport)
        assert report.source == "paligemma"
        assert report.text is not None and report.text.strip()
    assert [r.text for r in first] == [r.text for r in second]


def test_prompt_is_medgemmas_instruction_after_the_image_and_bos(fp32, xray_cases):
    from explainmyxray.models.vision_language.medgemma.generation import to_pil
    from explainmyxray.models.vision_language.medgemma.prompt import build_prompt
    from explainmyxray.models.vision_language.paligemma.generation import prepare_inputs

    _, runners = fp32
    runner = runners[PALIGEMMA2_3B_896]
    inputs = prepare_inputs(runner, [to_pil(xray_cases[0].image.pixels)], [build_prompt()])
    assert "labels" not in inputs
    tokenizer = runner.processor.tokenizer
    ids = inputs["input_ids"][0].tolist()
    image_id = tokenizer.convert_tokens_to_ids("<image>")
    count = runner.processor.image_seq_length
    assert ids[:count] == [image_id] * count and ids[count] == tokenizer.bos_token_id
    text = tokenizer.decode(ids[count + 1 :])
    assert text == build_prompt() + "\n"


def test_left_padding_keeps_each_answer_independent_of_its_batch(fp32, xray_cases):
    from explainmyxray.models.vision_language.medgemma.generation import GenerationSettings, to_pil
    from explainmyxray.models.vision_language.medgemma.prompt import build_prompt
    from explainmyxray.models.vision_language.paligemma.generation import generate_batch

    _, runners = fp32
    runner = runners[PALIGEMMA2_3B_896]
    images = [to_pil(c.image.pixels) for c in xray_cases]
    context = [RetrievedCase(id="x", score=0.8, report="small left pleural effusion " * 8)]
    prompts = [build_prompt(), build_prompt(context, max_context_tokens=200)]
    assert runner.count_tokens(prompts[0]) != runner.count_tokens(prompts[1])
    settings = GenerationSettings(max_new_tokens=6)
    batched = generate_batch(runner, images, prompts, settings)
    alone = [
        generate_batch(runner, [i], [p], settings)[0] for i, p in zip(images, prompts, strict=True)
    ]
    assert batched == alone


def test_batches_retrieved_context_and_imageless_cases(host, fp32, xray_cases, monkeypatch):
    from explainmyxray.models.vision_language.paligemma import generation

    options, runners = fp32
    calls: list[list[str]] = []
    monkeypatch.setattr(
        generation,
        "generate_batch",
        lambda r, i, prompts, s: calls.append(prompts) or ["x"] * len(i),
    )
    cases = fresh(xray_cases)
    cases[0].retrieved = [RetrievedCase(id="ref", score=0.7, report="cardiomegaly with effusion")]
    cases.insert(1, Case(id="empty", source="nowhere.png"))
    results = run_generate(host, cases, options.model_copy(update={"batch_size": 1}), runners)
    assert [len(c) for c in calls] == [1, 1]
    assert "cardiomegaly with effusion" in calls[0][0]
    assert isinstance(results[1], InputError) and "empty" in str(results[1])
    assert [r.source for i, r in enumerate(results) if i != 1] == ["paligemma", "paligemma"]
    calls.clear()
    run_generate(host, cases, options.model_copy(update={"use_retrieved": False}), runners)
    assert all("cardiomegaly with effusion" not in p for p in calls[0])


def test_an_answer_in_the_asked_layout_parses_with_paligemma_as_source():
    pytest.importorskip("explainmyxray.report.parse")
    from explainmyxray.report.from_text import report_from_text

    answer = (
        "FINDINGS:\n- cardiomegaly\n- no pneumothorax\nLOCATIONS:\n- none\nIMPRESSION:\nBig heart."
    )
    report = report_from_text(answer, source="paligemma")
    assert report.text == answer and report.source == "paligemma"
    assert {f.label: f.status for f in report.findings} == {
        "cardiomegaly": "present",
        "pneumothorax": "absent",
    }


# --- memory ---------------------------------------------------------------------------------------


def test_unload_frees_the_model_and_park_restore_keep_it_working(tiny_dir):
    runner = paligemma2_3b_896_spec().factory()
    before = cpu_tensor_bytes()
    runner.load(LoadRequest("cpu", "fp32", tiny_dir))
    weights = sum(p.numel() * p.element_size() for p in runner.model.parameters())
    assert runner.park() >= weights and runner.device == "cpu"
    runner.restore("cpu")
    assert runner.device == "cpu" and runner.count_tokens("cardiomegaly") > 0
    model_ref = weakref.ref(runner.model)
    assert cpu_tensor_bytes() - before >= weights
    runner.unload()
    gc.collect()
    assert model_ref() is None and not runner.loaded
    assert cpu_tensor_bytes() - before < weights // 10
