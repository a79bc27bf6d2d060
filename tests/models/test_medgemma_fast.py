"""The fast generation path gives the plain path's greedy answers for the same weights."""

from __future__ import annotations

import numpy as np
import pytest

from explainmyxray.core.plugin_api import LoadRequest
from explainmyxray.models.vision_language.medgemma import tiny
from explainmyxray.models.vision_language.medgemma.fast import (
    FastGenerator,
    FastSettings,
    generate_fast,
    plan_batches,
)
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
