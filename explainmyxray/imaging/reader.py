"""One entry point for every input file: :func:`read_xray` picks the decoder by content."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path

from ..core.case import XrayImage
from ..core.errors import InputError
from ..core.inputs import detect_format
from . import budget
from .dicom import ANY, FixInverted, VoiMode, read_dicom
from .phi import MetadataValue
from .raster import read_raster

DICOM_SUFFIXES = frozenset({".dcm", ".dicom", ".dic", ""})


def sniff_format(path: Path) -> str:
    """``"dicom"`` or ``"raster"``, from the file's first bytes (the suffix only breaks ties)."""
    try:
        with path.open("rb") as fh:
            empty = not fh.read(1)
    except OSError as exc:
        raise InputError(f"{path}: cannot read the file: {exc}") from exc
    if empty:
        raise InputError(f"{path}: the file is empty")
    found = detect_format(path)
    if found is not None:
        return found
    return "dicom" if path.suffix.lower() in DICOM_SUFFIXES else "raster"


def read_xray(
    path: Path,
    *,
    keep_phi: bool = False,
    frame: int = 0,
    voi: VoiMode = "auto",
    fix_inverted: FixInverted = "dicom",
    force_dicom: bool = False,
    max_image_mib: float = budget.DEFAULT_MAX_IMAGE_MIB,
    modalities: Collection[str] = (ANY,),
    body_parts: Collection[str] = (ANY,),
) -> tuple[XrayImage, dict[str, MetadataValue]]:
    """Decode a DICOM, PNG or JPEG radiograph to grey ``[0, 1]``, bright = dense, full size.

    Returns the image and its metadata: technical attributes only, unless ``keep_phi`` adds the
    identifying ones (DICOM). Nothing is decoded whose declared size exceeds ``max_image_mib``
    or (DICOM) whose modality or body part is not among those given (``"*"``: any). Raises
    :class:`InputError` naming the file and the problem.
    """
    max_bytes = round(max_image_mib * budget.MIB)
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    if sniff_format(path) == "dicom":
        return read_dicom(
            path,
            keep_phi=keep_phi,
            frame=frame,
            voi=voi,
            fix_inverted=fix_inverted,
            force=force_dicom,
            max_bytes=max_bytes,
            modalities=modalities,
            body_parts=body_parts,
        )
    return read_raster(path, fix_inverted=fix_inverted, max_bytes=max_bytes)
