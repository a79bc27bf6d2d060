"""PNG, JPEG and other raster radiographs to :class:`XrayImage` through Pillow.

EXIF orientation is applied (a phone photo of a film is often stored sideways). Palette, RGB,
RGBA, grey+alpha and CMYK images become grey (BT.601 luma); transparent pixels are laid on black,
the colour of air on a radiograph. 8-bit data is scaled by 255; 16-bit data by the white level of
its significant bits (see :func:`~explainmyxray.imaging.intensity.effective_full_scale`). Raster
files are assumed to be shown bright = dense already; a negative is reported by the quality
checks and only corrected when ``fix_inverted`` is ``always``. Nothing of EXIF or PNG text chunks
other than the orientation is reported: they can hold dates, places and names.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..core.case import XrayImage
from ..core.errors import InputError
from . import budget
from .intensity import colour_fraction, effective_full_scale, to_gray
from .layout import analyse_layout
from .phi import MetadataValue

SOURCE_FORMATS = {"PNG": "png", "JPEG": "jpeg", "MPO": "jpeg"}
EXIF_ORIENTATION_TAG = 0x0112
_BYTES_PER_PIXEL = {
    "1": 1,
    "L": 1,
    "P": 1,
    "LA": 2,
    "I;16": 2,
    "I;16B": 2,
    "I;16L": 2,
    "I": 4,
    "F": 4,
}


def _decoded_bytes(image: Image.Image) -> int:
    per_pixel = _BYTES_PER_PIXEL.get(image.mode, max(1, len(image.getbands())))
    return image.size[0] * image.size[1] * per_pixel


def _open(path: Path, max_bytes: int) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(path)
            width, height = image.size
            budget.check_declared(
                path,
                f"the {image.format} header declares {width} × {height} {image.mode} pixels",
                _decoded_bytes(image),
                max_bytes,
            )
            image.load()
    except UnidentifiedImageError as exc:
        raise InputError(
            f"{path}: not a recognised image (expected DICOM, PNG or JPEG; "
            "Pillow cannot identify this file)"
        ) from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InputError(f"{path}: the image is implausibly large: {exc}") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise InputError(f"{path}: the image file is damaged or truncated: {exc}") from exc
    return image


def _to_array(image: Image.Image, notes: list[str]) -> tuple[np.ndarray, float, float]:
    """Grey float32 array in the file's units, its white level, and the share of colour pixels."""
    mode = image.mode
    colour = 0.0
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
        notes.append("palette image converted to grey")
        mode = image.mode
    if mode in ("1", "L", "I;16", "I;16B", "I;16L", "I", "F"):
        if mode == "1":
            image = image.convert("L")
        arr = np.asarray(image)
        if arr.dtype.kind in "iu" and arr.min() < 0:
            arr = arr - arr.min()
        return arr.astype(np.float32), effective_full_scale(arr), colour
    if mode == "LA":
        arr = np.asarray(image, dtype=np.float32)
        notes.append("grey + alpha image laid on black")
        return arr[..., 0] * (arr[..., 1] / 255.0), 255.0, colour
    if mode not in ("RGB", "RGBA"):
        image = image.convert("RGB")
        notes.append(f"{mode} image converted to RGB")
    rgb = np.asarray(image)
    colour = colour_fraction(rgb, 255.0)
    gray = to_gray(rgb)
    if rgb.shape[-1] == 4:
        gray = gray * (rgb[..., 3].astype(np.float32) / 255.0)
        notes.append("RGBA image laid on black and converted to grey")
    else:
        notes.append("RGB image converted to grey (BT.601 luma)")
    return gray, 255.0, colour


def read_raster(
    path: Path,
    *,
    fix_inverted: str = "dicom",
    max_bytes: int = round(budget.DEFAULT_MAX_IMAGE_MIB * budget.MIB),
) -> tuple[XrayImage, dict[str, MetadataValue]]:
    """Decode a PNG / JPEG (or any single-image format Pillow reads) radiograph whose declared
    decoded size fits ``max_bytes`` (checked from the header, before decoding)."""
    image = _open(path, max_bytes)
    notes: list[str] = []
    fmt = image.format or "unknown"
    metadata: dict[str, MetadataValue] = {"format": fmt.lower(), "mode": image.mode}
    frames = int(getattr(image, "n_frames", 1) or 1)
    if frames > 1:
        notes.append(f"multi-page {fmt} ({frames} pages): used the first")
        metadata["frames"] = frames
    orientation = image.getexif().get(EXIF_ORIENTATION_TAG)
    if isinstance(orientation, int) and orientation != 1:
        transposed = ImageOps.exif_transpose(image)
        if transposed is not None:
            image = transposed
        metadata["exif_orientation"] = orientation
        notes.append(f"EXIF orientation {orientation} applied")

    try:
        values, white, colour = _to_array(image, notes)
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot convert the {fmt} {image.mode} image: {exc}") from exc
    if values.ndim != 2 or values.size == 0:
        raise InputError(f"{path}: the {fmt} image has no 2-D pixel data")
    bits = 8 if white <= 255 else round(float(np.log2(white + 1)))
    metadata.update(
        {"bits_stored": bits, "rows": int(values.shape[0]), "columns": int(values.shape[1])}
    )
    if colour > 0:
        metadata["colour_fraction"] = round(colour, 4)
    pixels = np.clip(values / np.float32(white), 0.0, 1.0).astype(np.float32)

    metadata["polarity"] = "file"
    if fix_inverted == "always":
        layout = analyse_layout(pixels)
        if layout.confidently_inverted:
            pixels = 1.0 - pixels
            metadata["polarity"] = "corrected"
            metadata["polarity_profile"] = layout.profile
            notes.append(
                "the pixels read as a negative frontal chest (lung/mediastinum profile "
                f"correlation {layout.profile:+.2f}); polarity flipped"
            )

    pixels = np.ascontiguousarray(pixels)
    xray = XrayImage(
        pixels=pixels,
        width=int(pixels.shape[1]),
        height=int(pixels.shape[0]),
        source_format=SOURCE_FORMATS.get(fmt, "other"),  # type: ignore[arg-type]
        bits_stored=bits,
        notes=notes,
    )
    return xray, metadata
