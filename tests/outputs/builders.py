"""Hand-made cases on real radiographs for the output tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from explainmyxray.anatomy.regions import region as canonical_region
from explainmyxray.core.case import (
    Box,
    Case,
    CaseError,
    Finding,
    FindingVerdict,
    GroundedRegion,
    Grounding,
    QualityFlag,
    Region,
    Score,
    StructuredReport,
    Verification,
    XrayImage,
)

# Region boxes as fractions of the image (x0, y0, x1, y1); the patient's right is image left.
FRACTIONS: dict[str, tuple[float, float, float, float]] = {
    "right_lung": (0.12, 0.14, 0.47, 0.84),
    "left_lung": (0.53, 0.14, 0.88, 0.84),
    "right_lower_zone": (0.12, 0.58, 0.47, 0.84),
    "right_costophrenic_angle": (0.11, 0.74, 0.25, 0.86),
    "left_upper_zone": (0.53, 0.14, 0.88, 0.38),
    "cardiac_silhouette": (0.40, 0.48, 0.72, 0.80),
    "trachea": (0.46, 0.04, 0.54, 0.30),
}
ELLIPTIC = ("right_lung", "left_lung", "cardiac_silhouette")


def load_pixels(path: Path) -> np.ndarray:
    """A radiograph as float32 [0, 1], H x W (colour files are converted to gray)."""
    with Image.open(path) as image:
        return np.asarray(image.convert("L"), dtype=np.float32) / 255.0


def xray(pixels: np.ndarray) -> XrayImage:
    return XrayImage(
        pixels=pixels,
        width=pixels.shape[1],
        height=pixels.shape[0],
        source_format="png",
        view_position="PA",
    )


def box_of(region_id: str, width: int, height: int) -> Box:
    x0, y0, x1, y1 = FRACTIONS[region_id]
    return Box(x0=x0 * width, y0=y0 * height, x1=x1 * width, y1=y1 * height)


def ellipse_mask(box: Box, width: int, height: int) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width]
    cx, cy = (box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2
    rx, ry = box.width / 2, box.height / 2
    return ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1.0


def anatomy(width: int, height: int, masks: bool = True) -> list[Region]:
    regions = []
    for region_id in FRACTIONS:
        definition = canonical_region(region_id)
        box = box_of(region_id, width, height)
        mask = ellipse_mask(box, width, height) if masks and region_id in ELLIPTIC else None
        regions.append(
            Region(
                id=region_id,
                name=definition.name,
                color=definition.color,
                box=box,
                mask=mask,
                area_px=int(mask.sum()) if mask is not None else int(box.area),
                method="test",
            )
        )
    return regions


def grounding(finding: str, region_ids: list[str], width: int, height: int) -> Grounding:
    return Grounding(
        finding=finding,
        locations=[r.replace("_", " ") for r in region_ids],
        regions=[GroundedRegion(region=r, box=box_of(r, width, height)) for r in region_ids],
    )


def full_case(path: Path, case_id: str = "case-full", evidence: str | None = None) -> Case:
    """A case with every part filled in: findings, groundings, flags, verification, scores."""
    pixels = load_pixels(path)
    h, w = pixels.shape
    report = StructuredReport(
        findings=[
            Finding(
                label="pleural effusion",
                status="present",
                locations=["right costophrenic angle"],
                regions=["right_costophrenic_angle", "right_lower_zone"],
                confidence=0.86,
                evidence=evidence or "blunting of the right costophrenic angle",
            ),
            Finding(
                label="cardiomegaly",
                status="present",
                regions=["cardiac_silhouette"],
                confidence=0.74,
                evidence="enlarged cardiac silhouette",
            ),
            Finding(
                label="nodule",
                status="uncertain",
                locations=["left upper lobe"],
                regions=["left_upper_zone"],
                confidence=0.41,
            ),
            Finding(label="pneumothorax", status="absent"),
        ],
        impression="Right pleural effusion and cardiomegaly. Possible left upper zone nodule.",
        text="FINDINGS: Blunting of the right costophrenic angle. Enlarged heart. "
        "Possible nodule in the left upper lobe. No pneumothorax.",
        source="supplied",
    )
    return Case(
        id=case_id,
        source=str(path),
        image=xray(pixels),
        report=report,
        anatomy=anatomy(w, h),
        groundings=[
            grounding("pleural effusion", ["right_costophrenic_angle", "right_lower_zone"], w, h),
            grounding("cardiomegaly", ["cardiac_silhouette"], w, h),
            grounding("nodule", ["left_upper_zone"], w, h),
        ],
        quality=[
            QualityFlag(
                code="low_contrast",
                message="the lung fields have little contrast",
                value=0.031,
                threshold=0.05,
            )
        ],
        verification=[
            Verification(
                verifier="labeler",
                verdicts=[
                    FindingVerdict(
                        label="pleural effusion",
                        verdict="agree",
                        reported_status="present",
                        verifier_status="present",
                    ),
                    FindingVerdict(
                        label="cardiomegaly",
                        verdict="contradicted",
                        reported_status="present",
                        verifier_status="absent",
                        detail="cardiothoracic ratio 0.48",
                    ),
                    FindingVerdict(label="nodule", verdict="not_mentioned"),
                ],
                hallucinated=["atelectasis"],
                dropped=["pneumothorax"],
            )
        ],
        scores=[Score(metric="grounding_iou", value=0.612, details={"boxes": 3})],
    )


def no_findings_case(path: Path, case_id: str = "case-normal") -> Case:
    """A case with anatomy but an empty report (the generator had nothing to write)."""
    pixels = load_pixels(path)
    h, w = pixels.shape
    return Case(
        id=case_id,
        source=str(path),
        image=xray(pixels),
        report=StructuredReport(
            source="none",
            warnings=["no report was generated: no generator weights are configured"],
        ),
        anatomy=anatomy(w, h),
    )


def failed_case(case_id: str = "case-broken") -> Case:
    """A case whose image could not be decoded."""
    return Case(
        id=case_id,
        source="/data/broken.dcm",
        errors=[
            CaseError(
                stage="preprocess",
                plugin="dicom",
                error_type="InputError",
                message="pixel data is truncated: expected 2097152 bytes, found 1024",
            )
        ],
    )
