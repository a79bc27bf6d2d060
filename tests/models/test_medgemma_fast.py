"""The fast generation path gives the plain path's greedy answers for the same weights."""

from __future__ import annotations

import numpy as np
import pytest

from explainmyxray.core.plugin_api import LoadRequest
from explainmyxray.models.vision_language.fast import (
    FastGenerator,
    FastSettings,
    generate_fast,
    plan_batches,
)
from explainmyxray.models.vision_language.medgemma import tiny
from explainmyxray.models.vision_language.medgemma.generation import (
    GenerationSettings,
    generate_batch,
    prepare_inputs,
    to_pil,
)
from explainmyxray.models.vision_language.medgemma.runner import MedGemmaRunner
from explainmyxray.models.vision_language.medgemma.spec import medgemma_4b_spec


def test_batches_group_similar_lengths_and_cover_every_request():
    batches = plan_batches([5, 90, 7, 88, 6, 91], batch_size=2)
    assert batches == [[5, 1], [3, 2], [4, 0]]
    assert sorted(i for b in batches for i in b) == list(range(6))


@pytest.fixture(scope="module")
def runner(tmp_path_factory):
    folder = tiny.build_tiny_medgemma(tmp_path_factory.mktemp("tiny-medgemma"))
    loaded = MedGemmaRunner(medgemma_4b_spec())
    loaded.load(LoadRequest(device="cpu", precision="fp32", weights=folder))
    yield loaded
    loaded.unload()


def test_fast_path_greedy_answers_equal_the_plain_path(runner):
    rng = np.random.default_rng(0)
    images = [to_pil(rng.random((48 + 8 * i, 40), dtype=np.float32)) for i in range(5)]
    prompts = [
        "Report.",
        "Write the FINDINGS, LOCATIONS and IMPRESSION of this chest radiograph.",
        "Report this radiograph in PadChest terms, with the locations of every finding.",
        "Chest X-ray.",
        "Describe the heart, the lungs and the pleura.",
    ]
    settings = GenerationSettings(max_new_tokens=12)
    plain = [
        generate_batch(runner, [im], [p], settings)[0]
        for im, p in zip(images, prompts, strict=True)
    ]
    fast = generate_fast(
        runner, images, prompts, settings, FastSettings(batch_size=4, bucket=16, vision_chunk=3)
    )
    assert fast == plain
    assert any(answer for answer in plain)


def test_park_and_restore_keep_the_answers(runner):
    image = to_pil(np.random.default_rng(1).random((48, 48), dtype=np.float32))
    settings = GenerationSettings(max_new_tokens=6)
    before = generate_batch(runner, [image], ["Report."], settings)
    assert runner.park() > 0
    runner.restore("cpu")
    assert generate_batch(runner, [image], ["Report."], settings) == before


def _frequent_token(runner, images, prompts, settings) -> int:
    """A token the tiny model writes in the middle of an answer, to serve as an extra EOS."""
    inputs = prepare_inputs(runner, images[:1], prompts[:1])
    new = runner.model.generate(**inputs, generation_config=settings.to_transformers(runner.model))
    return int(new[0, inputs["input_ids"].shape[1] + 3])


@pytest.mark.parametrize("min_new_tokens", [None, 8])
def test_rows_ending_early_match_the_plain_path(runner, monkeypatch, min_new_tokens):
    rng = np.random.default_rng(2)
    images = [to_pil(rng.random((40, 40 + 8 * i), dtype=np.float32)) for i in range(3)]
    prompts = ["Report.", "Chest X-ray, frontal.", "Describe the lungs."]
    settings = GenerationSettings(max_new_tokens=24, min_new_tokens=min_new_tokens)
    eos = _frequent_token(runner, images, prompts, settings)
    full = generate_fast(runner, images, prompts, GenerationSettings(max_new_tokens=24))
    monkeypatch.setattr(runner.model.generation_config, "eos_token_id", [1, eos])
    plain = [
        generate_batch(runner, [im], [p], settings)[0]
        for im, p in zip(images, prompts, strict=True)
    ]
    fast = generate_fast(runner, images, prompts, settings, FastSettings(batch_size=2, bucket=8))
    assert fast == plain
    assert any(len(a) < len(b) for a, b in zip(plain, full, strict=True)), "no row ended early"


def test_repetition_penalty_goes_through_generate_with_the_same_answers(runner):
    rng = np.random.default_rng(3)
    images = [to_pil(rng.random((40, 48), dtype=np.float32)) for _ in range(3)]
    prompts = ["Report.", "Chest X-ray.", "Describe the heart and the lungs."]
    settings = GenerationSettings(max_new_tokens=10, repetition_penalty=1.3)
    plain = [
        generate_batch(runner, [im], [p], settings)[0]
        for im, p in zip(images, prompts, strict=True)
    ]
    generator = FastGenerator(runner, settings, FastSettings(batch_size=2, bucket=8))
    fast = generate_fast(runner, images, prompts, settings, generator.fast, generator)
    assert fast == plain
    assert generator.decoder is None  # the static decoder is for plain greedy decoding only


def _spy_decode(monkeypatch) -> list[tuple[int, str]]:
    from explainmyxray.models.vision_language import decode_attention

    calls: list[tuple[int, str]] = []
    real = decode_attention._decode

    def spy(*args, **kwargs):
        calls.append((args[4], args[7] if len(args) > 7 else kwargs.get("kernel", "matmul")))
        return real(*args, **kwargs)

    monkeypatch.setattr(decode_attention, "_decode", spy)
    return calls


@pytest.mark.parametrize("attention", ["matmul", "sdpa"])
def test_windowed_steps_read_only_filled_slots_with_the_same_answers(
    runner, monkeypatch, attention
):
    rng = np.random.default_rng(4)
    images = [to_pil(rng.random((40, 44), dtype=np.float32)) for _ in range(3)]
    prompts = ["Report.", "Chest X-ray, frontal view.", "Describe the heart and the lungs."]
    settings = GenerationSettings(max_new_tokens=40)
    whole = generate_fast(
        runner, images, prompts, settings, FastSettings(batch_size=4, bucket=16, window=None)
    )
    calls = _spy_decode(monkeypatch)
    fast = FastSettings(batch_size=4, bucket=16, window=16, attention=attention)
    windowed = generate_fast(runner, images, prompts, settings, fast)
    assert windowed == whole
    decoder = runner.fast_generator(settings, fast).decoder
    slots = sorted({s for s, _ in calls})
    assert {k for _, k in calls} == {attention}
    # several windows, each a multiple of 16, growing with the report and below the full cache
    assert len(slots) >= 2 and all(s % 16 == 0 for s in slots)
    assert slots[0] < decoder.length and slots[-1] <= decoder.length
    assert slots[0] >= decoder.prompt + 1


def test_without_a_window_no_step_takes_the_windowed_path(runner, monkeypatch):
    calls = _spy_decode(monkeypatch)
    image = to_pil(np.random.default_rng(5).random((40, 40), dtype=np.float32))
    settings = GenerationSettings(max_new_tokens=8)
    generate_fast(runner, [image], ["Report."], settings, FastSettings(bucket=8, window=None))
    assert calls == []


def test_unknown_decode_kernel_is_refused():
    from explainmyxray.models.vision_language.decode_attention import active_slots

    with pytest.raises(ValueError, match="flash"), active_slots(64, "flash"):
        pass


def test_fused_norm_equals_gemmas_norm_on_every_text_norm(tmp_path):
    import torch

    from explainmyxray.models.vision_language import fused_norm

    folder = tiny.build_tiny_medgemma(tmp_path / "m")
    loaded = MedGemmaRunner(medgemma_4b_spec())
    loaded.load(LoadRequest(device="cpu", precision="fp32", weights=folder))
    model = loaded.model
    norms = {
        name: module
        for name, module in model.named_modules()
        if type(module).__name__ == "Gemma3RMSNorm" and "vision" not in name
    }
    probes = {n: torch.randn(3, 1, m.weight.shape[-1]) for n, m in norms.items()}
    with torch.inference_mode():
        before = {n: m(probes[n]) for n, m in norms.items()}
    assert fused_norm.install(model, compile=False) == len(norms) > 0
    assert fused_norm.install(model, compile=False) == 0  # already installed
    with torch.inference_mode():
        for name, module in norms.items():
            assert "forward" in vars(module)
            torch.testing.assert_close(module(probes[name]), before[name])
    loaded.unload()


def test_a_norm_that_is_not_gemmas_is_left_alone():
    import torch

    from explainmyxray.models.vision_language import fused_norm

    class Gemma3RMSNorm(torch.nn.Module):  # same name, another formula (weight, not 1 + weight)
        def __init__(self):
            super().__init__()
            self.weight = torch.nn.Parameter(torch.full((8,), 0.5))
            self.eps = 1e-6

        def forward(self, x):
            return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight

    model = torch.nn.Sequential(Gemma3RMSNorm())
    assert fused_norm.install(model, compile=False) == 0
    assert "forward" not in vars(model[0])


def test_the_runner_keeps_one_generator_per_settings_until_parked(runner):
    settings, fast = GenerationSettings(max_new_tokens=4), FastSettings(bucket=8)
    first = runner.fast_generator(settings, fast)
    assert runner.fast_generator(settings, fast) is first
    assert runner.fast_generator(GenerationSettings(max_new_tokens=5), fast) is not first
    runner.park()
    runner.restore("cpu")
    assert runner.fast_generator(settings, fast) is not first  # graphs held the old addresses
