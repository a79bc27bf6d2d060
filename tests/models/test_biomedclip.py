"""The BiomedCLIP runner on a tiny random open_clip model built offline (and, marked slow, the
real-size architecture with random weights)."""

from __future__ import annotations

import gc
import json
import weakref
from pathlib import Path

import numpy as np
import pytest

from explainmyxray.core.case import XrayImage
from explainmyxray.core.errors import ConfigError, InputError, WeightsNotFoundError
from explainmyxray.core.plugin_api import LoadRequest
from explainmyxray.models.biomedclip import config as clip_config
from explainmyxray.models.biomedclip.preprocess import grey_pixels, image_batch, image_tensor
from explainmyxray.models.biomedclip.spec import MEMORY_BYTES, biomedclip_spec
from explainmyxray.models.biomedclip.zeroshot import (
    NEGATIVE_TEMPLATE,
    POSITIVE_TEMPLATE,
    default_labels,
    zero_shot_scores,
)

from .tensor_memory import cpu_tensor_bytes

pytest.importorskip("torch")
pytest.importorskip("open_clip")

CXR = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "cxr"
IMAGES = ("nih_00000001_000.png", "covid19_pneumonia_58_prior.jpg", "rgb_16747_3_1.jpg")


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory) -> Path:
    from explainmyxray.models.biomedclip.tiny import build_tiny_biomedclip

    return build_tiny_biomedclip(tmp_path_factory.mktemp("tiny-clip"), seed=3)


@pytest.fixture(scope="module")
def runner(tiny_dir):
    loaded = biomedclip_spec().factory()
    loaded.load(LoadRequest("cpu", "fp32", tiny_dir))
    yield loaded
    loaded.unload()


@pytest.fixture(scope="module")
def radiographs() -> list[XrayImage]:
    if not CXR.is_dir():
        pytest.skip(f"real radiographs folder {CXR} is absent (see shared/data/README.md)")
    from explainmyxray.imaging import read_xray

    return [read_xray(CXR / name)[0] for name in IMAGES]


# --- weights and loading ------------------------------------------------------------------------


def test_missing_weights_name_the_files_and_the_pull_command(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WeightsNotFoundError) as caught:
        biomedclip_spec().factory().load(LoadRequest("cpu", "fp32", None))
    message = str(caught.value)
    assert "open_clip_config.json" in message and "open_clip_pytorch_model.bin" in message
    assert "explainmyxray models pull biomedclip" in message


def test_folder_without_weights_or_tokenizer_says_what_is_missing(tiny_dir, tmp_path):
    config = (tiny_dir / "open_clip_config.json").read_text()
    (tmp_path / "open_clip_config.json").write_text(config)
    runner = biomedclip_spec().factory()
    with pytest.raises(WeightsNotFoundError, match="no weights"):
        runner.load(LoadRequest("cpu", "fp32", tmp_path))
    (tmp_path / "open_clip_model.safetensors").symlink_to(tiny_dir / "open_clip_model.safetensors")
    with pytest.raises(WeightsNotFoundError, match="no tokenizer files"):
        runner.load(LoadRequest("cpu", "fp32", tmp_path))
    with pytest.raises(ConfigError, match="no precision 'int8'"):
        runner.load(LoadRequest("cpu", "int8", tiny_dir))
    assert not runner.loaded


def test_pickled_bin_loads_like_safetensors(tiny_dir, runner, radiographs, tmp_path):
    from explainmyxray.models.biomedclip.tiny import build_tiny_biomedclip

    pickled = build_tiny_biomedclip(tmp_path / "bin", seed=3, safetensors=False)
    assert clip_config.find_checkpoint(pickled).name == "open_clip_pytorch_model.bin"
    other = biomedclip_spec().factory()
    other.load(LoadRequest("cpu", "fp32", Path(f"local-dir:{pickled}")))
    try:
        np.testing.assert_allclose(
            other.embed_images(radiographs), runner.embed_images(radiographs), atol=1e-6
        )
    finally:
        other.unload()


def test_pubmedbert_text_config_is_fitted_to_the_checkpoint(tmp_path):
    import torch
    from safetensors.torch import save_file

    checkpoint = tmp_path / "open_clip_model.safetensors"
    save_file(
        {
            clip_config.WORD_EMBEDDINGS: torch.zeros(28895, 8),
            clip_config.POSITION_EMBEDDINGS: torch.zeros(300, 8),
        },
        str(checkpoint),
    )
    text_cfg = clip_config.BIOMEDCLIP_CONFIG["model_cfg"]["text_cfg"]
    derived = clip_config.text_tower_config(tmp_path, text_cfg, checkpoint)
    assert (derived["vocab_size"], derived["max_position_embeddings"]) == (28895, 300)
    assert derived["hidden_size"] == 768 and derived["num_hidden_layers"] == 12
    (tmp_path / "text_config.json").write_text(json.dumps({"model_type": "bert", "x": 1}))
    assert clip_config.text_tower_config(tmp_path, text_cfg, checkpoint)["x"] == 1
    with pytest.raises(WeightsNotFoundError, match=r"text_config\.json"):
        clip_config.text_tower_config(tmp_path / "none", {"hf_model_name": "org/other"}, None)


# --- preprocessing --------------------------------------------------------------------------------


def test_preprocessing_resizes_the_short_side_and_crops_the_centre():
    pixels = np.zeros((300, 600), dtype=np.float32)
    pixels[:, 120:480] = 1.0  # white beyond the central square, black at the sides
    tensor = image_tensor(pixels, (160, 160))
    assert tuple(tensor.shape) == (1, 160, 160)
    assert float(tensor.min()) > 0.99  # only the white centre survives the crop
    flat = image_tensor(np.full((50, 40), 0.25, np.float32), (160, 160))
    assert tuple(flat.shape) == (1, 160, 160)
    np.testing.assert_allclose(flat.numpy(), 0.25, atol=1e-5)
    batch = image_batch([pixels], (160, 160), (0.5, 0.5, 0.5), (0.25, 0.25, 0.25))
    assert tuple(batch.shape) == (1, 3, 160, 160)
    np.testing.assert_allclose(batch.numpy(), 2.0, atol=1e-3)


def test_bad_image_inputs_are_input_errors():
    with pytest.raises(InputError, match="no decoded pixels"):
        grey_pixels(XrayImage(width=4, height=4, source_format="png"))
    with pytest.raises(InputError, match="2-D grey image"):
        grey_pixels(np.zeros((2, 3, 5, 5)))
    rgb = np.stack([np.zeros((4, 4)), np.ones((4, 4)), np.ones((4, 4)) * 0.5], axis=-1)
    np.testing.assert_allclose(grey_pixels(rgb), 0.5)


# --- embeddings and zero-shot ---------------------------------------------------------------------


def test_embeddings_are_unit_deterministic_and_batch_independent(runner, radiographs):
    together = runner.embed_images(radiographs, batch_size=3)
    alone = np.concatenate([runner.embed_images([image]) for image in radiographs])
    assert together.shape == (3, 32) and together.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(together, alone, atol=1e-5)
    assert not np.allclose(together[0], together[1], atol=1e-3)
    texts = runner.embed_texts(["pleural effusion", "clavicle fracture", "pleural effusion"])
    np.testing.assert_allclose(texts[0], texts[2], atol=1e-6)
    assert not np.allclose(texts[0], texts[1], atol=1e-3)


def test_reduced_precision_keeps_the_embeddings(tiny_dir, runner, radiographs):
    import torch

    half = biomedclip_spec().factory()
    half.load(LoadRequest("cpu", "bf16", tiny_dir))
    try:
        assert half.dtype == torch.bfloat16
        cosine = np.sum(half.embed_images(radiographs) * runner.embed_images(radiographs), axis=1)
        assert np.all(cosine > 0.98)
        assert half.identity == runner.identity  # an index built in fp32 serves bf16 queries
    finally:
        half.unload()


def test_zero_shot_probabilities_are_the_softmax_over_each_prompt_pair(runner, radiographs):
    labels = ["pleural effusion", "Cardiomegaly", "pneumothorax"]
    scores = zero_shot_scores(runner, radiographs, labels)
    assert [list(s) for s in scores] == [["pleural effusion", "cardiomegaly", "pneumothorax"]] * 3
    images = runner.embed_images(radiographs)
    prompts = {
        label: runner.embed_texts(
            [POSITIVE_TEMPLATE.format(finding=label), NEGATIVE_TEMPLATE.format(finding=label)]
        )
        for label in scores[0]
    }
    for image, probabilities in zip(images, scores, strict=True):
        for label, p in probabilities.items():
            pos, neg = prompts[label]
            logits = runner.logit_scale * np.array([image @ pos, image @ neg])
            want = np.exp(logits - logits.max())
            assert p == pytest.approx(want[0] / want.sum(), abs=1e-5)
            assert 0.0 <= p <= 1.0
    with pytest.raises(ConfigError, match="not in the PadChest ontology"):
        zero_shot_scores(runner, radiographs, ["effusion", "spaceship"])


def test_default_zero_shot_labels_are_frequent_chest_findings():
    labels = default_labels()
    assert len(labels) == 30 and len(set(labels)) == 30
    assert labels[:3] == ["cardiomegaly", "aortic elongation", "pleural effusion"]
    assert not {"normal", "unchanged", "exclude"} & set(labels)


# --- memory ---------------------------------------------------------------------------------------


def test_unload_returns_memory_to_the_baseline(tiny_dir):
    loaded = biomedclip_spec().factory()
    before = cpu_tensor_bytes()
    loaded.load(LoadRequest("cpu", "fp32", tiny_dir))
    model_ref = weakref.ref(loaded.model)
    weights = sum(p.numel() * p.element_size() for p in loaded.model.parameters())
    assert cpu_tensor_bytes() - before >= weights
    loaded.embed_texts(["cardiomegaly"])
    loaded.unload()
    gc.collect()
    assert model_ref() is None and not loaded.loaded
    assert cpu_tensor_bytes() - before < weights // 10


def test_park_and_restore_keep_the_model_working(tiny_dir, radiographs):
    loaded = biomedclip_spec().factory()
    loaded.load(LoadRequest("cpu", "fp32", tiny_dir))
    try:
        first = loaded.embed_images(radiographs[:1])
        weights = sum(p.numel() * p.element_size() for p in loaded.model.parameters())
        assert loaded.park() >= weights
        loaded.restore("cpu")
        np.testing.assert_allclose(loaded.embed_images(radiographs[:1]), first, atol=1e-6)
    finally:
        loaded.unload()


@pytest.mark.slow
def test_real_size_architecture_builds_and_runs(tmp_path):
    """BiomedCLIP's own open_clip config, random weights: sizes and one forward pass."""
    import torch

    from explainmyxray.models.biomedclip.runner import build_model

    config = clip_config.BIOMEDCLIP_CONFIG
    (tmp_path / "open_clip_config.json").write_text(json.dumps(config))
    text = clip_config.text_tower_config(tmp_path, config["model_cfg"]["text_cfg"], None)
    model = build_model(tmp_path, config, text, load_weights=False)
    parameters = sum(p.numel() for p in model.parameters())
    assert parameters == 195_902_721
    assert 4 * parameters <= MEMORY_BYTES["fp32"] <= 1.05 * 4 * parameters
    assert 2 * parameters <= MEMORY_BYTES["fp16"] <= 1.10 * 2 * parameters
    assert model.visual.preprocess_cfg["size"] == (224, 224)
    with torch.inference_mode():
        image = model.encode_image(torch.rand(1, 3, 224, 224), normalize=True)
        tokens = torch.randint(1, text["vocab_size"], (1, 256))
        report = model.encode_text(tokens, normalize=True)
    assert image.shape == report.shape == (1, 512)
    assert torch.allclose(image.norm(dim=-1), torch.ones(1), atol=1e-4)
