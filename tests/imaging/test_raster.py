"""PNG / JPEG decoding: bit depths, colour modes, alpha, palettes, EXIF orientation."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from explainmyxray.imaging import assess_quality, read_xray

from .conftest import mediastinum_margin, synthetic_chest

EXIF_ORIENTATION = 0x0112


@pytest.fixture
def chest() -> np.ndarray:
    return synthetic_chest()


def test_eight_bit_png_is_scaled_by_255(tmp_path, chest):
    stored = np.round(chest * 255).astype(np.uint8)
    path = tmp_path / "c.png"
    Image.fromarray(stored).save(path)
    image, metadata = read_xray(path)
    assert image.source_format == "png" and metadata["format"] == "png"
    assert np.allclose(image.pixels, stored / 255.0, atol=1e-6)
    assert image.bits_stored == 8


def test_sixteen_bit_png_with_twelve_significant_bits(tmp_path, chest):
    stored = np.round(chest * 4095).astype(np.uint16)
    path = tmp_path / "c16.png"
    Image.fromarray(stored).save(path)
    image, metadata = read_xray(path)
    assert metadata["bits_stored"] == 12
    assert np.allclose(image.pixels, stored / 4095.0, atol=1e-6)


def test_full_range_sixteen_bit_png(tmp_path, chest):
    stored = np.round(chest * 65535).astype(np.uint16)
    path = tmp_path / "full16.png"
    Image.fromarray(stored).save(path)
    image, metadata = read_xray(path)
    assert metadata["bits_stored"] == 16
    assert np.allclose(image.pixels, stored / 65535.0, atol=1e-6)


def test_exif_rotated_jpeg_is_turned_upright(tmp_path, chest):
    upright = np.round(chest * 255).astype(np.uint8)
    upright[:40, :30] = 255  # a marker in the top-left corner pins the orientation down
    # orientation 6: "rotate 90° clockwise to display", so the file holds it turned anticlockwise
    stored = np.rot90(upright, k=1)
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = 6
    path = tmp_path / "rot.jpg"
    Image.fromarray(np.ascontiguousarray(stored)).save(path, quality=95, exif=exif)
    image, metadata = read_xray(path)
    assert image.source_format == "jpeg"
    assert image.pixels.shape == upright.shape
    assert metadata["exif_orientation"] == 6
    assert "EXIF orientation 6 applied" in image.notes
    assert np.abs(image.pixels - upright / 255.0).mean() < 0.02
    assert float(image.pixels[:40, :30].mean()) > 0.9
    assert mediastinum_margin(image.pixels) > 0.2


def test_rgba_is_laid_on_black(tmp_path, chest):
    grey = np.round(chest * 255).astype(np.uint8)
    alpha = np.full_like(grey, 255)
    alpha[:, :20] = 0
    rgba = np.stack([grey, grey, grey, alpha], axis=-1)
    path = tmp_path / "a.png"
    Image.fromarray(rgba, mode="RGBA").save(path)
    image, metadata = read_xray(path)
    assert metadata["mode"] == "RGBA"
    assert float(image.pixels[:, :20].max()) == 0.0
    assert np.allclose(image.pixels[:, 20:], grey[:, 20:] / 255.0, atol=1e-2)
    assert "colour_fraction" not in metadata


def test_palette_png(tmp_path, chest):
    grey = Image.fromarray(np.round(chest * 255).astype(np.uint8))
    path = tmp_path / "p.png"
    grey.convert("P", palette=Image.Palette.ADAPTIVE, colors=64).save(path)
    image, metadata = read_xray(path)
    assert metadata["mode"] == "P"
    assert "palette image converted to grey" in image.notes
    assert np.abs(image.pixels - chest).mean() < 0.05


def test_grey_alpha_png(tmp_path, chest):
    grey = np.round(chest * 255).astype(np.uint8)
    la = np.stack([grey, np.full_like(grey, 255)], axis=-1)
    path = tmp_path / "la.png"
    Image.fromarray(la, mode="LA").save(path)
    image, _ = read_xray(path)
    assert np.allclose(image.pixels, grey / 255.0, atol=1e-6)


def test_colour_photo_is_flagged(tmp_path, chest):
    grey = np.round(chest * 255).astype(np.uint8)
    rgb = np.stack([grey, np.roll(grey, 40, axis=1), 255 - grey], axis=-1)
    path = tmp_path / "colour.png"
    Image.fromarray(rgb).save(path)
    image, metadata = read_xray(path)
    flags = {f.code: f for f in assess_quality(image, metadata)}
    assert flags["colour_image"].value > 0.5
    assert flags["colour_image"].threshold == 0.05


def test_negative_png_is_flagged_and_corrected_only_on_request(tmp_path, chest):
    path = tmp_path / "neg.png"
    Image.fromarray(np.round((1 - chest) * 255).astype(np.uint8)).save(path)
    image, metadata = read_xray(path)
    assert metadata["polarity"] == "file"
    flags = {f.code: f for f in assess_quality(image, metadata)}
    assert flags["inverted"].value < -0.3
    assert flags["inverted"].severity == "error"
    fixed, fixed_meta = read_xray(path, fix_inverted="always")
    assert fixed_meta["polarity"] == "corrected"
    assert mediastinum_margin(fixed.pixels) > 0.2
    assert {f.code for f in assess_quality(fixed, fixed_meta)} == {"polarity_corrected"}


def test_multi_page_tiff_uses_the_first_page(tmp_path, chest):
    pages = [Image.fromarray(np.round(chest * 255).astype(np.uint8)), Image.new("L", (360, 400))]
    path = tmp_path / "pages.tif"
    pages[0].save(path, save_all=True, append_images=pages[1:])
    image, metadata = read_xray(path)
    assert image.source_format == "other"
    assert metadata["frames"] == 2
    assert mediastinum_margin(image.pixels) > 0.2


def test_png_text_chunks_and_exif_are_not_reported(tmp_path, chest):
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Author", "Jane Roe")
    info.add_text("date:create", "2020-01-25T10:47:02")
    path = tmp_path / "text.png"
    Image.fromarray(np.round(chest * 255).astype(np.uint8)).save(path, pnginfo=info)
    image, metadata = read_xray(path)
    dumped = repr(metadata) + repr(image.model_dump())
    assert "Jane Roe" not in dumped and "2020-01-25" not in dumped
