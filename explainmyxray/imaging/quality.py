"""Quality checks on a decoded radiograph: every problem becomes a :class:`QualityFlag`.

The checks and how their thresholds were set (on the real files under ``shared/data``: 8 public
CXR PNG/JPEGs, 4 JSRT JPEGs, the SIIM CR, the RG1 15-bit CR in three encodings, and a dog's
lateral thorax; real frontal chests must raise none of the view / polarity / subject flags):

=======================  ===================================================================
``lateral_view``         the header's view position (or its procedure text) says lateral or
                         oblique.
``not_frontal_chest``    mirror symmetry about the best vertical axis below 0.45 (frontal
                         chests: 0.65–0.94; the dog's lateral thorax: 0.28).
``inverted``             frontal-looking but the lung/mediastinum column profile correlates
                         below -0.3 with a bright-spine template (frontals: +0.76 to +0.96).
``polarity_corrected``   (info) the reader flipped grey levels its header got wrong.
``low_contrast``         1st–99th percentile spread below 0.25 (real images: 0.69–1.0).
``small_image``          shorter side below 256 px; ``large_image``: longer side above 6000.
``non_human``            species, breed, or a species / veterinary / phantom word in the
                         procedure attributes (the dog: 'canine' in its processing
                         description).
``unexpected_modality``  a modality other than projection radiography (CT, MR, US...).
``unexpected_body_part`` a body part that is not the chest.
``colour_image``         more than 5 % of pixels in colour: a photo or a rendering, not a
                         radiograph.
``multi_frame``          (info) only one frame of several was used.
=======================  ===================================================================
"""

from __future__ import annotations

from collections.abc import Mapping

from ..core.case import QualityFlag, XrayImage
from .header import LATERAL_VIEWS, OBLIQUE_VIEWS
from .intensity import dynamic_range
from .layout import analyse_layout
from .subject import is_chest, modality_allowed
from .thresholds import QualityThresholds

IMAGE_FLAG_CODES = frozenset(
    {
        "lateral_view",
        "not_frontal_chest",
        "inverted",
        "polarity_corrected",
        "low_contrast",
        "small_image",
        "large_image",
        "non_human",
        "unexpected_modality",
        "unexpected_body_part",
        "colour_image",
        "multi_frame",
    }
)
"""Every code :func:`assess_quality` can return (a re-run replaces these, keeps the others)."""


def _view_flags(image: XrayImage, metadata: Mapping[str, object]) -> list[QualityFlag]:
    view = (image.view_position or str(metadata.get("view_position") or "")).upper()
    if view in LATERAL_VIEWS or view in OBLIQUE_VIEWS:
        kind = "lateral" if view in LATERAL_VIEWS else "oblique"
        return [
            QualityFlag(
                code="lateral_view",
                message=f"the header gives a {kind} view ({view}); the pipeline expects a "
                "frontal (PA/AP) chest radiograph",
                value=view,
            )
        ]
    return []


def _layout_flags(image: XrayImage, thresholds: QualityThresholds) -> list[QualityFlag]:
    if image.pixels is None:
        return []
    layout = analyse_layout(image.pixels)
    aspect = image.width / max(1, image.height)
    if layout.symmetry < thresholds.min_symmetry:
        return [
            QualityFlag(
                code="not_frontal_chest",
                message=(
                    f"the image does not look like a frontal chest radiograph: left/right "
                    f"mirror symmetry {layout.symmetry:.2f} is below {thresholds.min_symmetry:.2f}"
                    f" (width/height {aspect:.2f}); likely a lateral view or not a human chest"
                ),
                value=layout.symmetry,
                threshold=thresholds.min_symmetry,
            )
        ]
    if layout.profile <= thresholds.max_inverted_profile:
        return [
            QualityFlag(
                code="inverted",
                message=(
                    "the image looks like a negative (lungs brighter than the mediastinum: "
                    f"profile correlation {layout.profile:+.2f}); dense structures should be bright"
                ),
                value=layout.profile,
                threshold=thresholds.max_inverted_profile,
                severity="error",
            )
        ]
    return []


def _subject_flags(metadata: Mapping[str, object]) -> list[QualityFlag]:
    flags: list[QualityFlag] = []
    evidence = metadata.get("non_human_evidence")
    if evidence:
        flags.append(
            QualityFlag(
                code="non_human",
                message=f"the header describes a non-human subject ({evidence}); findings "
                "from models trained on human chests do not apply",
                value=str(evidence),
                severity="error",
            )
        )
    modality = str(metadata.get("modality") or "").upper()
    if modality and not modality_allowed(modality):
        flags.append(
            QualityFlag(
                code="unexpected_modality",
                message=f"modality {modality} is not projection radiography (CR/DX)",
                value=modality,
                severity="error",
            )
        )
    body_part = str(metadata.get("body_part") or "").upper()
    if body_part and not is_chest(body_part):
        flags.append(
            QualityFlag(
                code="unexpected_body_part",
                message=f"the header gives body part {body_part}, not the chest",
                value=body_part,
            )
        )
    return flags


def assess_quality(
    image: XrayImage,
    metadata: Mapping[str, object],
    thresholds: QualityThresholds | None = None,
) -> list[QualityFlag]:
    """Every check that did not pass on this image, with measured value and threshold."""
    limits = thresholds or QualityThresholds()
    flags: list[QualityFlag] = []
    flags += _view_flags(image, metadata)
    flags += _layout_flags(image, limits)
    if metadata.get("polarity") == "corrected":
        flags.append(
            QualityFlag(
                code="polarity_corrected",
                message="the file's photometric header contradicts its pixels; grey levels "
                "were flipped to bright = dense",
                value=metadata.get("polarity_profile"),  # type: ignore[arg-type]
                severity="info",
            )
        )
    if image.pixels is not None:
        spread = dynamic_range(image.pixels)
        if spread < limits.min_dynamic_range:
            flags.append(
                QualityFlag(
                    code="low_contrast",
                    message=f"very low contrast: 1st-99th percentile spread {spread:.3f}",
                    value=round(spread, 4),
                    threshold=limits.min_dynamic_range,
                )
            )
    short, long = min(image.width, image.height), max(image.width, image.height)
    if short < limits.min_side_px:
        flags.append(
            QualityFlag(
                code="small_image",
                message=f"the image is tiny ({image.width}x{image.height} px); "
                "findings may be missed",
                value=float(short),
                threshold=float(limits.min_side_px),
            )
        )
    if long > limits.max_side_px:
        flags.append(
            QualityFlag(
                code="large_image",
                message=f"the image is unusually large ({image.width}x{image.height} px)",
                value=float(long),
                threshold=float(limits.max_side_px),
                severity="info",
            )
        )
    flags += _subject_flags(metadata)
    colour = metadata.get("colour_fraction")
    if isinstance(colour, int | float) and colour > limits.max_colour_fraction:
        flags.append(
            QualityFlag(
                code="colour_image",
                message=f"{colour:.0%} of pixels are coloured: a photo or rendering, "
                "not a radiograph",
                value=float(colour),
                threshold=limits.max_colour_fraction,
                severity="error",
            )
        )
    frames = metadata.get("frames")
    if isinstance(frames, int) and frames > 1:
        flags.append(
            QualityFlag(
                code="multi_frame",
                message=f"the file holds {frames} frames; one was used",
                value=float(frames),
                severity="info",
            )
        )
    return flags
