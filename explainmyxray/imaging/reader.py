"""One entry point for every input file: :func:`read_xray` picks the decoder by content."""

from __future__ import annotations

from pathlib import Path

from ..core.case import XrayImage
from ..core.errors import InputError
from .dicom import FixInverted, VoiMode, read_dicom
from .phi import MetadataValue
from .raster import read_raster

DICOM_SUFFIXES = frozenset({".dcm", ".dicom", ".dic", ""})
_RASTER_MAGIC = (
    b"\x89PNG\r\n\x1a\n",
    b"\xff\xd8\xff",
    b"II*\x00",
    b"MM\x00*",
    b"BM",
    b"GIF8",
)


def sniff_format(path: Path) -> str:
    """``"dicom"`` or ``"raster"``, from the file's first bytes (the suffix only breaks ties)."""
    try:
        with path.open("rb") as fh:
            head = fh.read(132)
    except OSError as exc:
        raise InputError(f"{path}: cannot read the file: {exc}") from exc
    if not head:
        raise InputError(f"{path}: the file is empty")
    if len(head) >= 132 and head[128:132] == b"DICM":
        return "dicom"
    if head.startswith(_RASTER_MAGIC):
        return "raster"
    return "dicom" if path.suffix.lower() in DICOM_SUFFIXES else "raster"


def read_xray(
    path: Path,
    *,
    keep_phi: bool = False,
    frame: int = 0,
    voi: VoiMode = "auto",
    fix_inverted: FixInverted = "dicom",
    force_dicom: bool = False,
) -> tuple[XrayImage, dict[str, MetadataValue]]:
    """Decode a DICOM, PNG or JPEG radiograph to grey ``[0, 1]``, bright = dense, full size.

    Returns the image and its metadata: technical attributes only, unless ``keep_phi`` adds the
    identifying ones (DICOM). Raises :class:`InputError` naming the file and the problem.
    """
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
        )
    return read_raster(path, fix_inverted=fix_inverted)
