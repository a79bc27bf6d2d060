"""The ``medsam`` localizer: MedSAM runner, 1024 px preprocessing, prompts, plugin, ensemble.

A tiny SAM (segment_anything's own blocks, random weights) stands in for MedSAM ViT-B offline;
it is saved as a checkpoint and loaded through the plugin's real loader.
"""

from __future__ import annotations

import gc
import weakref
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from explainmyxray.core.case import Box, Case, Finding, StructuredReport
from explainmyxray.core.context import StepContext
from explainmyxray.core.errors import ConfigError, ModelError, WeightsNotFoundError
from explainmyxray.core.plugin_api import LoadRequest
from explainmyxray.models.sam.ensemble import EnsembleSegmenter
from explainmyxray.models.sam.medsam import (
    INPUT_SIDE,
    MedSAMRunner,
    build_sam_network,
    preprocess,
)
from explainmyxray.models.sam.medsam.tiny import save_tiny_checkpoint
from explainmyxray.plugins.localize_medsam import MedSAMOptions
from explainmyxray.registry.plugins import PluginHost

pytest.importorskip("segment_anything")

MODULE = "explainmyxray.plugins.localize_medsam"
MiB = 1024**2


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tiny_checkpoint(tmp_path_factory.mktemp("medsam") / "medsam_vit_b.pth")


def tiny_runner(weights: Path, precision: str = "fp32", **settings: str) -> MedSAMRunner:
    runner = MedSAMRunner()
    runner.load(
        LoadRequest(
            device="cpu",
            precision=precision,
            weights=weights,
            settings={"architecture": "tiny", **settings},
        )
    )
    return runner


@pytest.fixture(scope="module")
def runner(checkpoint: Path):
    runner = tiny_runner(checkpoint.parent)  # the folder holding medsam_vit_b.pth
    yield runner
    runner.unload()


@pytest.fixture(scope="module")
def host() -> PluginHost:
    return PluginHost(builtins={"medsam": MODULE}, discover=False)


def test_registers_the_stage_and_the_model(host: PluginHost) -> None:
    assert host.load_errors == {}
    assert host.stage_spec("localize", "medsam").options is MedSAMOptions
    options = MedSAMOptions(weights=Path("w/medsam_vit_b.pth"), precision="fp16")
    [request] = host.model_requests("localize", "medsam", options)
    assert request.name == "medsam" and request.precision == "fp16"
    assert isinstance(request.weights, Path) and request.weights == Path("w/medsam_vit_b.pth")
    assert request.settings == {"architecture": "vit_b", "resize": "stretch"}
    assert request.workspace_bytes > 0
    spec = host.models.get("medsam")
    assert spec.files == ("medsam_vit_b.pth",) and "unverified" in spec.description
    # ViT-B has 93.7 M parameters: 375 MB of fp32 tensors, half of the encoder's in fp16.
    assert 350 * MiB <= spec.estimate("fp32") <= 450 * MiB
    assert spec.estimate("fp16") < 0.7 * spec.estimate("fp32")

    ensemble = MedSAMOptions(ensemble_with_litemedsam=True, litemedsam_weights=Path("l.pth"))
    medsam, lite = host.model_requests("localize", "medsam", ensemble)
    assert (medsam.name, lite.name, lite.weights) == ("medsam", "litemedsam", Path("l.pth"))


def test_options_are_validated() -> None:
    for bad in (
        {"mask_threshold": 0.0},
        {"resize": "crop"},
        {"architecture": "vit_h"},
        {"colour": "red"},
        {"threads": 0},
    ):
        with pytest.raises(ValidationError):
            MedSAMOptions(**bad)


def test_preprocess_follows_medsam_inference() -> None:
    pixels = np.linspace(0.2, 0.6, 300 * 200, dtype=np.float32).reshape(300, 200)
    stretched, rh, rw = preprocess(pixels)
    assert stretched.shape == (INPUT_SIDE, INPUT_SIDE) and (rh, rw) == (1024, 1024)
    assert stretched.min() == pytest.approx(0.0) and stretched.max() == pytest.approx(1.0)
    padded, rh, rw = preprocess(pixels, "longest_side")
    assert (rh, rw) == (1024, 683)
    assert padded[:, rw:].max() == 0.0 and padded[:rh, :rw].max() == pytest.approx(1.0)


def test_boxes_map_to_1024_and_masks_come_back_in_original_pixels(runner) -> None:
    net = runner.model.net
    seen: dict[str, object] = {}
    hooks = [
        net.image_encoder.register_forward_pre_hook(
            lambda _m, args: seen.update(image=args[0].clone())
        ),
        net.prompt_encoder.register_forward_hook(
            lambda _m, _a, kwargs, _out: seen.update(boxes=kwargs["boxes"].clone()),
            with_kwargs=True,
        ),
    ]
    try:
        pixels = np.random.default_rng(1).random((300, 500), dtype=np.float32)
        embedding = runner.model.embed(pixels)
        boxes = [Box(x0=50, y0=30, x1=250, y1=270), Box(x0=260, y0=0, x1=500, y1=300)]
        prediction = runner.model.segment(embedding, boxes)
    finally:
        for hook in hooks:
            hook.remove()
    image = seen["image"]
    assert tuple(image.shape) == (1, 3, 1024, 1024)
    assert float(image.min()) == pytest.approx(0.0) and float(image.max()) == pytest.approx(1.0)
    sent = seen["boxes"].reshape(2, 4).numpy()
    scale = np.array([1024 / 500, 1024 / 300, 1024 / 500, 1024 / 300])
    expected = np.array([[b.x0, b.y0, b.x1, b.y1] for b in boxes]) * scale
    np.testing.assert_allclose(sent, expected, rtol=1e-6)
    assert prediction.logits.shape == (2, 300, 500) and prediction.iou.shape == (2,)
    assert prediction.masks(0.5).dtype == bool
    assert runner.model.segment(embedding, []).logits.shape == (0, 300, 500)


def test_longest_side_masks_are_cropped_before_resizing(checkpoint: Path) -> None:
    runner = tiny_runner(checkpoint, resize="longest_side")
    try:
        embedding = runner.model.embed(np.random.default_rng(2).random((200, 400), np.float32))
        assert (embedding.resized_height, embedding.resized_width) == (512, 1024)
        prediction = runner.model.segment(embedding, [Box(x0=10, y0=10, x1=390, y1=190)])
        assert prediction.logits.shape == (1, 200, 400)
    finally:
        runner.unload()


def test_localize_uses_one_embedding_per_image_and_grounds_findings(
    host: PluginHost, runner, shared_data: Path
) -> None:
    from explainmyxray.imaging import read_xray

    image, _ = read_xray(shared_data / "cxr" / "nih_00000001_000.png")
    report = StructuredReport(
        findings=[
            Finding(label="pleural effusion", locations=["loc left", "loc costophrenic angle"]),
            Finding(label="nodule", locations=["loc right upper lobe"]),
        ]
    )
    cases = [Case(id="a", source="nih.png", image=image, report=report)]
    calls = {"encoder": 0, "decoder": 0}
    net = runner.model.net
    hooks = [
        net.image_encoder.register_forward_hook(
            lambda *_: calls.__setitem__("encoder", calls["encoder"] + 1)
        ),
        net.mask_decoder.register_forward_hook(
            lambda *_: calls.__setitem__("decoder", calls["decoder"] + 1)
        ),
    ]
    step = StepContext(
        stage="localize",
        plugin="medsam",
        options=MedSAMOptions(threads=1),
        get_model=lambda name: runner,
    )
    try:
        [groundings] = host.call_stage("localize", "medsam", cases, step)
    finally:
        for hook in hooks:
            hook.remove()
    assert not isinstance(groundings, Exception), groundings
    assert calls["encoder"] == 1 and calls["decoder"] >= 2  # lungs (+ refined lungs, heart)
    regions = {r.id: r for r in cases[0].anatomy}
    assert len(regions) == 26
    for region in regions.values():
        assert 0 <= region.box.x0 < region.box.x1 <= image.width
        assert 0 <= region.box.y0 < region.box.y1 <= image.height
    effusion, nodule = groundings
    assert [r.region for r in effusion.regions] == ["left_costophrenic_angle"]
    assert effusion.regions[0].box == regions["left_costophrenic_angle"].box
    from explainmyxray.anatomy.locations import regions_for_locations

    expected = regions_for_locations(["loc right upper lobe"])
    assert expected and [r.region for r in nodule.regions] == expected


def test_fp16_casts_only_the_image_encoder(checkpoint: Path) -> None:
    import torch

    runner = tiny_runner(checkpoint, precision="fp16")
    try:
        net = runner.model.net
        assert next(net.image_encoder.parameters()).dtype == torch.float16
        assert next(net.mask_decoder.parameters()).dtype == torch.float32
        assert next(net.prompt_encoder.parameters()).dtype == torch.float32
    finally:
        runner.unload()


@pytest.mark.slow
def test_fp16_runs_end_to_end(checkpoint: Path) -> None:
    runner = tiny_runner(checkpoint, precision="fp16")  # fp16 matmuls are slow on CPU
    try:
        embedding = runner.model.embed(np.random.default_rng(3).random((128, 128), np.float32))
        logits = runner.model.segment(embedding, [Box(x0=10, y0=10, x1=100, y1=100)]).logits
        assert logits.shape == (1, 128, 128) and np.isfinite(logits).all()
    finally:
        runner.unload()


def test_park_restore_and_unload_free_the_network(checkpoint: Path) -> None:
    runner = tiny_runner(checkpoint)
    parked = runner.park()
    net = runner.model.net
    assert parked == sum(t.numel() * t.element_size() for t in [*net.parameters(), *net.buffers()])
    runner.restore("cpu")
    embedding = runner.model.embed(np.zeros((64, 64), np.float32))
    assert runner.model.segment(embedding, [Box(x0=0, y0=0, x1=32, y1=32)]).logits.shape[0] == 1
    ref = weakref.ref(net)
    del net, embedding
    runner.unload()
    gc.collect()
    assert not runner.loaded and ref() is None
    with pytest.raises(ModelError, match="not loaded"):
        runner.park()


def test_bad_weights_and_settings_raise_clear_errors(checkpoint: Path, tmp_path: Path) -> None:
    import torch

    with pytest.raises(WeightsNotFoundError, match=r"medsam_vit_b\.pth"):
        tiny_runner(tmp_path)
    with pytest.raises(ConfigError, match="precision"):
        tiny_runner(checkpoint, precision="int3")
    with pytest.raises(ConfigError, match="architecture"):
        MedSAMRunner().load(
            LoadRequest("cpu", "fp32", checkpoint, settings={"architecture": "vit_z"})
        )
    state = torch.load(checkpoint, weights_only=True)
    state.pop("mask_decoder.iou_token.weight")
    state["image_encoder.pos_embed"] = torch.zeros(1, 64, 64, 48)
    torch.save(state, tmp_path / "wrong.pth")
    with pytest.raises(ModelError, match=r"wrong\.pth is not a MedSAM tiny checkpoint"):
        tiny_runner(tmp_path / "wrong.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(ModelError, match="could not read MedSAM checkpoint"):
        tiny_runner(tmp_path / "junk.pth")


def test_ensemble_averages_the_members_probabilities(runner, tmp_path: Path) -> None:
    other = tiny_runner(save_tiny_checkpoint(tmp_path / "other.pth", seed=1))
    try:
        ensemble = EnsembleSegmenter([runner.model, other.model])
        assert ensemble.name == "medsam+medsam"
        pixels = np.random.default_rng(4).random((100, 150), np.float32)
        boxes = [Box(x0=10, y0=10, x1=140, y1=90)]
        embeddings = ensemble.embed(pixels)
        assert len(embeddings) == 2
        fused = ensemble.segment(embeddings, boxes)
        members = [
            m.segment(e, boxes)
            for m, e in zip((runner.model, other.model), embeddings, strict=True)
        ]
        probabilities = [1 / (1 + np.exp(-p.logits.astype(np.float64))) for p in members]
        expected = np.mean(probabilities, axis=0)
        np.testing.assert_allclose(1 / (1 + np.exp(-fused.logits)), expected, atol=1e-5)
        assert (fused.masks(0.5) == (expected > 0.5)).mean() > 0.999
    finally:
        other.unload()
    with pytest.raises(ValueError, match="two"):
        EnsembleSegmenter([runner.model])


@pytest.mark.slow
def test_real_vit_b_builds_and_runs_one_forward() -> None:
    import torch

    net = build_sam_network("vit_b").eval()
    assert sum(p.numel() for p in net.parameters()) == 93_735_472
    with torch.inference_mode():
        features = net.image_encoder(torch.zeros(1, 3, 1024, 1024))
        sparse, dense = net.prompt_encoder(
            points=None, boxes=torch.tensor([[[100.0, 100.0, 500.0, 900.0]]]), masks=None
        )
        low_res, iou = net.mask_decoder(
            image_embeddings=features,
            image_pe=net.prompt_encoder.get_dense_pe(),
            sparse_prompt_embeddings=sparse,
            dense_prompt_embeddings=dense,
            multimask_output=False,
        )
    assert tuple(features.shape) == (1, 256, 64, 64)
    assert tuple(low_res.shape) == (1, 1, 256, 256) and tuple(iou.shape) == (1, 1)
