"""The ``image`` plugin: decode DICOM / PNG / JPEG radiographs and report their quality.

For each case it reads ``case.input_file`` into an :class:`XrayImage` (grey float32 in ``[0, 1]``,
bright = dense, original size), puts the de-identified header attributes in ``case.metadata``
(identifying ones only with ``--keep-phi``) and appends the quality flags to ``case.quality``.
A file that cannot be decoded fails only its own case, with an :class:`InputError` naming it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from explainmyxray import hookimpl
from explainmyxray.core.case import Case, XrayImage
from explainmyxray.core.context import StepContext
from explainmyxray.core.errors import InputError
from explainmyxray.imaging.budget import DEFAULT_MAX_IMAGE_MIB
from explainmyxray.imaging.subject import CHEST_BODY_PARTS, RADIOGRAPHY
from explainmyxray.imaging.thresholds import QualityThresholds


class ImageOptions(BaseModel):
    """Options of the ``preprocess`` step of the ``image`` plugin."""

    model_config = ConfigDict(extra="forbid")

    frame: int = Field(
        0, ge=0, description="which frame of a multi-frame DICOM to use (0 = the first)"
    )
    voi: Literal["auto", "window", "percentiles"] = Field(
        "auto",
        description=(
            "DICOM grey-level mapping: auto = the header's VOI LUT or window unless it flattens "
            "or clips the image, then robust percentiles; window = always the header's; "
            "percentiles = always the robust 0.5-99.5 percentile range"
        ),
    )
    fix_inverted: Literal["never", "dicom", "always"] = Field(
        "dicom",
        description=(
            "flip grey levels of a frontal chest that reads as a negative: dicom = when the "
            "pixels contradict the DICOM photometric header; always = PNG/JPEG too; "
            "never = only flag it"
        ),
    )
    force_dicom: bool = Field(
        False, description="read DICOM data sets that lack the Part 10 preamble and file meta"
    )
    max_image_mib: float = Field(
        DEFAULT_MAX_IMAGE_MIB,
        gt=0,
        description=(
            "refuse, before decoding, an image whose header declares more decoded bytes "
            "(rows x columns x frames x samples x bytes per sample) than this many MiB"
        ),
    )
    modalities: list[str] = Field(
        default_factory=lambda: list(RADIOGRAPHY),
        min_length=1,
        description=(
            "DICOM modalities read (others fail their case before decoding, naming the "
            "modality); '*' reads any"
        ),
    )
    body_parts: list[str] = Field(
        default_factory=lambda: list(CHEST_BODY_PARTS),
        min_length=1,
        description=(
            "words a DICOM Body Part Examined must contain when it is given (others fail "
            "their case); '*' reads any"
        ),
    )
    quality: QualityThresholds = Field(default_factory=QualityThresholds)


@hookimpl
def register_stages(register) -> None:
    register(
        "preprocess",
        options=ImageOptions,
        description="decode DICOM/PNG/JPEG to grey, bright = dense; de-identified metadata; "
        "quality flags (view, polarity, contrast, size, subject)",
    )


def _read_one(case: Case, options: ImageOptions, keep_phi: bool) -> XrayImage:
    from explainmyxray.imaging import assess_quality, read_xray
    from explainmyxray.imaging.quality import IMAGE_FLAG_CODES

    path = case.input_file
    try:
        image, metadata = read_xray(
            path,
            keep_phi=keep_phi,
            frame=options.frame,
            voi=options.voi,
            fix_inverted=options.fix_inverted,
            force_dicom=options.force_dicom,
            max_image_mib=options.max_image_mib,
            modalities=options.modalities,
            body_parts=options.body_parts,
        )
    except InputError:
        raise
    except MemoryError as exc:
        raise InputError(f"{path}: not enough memory to decode the image") from exc
    except Exception as exc:  # a decoder bug must fail this case only, never the batch
        raise InputError(
            f"{path}: unexpected error while decoding ({type(exc).__name__}: {exc})"
        ) from exc
    case.metadata.update(metadata)
    kept = [flag for flag in case.quality if flag.code not in IMAGE_FLAG_CODES]
    case.quality = kept + assess_quality(image, metadata, options.quality)
    return image


@hookimpl
def preprocess(
    cases: Sequence[Case], step: StepContext[ImageOptions]
) -> list[XrayImage | Exception]:
    options = step.options
    results: list[XrayImage | Exception] = []
    for case in cases:
        try:
            results.append(_read_one(case, options, step.keep_phi))
        except InputError as exc:
            results.append(exc)
    return results
