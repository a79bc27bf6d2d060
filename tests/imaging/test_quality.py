"""Quality flags on synthetic images: each check fires at its threshold and not before."""

from __future__ import annotations

import numpy as np
import pytest

from explainmyxray.core.case import XrayImage
from explainmyxray.imaging import QualityThresholds, analyse_layout, assess_quality, read_xray
from explainmyxray.imaging.quality import IMAGE_FLAG_CODES

from .conftest import shared_file, synthetic_chest


def _image(pixels: np.ndarray, **fields) -> XrayImage:
    pixels = pixels.astype(np.float32)
    return XrayImage(
        pixels=pixels,
        width=pixels.shape[1],
        height=pixels.shape[0],
        source_format="png",
        **fields,
    )


def _codes(image: XrayImage, metadata=None, **limits) -> dict[str, object]:
    thresholds = QualityThresholds(**limits)
    return {f.code: f for f in assess_quality(image, metadata or {}, thresholds)}


def test_a_clean_synthetic_chest_raises_nothing():
    assert _codes(_image(synthetic_chest())) == {}


def test_layout_of_a_chest_and_its_negative():
    chest = synthetic_chest()
    positive, negative = analyse_layout(chest), analyse_layout(1 - chest)
    assert positive.frontal and negative.frontal
    assert positive.symmetry == pytest.approx(negative.symmetry, abs=1e-3)
    assert positive.profile > 0.8 and negative.profile < -0.8
    assert negative.confidently_inverted and not positive.inverted


def test_axis_follows_an_off_centre_patient():
    chest = synthetic_chest()
    shifted = np.roll(chest, 30, axis=1)
    layout = analyse_layout(shifted)
    assert layout.axis == pytest.approx(0.5 + 30 / chest.shape[1], abs=0.03)
    assert layout.profile > 0.8


def test_low_contrast():
    flat = 0.45 + 0.1 * synthetic_chest()
    flags = _codes(_image(flat))
    assert flags["low_contrast"].value == pytest.approx(0.1 * 0.8, abs=0.03)
    assert flags["low_contrast"].threshold == 0.25
    assert "low_contrast" not in _codes(_image(flat), min_dynamic_range=0.05)


def test_small_and_large_images():
    tiny = _image(synthetic_chest(200, 180))
    assert _codes(tiny)["small_image"].value == 180.0
    wide = _image(np.tile(synthetic_chest(300, 300), (1, 21)))  # 300 x 6300
    flags = _codes(wide)
    assert flags["large_image"].value == 6300.0 and flags["large_image"].severity == "info"


@pytest.mark.parametrize("turns", [1, 3])
def test_a_sideways_chest_is_not_frontal(turns):
    image, _ = read_xray(shared_file("cxr/nih_00000001_000.png"))
    rotated = np.rot90(image.pixels, turns).copy()
    flags = _codes(_image(rotated))
    assert flags["not_frontal_chest"].value < 0.45
    assert "inverted" not in flags  # polarity is not judged on what is not a frontal chest


def test_lateral_view_from_the_image_field():
    flags = _codes(_image(synthetic_chest(), view_position="RL"))
    assert flags["lateral_view"].value == "RL"
    assert "lateral_view" not in _codes(_image(synthetic_chest(), view_position="AP"))


def test_metadata_driven_flags():
    metadata = {
        "non_human_evidence": "'canine' in ProtocolName",
        "modality": "MR",
        "body_part": "HAND",
        "colour_fraction": 0.3,
        "frames": 4,
        "polarity": "corrected",
        "polarity_profile": -0.8,
    }
    flags = _codes(_image(synthetic_chest()), metadata)
    assert set(flags) == {
        "non_human",
        "unexpected_modality",
        "unexpected_body_part",
        "colour_image",
        "multi_frame",
        "polarity_corrected",
    }
    assert set(flags) <= IMAGE_FLAG_CODES


def test_thresholds_forbid_unknown_fields():
    with pytest.raises(ValueError, match="extra"):
        QualityThresholds(min_sidepx=3)
