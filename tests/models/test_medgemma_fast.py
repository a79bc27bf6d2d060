"""The fast generation path gives the plain path's greedy answers for the same weights."""

from __future__ import annotations

import numpy as np
import pytest

from explainmyxray.core.plugin_api import LoadRequest
from explainmyxray.models.medgemma import tiny
from explainmyxray.models.medgemma.fast import FastSettings, generate_fast, plan_batches
from explainmyxray.models.medgemma.generation import (
    GenerationSettings,
    generate_batch,
    to_pil,
)
from explainmyxray.models.medgemma.runner import MedGemmaRunner
from explainmyxray.models.medgemma.spec import medgemma_4b_spec


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
    fast = generate_fast(runner, images, prompts, settings, FastSettings(batch_size=2, bucket=16))
    assert fast == plain
    assert any(answer for answer in plain)


def test_park_and_restore_keep_the_answers(runner):
    image = to_pil(np.random.default_rng(1).random((48, 48), dtype=np.float32))
    settings = GenerationSettings(max_new_tokens=6)
    before = generate_batch(runner, [image], ["Report."], settings)
    assert runner.park() > 0
    runner.restore("cpu")
    assert generate_batch(runner, [image], ["Report."], settings) == before
