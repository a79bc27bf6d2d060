"""The localizer with the real LiteMedSAM weights on real radiographs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from explainmyxray.anatomy.segment import AnatomyResult, segment_anatomy
from explainmyxray.imaging import read_xray

from .conftest import read_mask
from .ordering import assert_anatomical_order, assert_regions_inside_and_complete

MIN_MEAN_DICE = 0.95
"""Documented figure: 0.9696 mean lung Dice on these four images (benchmarks/lung_dice.py)."""
MIN_IMAGE_DICE = 0.93


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * float((a & b).sum()) / float(a.sum() + b.sum())


@pytest.fixture(scope="module")
def jsrt(litemedsam, jsrt_dir: Path) -> list[tuple[np.ndarray, np.ndarray, AnatomyResult]]:
    out = []
    for i in range(1, 5):
        image, _ = read_xray(jsrt_dir / f"{i}.jpg")
        truth = read_mask(jsrt_dir / f"{i}-mask.png")
        out.append((image.pixels, truth, segment_anatomy(litemedsam, image.pixels)))
    return out


def test_lung_dice_against_manual_masks(jsrt) -> None:
    scores = [dice(r.right_lung | r.left_lung, truth) for _, truth, r in jsrt]
    assert min(scores) >= MIN_IMAGE_DICE, scores
    assert np.mean(scores) >= MIN_MEAN_DICE, scores
    for _, truth, r in jsrt:
        assert r.lung_box_sources == {"right": "detected", "left": "detected"}
        assert not (r.right_lung & r.left_lung).any()
        width = truth.shape[1]
        # PA convention: the patient's right lung lies on the image's left half.
        assert np.nonzero(r.right_lung)[1].mean() < width / 2 < np.nonzero(r.left_lung)[1].mean()


def test_regions_are_inside_the_image_and_in_anatomical_order(jsrt) -> None:
    for pixels, _, r in jsrt:
        assert_regions_inside_and_complete(r.regions, pixels.shape[1], pixels.shape[0])
        assert_anatomical_order(r.regions)
        assert r.heart is not None
        assert r.region("cardiac_silhouette").method == "litemedsam"


def test_masks_come_back_in_original_pixels(litemedsam, jsrt) -> None:
    from PIL import Image

    pixels, truth, small = jsrt[0]
    big = np.asarray(Image.fromarray(pixels).resize((1024, 1024), Image.BILINEAR))
    large = segment_anatomy(litemedsam, big)
    assert large.right_lung.shape == (1024, 1024)
    upscaled = np.asarray(
        Image.fromarray(small.right_lung | small.left_lung).resize((1024, 1024), Image.NEAREST)
    )
    assert dice(large.right_lung | large.left_lung, upscaled) > 0.97
    box_small, box_large = small.region("left_lung").box, large.region("left_lung").box
    assert box_large.x0 == pytest.approx(2 * box_small.x0, abs=8)
    assert box_large.y1 == pytest.approx(2 * box_small.y1, abs=8)

    cropped = segment_anatomy(litemedsam, np.ascontiguousarray(pixels[:440]))  # not square
    assert cropped.right_lung.shape == (440, 512)
    assert dice(cropped.right_lung | cropped.left_lung, truth[:440]) > MIN_IMAGE_DICE


def test_one_image_embedding_serves_every_prompt(litemedsam, jsrt, monkeypatch) -> None:
    calls = {"embed": 0, "segment": 0}
    embed, segment = litemedsam.embed, litemedsam.segment

    def counting_embed(*args, **kwargs):
        calls["embed"] += 1
        return embed(*args, **kwargs)

    def counting_segment(*args, **kwargs):
        calls["segment"] += 1
        return segment(*args, **kwargs)

    monkeypatch.setattr(litemedsam, "embed", counting_embed)
    monkeypatch.setattr(litemedsam, "segment", counting_segment)
    segment_anatomy(litemedsam, jsrt[1][0])
    assert calls == {"embed": 1, "segment": 3}  # lungs, refined lungs, heart


def test_other_real_radiographs(litemedsam, shared_data: Path) -> None:
    for name in ("rgb_16747_3_1.jpg", "covid19_pneumonia_58_prior.jpg"):
        image, _ = read_xray(shared_data / "cxr" / name)
        result = segment_anatomy(litemedsam, image.pixels)
        assert_regions_inside_and_complete(result.regions, image.width, image.height)
        assert_anatomical_order(result.regions)
