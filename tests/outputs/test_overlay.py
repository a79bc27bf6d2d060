from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from explainmyxray.anatomy.regions import region as canonical_region
from explainmyxray.core.case import Box, Case, GroundedRegion, Grounding, Region
from explainmyxray.outputs import render_overlay, write_case_outputs, write_overlay
from explainmyxray.outputs.overlay import PANEL_BG, legend_entries
from explainmyxray.outputs.style import FALLBACK_PALETTE, to_rgb

from .builders import box_of, failed_case, full_case, no_findings_case


def _rgb(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB")).astype(int)


def _left_edge_colors(
    overlay: np.ndarray, box: Box, scale: float, right: bool = False
) -> np.ndarray:
    """The pixels just inside the left (or right) edge of a box, over its middle half."""
    x = round(box.x1 * scale) - 1 if right else round(box.x0 * scale)
    y0 = round((box.y0 + box.height / 4) * scale)
    y1 = round((box.y1 - box.height / 4) * scale)
    return overlay[y0:y1, x]


def test_overlay_keeps_original_size_and_puts_the_legend_beside_it(cxr: Path) -> None:
    case = full_case(cxr / "nih_00000001_000.png")
    overlay = render_overlay(case)
    assert overlay.mode == "RGB"
    assert overlay.height >= 512
    assert overlay.width > 512 + 200  # the legend is a panel of its own, not drawn over the image

    pixels = _rgb(overlay)
    legend = pixels[:, 512:]
    share_background = np.all(legend == PANEL_BG, axis=-1).mean()
    assert share_background > 0.6
    # The legend lists each drawn region with a swatch of its colour.
    for region_id in ("right_costophrenic_angle", "cardiac_silhouette", "left_upper_zone"):
        color = to_rgb(canonical_region(region_id).color)
        assert np.all(legend == color, axis=-1).sum() > 20, region_id


def test_box_edges_have_the_region_colour(cxr: Path) -> None:
    case = full_case(cxr / "nih_00000001_000.png")
    pixels = _rgb(render_overlay(case))
    for region_id in ("cardiac_silhouette", "right_lower_zone"):
        color = np.array(to_rgb(canonical_region(region_id).color))
        # The right edge: the pleural effusion label may cross the left one.
        edge = _left_edge_colors(pixels, box_of(region_id, 512, 512), 1.0, right=True)
        assert np.all(edge == color, axis=-1).mean() > 0.9, region_id


def test_masks_are_tinted_not_painted_over(cxr: Path) -> None:
    case = full_case(cxr / "nih_00000001_000.png")
    gray = np.asarray(Image.open(cxr / "nih_00000001_000.png").convert("L")).astype(int)
    pixels = _rgb(render_overlay(case))
    box = box_of("cardiac_silhouette", 512, 512)
    cy, cx = round((box.y0 + box.y1) / 2), round((box.x0 + box.x1) / 2)
    patch = pixels[cy - 5 : cy + 5, cx - 5 : cx + 5]
    # Magenta tint: red and blue pulled up over green, but the anatomy still shows through.
    assert np.all(patch[..., 0] > patch[..., 1]) and np.all(patch[..., 2] > patch[..., 1])
    assert (
        np.corrcoef(patch[..., 1].ravel(), gray[cy - 5 : cy + 5, cx - 5 : cx + 5].ravel())[0, 1]
        > 0.5
    )


def test_uncertain_findings_have_dashed_outlines(cxr: Path) -> None:
    case = full_case(cxr / "nih_00000001_000.png")
    pixels = _rgb(render_overlay(case))
    color = np.array(to_rgb(canonical_region("left_upper_zone").color))
    edge = _left_edge_colors(pixels, box_of("left_upper_zone", 512, 512), 1.0)
    share = np.all(edge == color, axis=-1).mean()
    assert 0.3 < share < 0.8  # dashes and gaps


def test_large_images_are_downscaled_with_boxes_scaled_alike(cxr: Path) -> None:
    case = full_case(cxr / "covid19_pneumonia_58_prior.jpg")
    original = case.image.pixels.shape  # type: ignore[union-attr]
    assert max(original) > 2048
    overlay = render_overlay(case)
    scale = 2048 / max(original)
    assert overlay.height == round(original[0] * scale)
    pixels = _rgb(overlay)
    color = np.array(to_rgb(canonical_region("cardiac_silhouette").color))
    edge = _left_edge_colors(pixels, box_of("cardiac_silhouette", original[1], original[0]), scale)
    assert np.all(edge == color, axis=-1).mean() > 0.9

    small = render_overlay(full_case(cxr / "nih_00000001_000.png"))
    legend_large = overlay.width - round(original[1] * scale)
    legend_small = small.width - 512
    assert legend_large > 2 * legend_small  # text and panel grow with the image


def test_case_colours_win_and_unknown_regions_get_a_palette_colour(cxr: Path) -> None:
    case = full_case(cxr / "nih_00000001_000.png")
    heart = next(r for r in case.anatomy if r.id == "cardiac_silhouette")
    heart.color = "#00a0ff"
    custom = Box(x0=300, y0=60, x1=420, y1=160)
    case.groundings.append(
        Grounding(
            finding="hilar enlargement",
            regions=[GroundedRegion(region="plugin_zone", box=custom)],
        )
    )
    pixels = _rgb(render_overlay(case))
    heart_edge = _left_edge_colors(pixels, box_of("cardiac_silhouette", 512, 512), 1.0)
    assert np.all(heart_edge == (0, 160, 255), axis=-1).mean() > 0.9
    custom_edge = _left_edge_colors(pixels, custom, 1.0)
    assert np.all(custom_edge == to_rgb(FALLBACK_PALETTE[0]), axis=-1).mean() > 0.9


def test_legend_numbers_only_drawn_findings(cxr: Path) -> None:
    case = full_case(cxr / "nih_00000001_000.png")
    entries = {e.label: e for e in legend_entries(case)}
    assert [entries[k].number for k in ("pleural effusion", "cardiomegaly", "nodule")] == [1, 2, 3]
    assert entries["pneumothorax"].number is None  # absent: listed, not drawn
    assert [r.id for r in entries["pleural effusion"].regions] == [
        "right_costophrenic_angle",
        "right_lower_zone",
    ]


def test_without_findings_the_anatomy_is_outlined_faintly(cxr: Path) -> None:
    case = no_findings_case(cxr / "nih_00027426_000.png")
    pixels = _rgb(render_overlay(case))[:, :512]
    colourful = np.ptp(pixels, axis=-1) > 20
    assert colourful.sum() > 500  # outlines are there
    for region in case.anatomy:
        assert not np.all(pixels == to_rgb(region.color), axis=-1).any(), region.id  # but faint
    assert not any(e.drawn for e in legend_entries(case))


def test_an_image_without_anatomy_or_findings_is_left_as_is(cxr: Path) -> None:
    case = no_findings_case(cxr / "nih_00027426_000.png")
    case.anatomy = []
    pixels = _rgb(render_overlay(case))[:, :512]
    gray = np.asarray(Image.open(cxr / "nih_00027426_000.png").convert("L")).astype(int)
    inner = slice(48, 512 - 48)  # all but the R and L markers at the edges
    assert np.array_equal(pixels[:, inner, 0], gray[:, inner])
    assert np.ptp(pixels, axis=-1).max() == 0


def test_a_frontal_overlay_marks_the_patients_right_on_the_left(cxr: Path) -> None:
    case = no_findings_case(cxr / "nih_00027426_000.png")
    case.anatomy = []
    marked = _rgb(render_overlay(case))[:, :512].astype(int)
    gray = np.asarray(Image.open(cxr / "nih_00027426_000.png").convert("L")).astype(int)
    changed = np.abs(marked[..., 0] - gray) > 0
    rows, cols = np.nonzero(changed)
    assert changed.any() and abs(rows.mean() - 256) < 40  # at mid-height
    assert set(np.unique(cols < 256)) == {True, False}  # on both edges
    case.image.view_position = "LL"  # type: ignore[union-attr]
    lateral = _rgb(render_overlay(case))[:, :512].astype(int)
    assert np.array_equal(lateral[..., 0], gray)


def test_overlay_labels_are_one_per_finding_and_clear_of_other_boxes(
    cxr: Path, monkeypatch
) -> None:
    from explainmyxray.outputs import overlay
    from explainmyxray.outputs.labels import _overlaps

    calls: list = []
    real = overlay.place_labels

    def spy(requests, size, **kw):
        placements = real(requests, size, **kw)
        calls.append((requests, placements))
        return placements

    monkeypatch.setattr(overlay, "place_labels", spy)
    render_overlay(full_case(cxr / "nih_00000001_000.png"))
    ((requests, placements),) = calls
    assert [r.key for r in requests] == ["1", "2", "3"]
    for request, placement in zip(requests, placements, strict=True):
        assert placement.inside_image
        others = [b for r in requests if r is not request for b in r.own if b not in request.own]
        assert not any(_overlaps(placement.rect, b) for b in others)


def test_no_image_means_no_overlay(tmp_path: Path) -> None:
    case = failed_case()
    with pytest.raises(ValueError, match="no image pixels"):
        render_overlay(case)
    assert write_case_outputs(case, tmp_path) == []
    assert list(tmp_path.iterdir()) == []


def test_write_case_outputs_writes_overlay_and_thumbnail_atomically(
    cxr: Path, tmp_path: Path
) -> None:
    case = full_case(cxr / "nih_00000001_000.png")
    written = write_case_outputs(case, tmp_path / "cases" / case.id)
    folder = tmp_path / "cases" / case.id
    assert written == [folder / "overlay.png", folder / "image.jpg"]
    with Image.open(written[0]) as image:
        assert image.format == "PNG"
        assert image.size == render_overlay(case).size
    with Image.open(written[1]) as image:
        assert image.format == "JPEG" and image.size == (512, 512)
    assert sorted(p.name for p in folder.iterdir()) == ["image.jpg", "overlay.png"]


def test_a_failed_render_keeps_the_previous_overlay(cxr: Path, tmp_path: Path) -> None:
    path = write_overlay(full_case(cxr / "nih_00000001_000.png"), tmp_path / "overlay.png")
    before = path.read_bytes()
    broken = Case(id="broken", source="x.png", image=full_case(cxr / "nih_00000001_000.png").image)
    broken.image.pixels = np.zeros(7, dtype=np.float32)  # type: ignore[union-attr]
    with pytest.raises(ValueError, match="H x W"):
        write_overlay(broken, path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["overlay.png"]


def test_region_without_mask_or_known_colour_in_anatomy(cxr: Path) -> None:
    case = no_findings_case(cxr / "nih_00027426_000.png")
    case.anatomy = [
        Region(
            id="odd", name="odd region", color="not-a-colour", box=Box(x0=10, y0=10, x1=100, y1=100)
        )
    ]
    pixels = _rgb(render_overlay(case))[:, :512]
    assert (np.ptp(pixels[5:110, 5:110], axis=-1) > 10).any()
