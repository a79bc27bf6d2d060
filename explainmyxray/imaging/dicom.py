"""DICOM radiographs to :class:`XrayImage`: decode, modality LUT, VOI, photometric polarity.

The grey-level chain follows PS3.3 C.11: stored values → modality LUT (rescale slope/intercept
or a LUT) → VOI (the first sensible window, or a VOI LUT, else the robust 0.5–99.5 percentile
range) → ``[0, 1]`` → inverted for MONOCHROME1 (or a MONOCHROME2 image whose Presentation LUT
Shape is INVERSE; for DX, MONOCHROME1 *requires* INVERSE, so the two together invert once).

Headers lie about polarity: a MONOCHROME1 label on pixels that were already inverted is a known
export bug. After the chain, :func:`explainmyxray.imaging.layout.analyse_layout` checks whether the
result looks like a frontal chest shown bright = dense; if it looks like a confident negative, the
polarity is flipped back and the correction is noted (see ``fix_inverted``).
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Collection, Iterator
from pathlib import Path
from typing import Literal

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.encaps import get_frame
from pydicom.errors import InvalidDicomError
from pydicom.pixels import apply_color_lut, apply_modality_lut, apply_voi, get_decoder, pixel_array
from pydicom.uid import (
    UID,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    RLELossless,
)

from ..core.case import XrayImage
from ..core.errors import InputError
from . import budget, header
from .intensity import (
    apply_window,
    colour_fraction,
    dynamic_range,
    effective_full_scale,
    rescale,
    robust_range,
    sample,
    saturated_fraction,
    to_gray,
)
from .layout import analyse_layout
from .phi import MetadataValue, dicom_metadata
from .subject import ANY, implied_modality, is_chest, modality_allowed

VoiMode = Literal["auto", "window", "percentiles"]
FixInverted = Literal["never", "dicom", "always"]

MIN_WINDOW_CONTRAST = 0.1
"""A header window whose output spans less than this (1st-99th percentile) flattens the image."""
MAX_WINDOW_SATURATION = 0.7
"""A header window that clips more than this share of pixels to black or white is set aside."""

COLOUR_PHOTOMETRICS = frozenset(
    {"RGB", "YBR_FULL", "YBR_FULL_422", "YBR_ICT", "YBR_RCT", "YBR_PARTIAL_420", "PALETTE COLOR"}
)
REQUIRED = ("Rows", "Columns", "BitsAllocated", "PhotometricInterpretation")


@contextlib.contextmanager
def _pydicom_log() -> Iterator[list[str]]:
    """Collect what pydicom logs (it logs decoder tracebacks at ERROR) instead of printing it;
    the messages are folded into the one-line error. ``--verbose`` shows them as well."""
    logger = logging.getLogger("pydicom")
    records: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record.getMessage())

    handler = Collect(level=logging.WARNING)
    propagate = logger.propagate
    logger.addHandler(handler)
    logger.propagate = logging.getLogger().isEnabledFor(logging.DEBUG)
    try:
        yield records
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def _one_line(text: object) -> str:
    parts = [part.strip() for part in str(text).splitlines() if part.strip()]
    return " ".join(p if p.endswith(":") else p + ";" for p in parts).rstrip(";")


def _read_dataset(path: Path, force: bool, max_bytes: int) -> tuple[Dataset, list[str]]:
    """The data set and what pydicom warned about while reading it (truncation, bad values).

    The file's size, and a deflated data set's inflated size, are checked against the image
    budget first: reading holds the whole data set in memory.
    """
    try:
        budget.check_file_size(path, max_bytes)
        offset = budget.deflated_dataset_offset(path)
    except OSError as exc:
        raise InputError(f"{path}: cannot read the file: {exc}") from exc
    if offset is not None:
        budget.check_inflated_size(path, offset, max_bytes)
    try:
        with _pydicom_log(), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            ds = pydicom.dcmread(path, force=force)
    except InvalidDicomError as exc:
        raise InputError(
            f"{path}: not a DICOM Part 10 file: the 128-byte preamble and 'DICM' prefix of the "
            "file meta information are missing (set the preprocess option force_dicom: true "
            f"to read a bare data set anyway) [{exc}]"
        ) from exc
    except OSError as exc:
        raise InputError(f"{path}: cannot read the file: {exc}") from exc
    except Exception as exc:  # pydicom raises many types on a damaged header
        raise InputError(
            f"{path}: the DICOM header is damaged ({type(exc).__name__}: {_one_line(exc)})"
        ) from exc
    read_warnings = [str(w.message) for w in caught]
    meta = getattr(ds, "file_meta", None)
    if meta is None or "TransferSyntaxUID" not in meta:
        if not force:
            raise InputError(
                f"{path}: the DICOM file meta information has no Transfer Syntax UID (0002,0010), "
                "so the pixel data cannot be interpreted"
            )
        implicit, little = ds.original_encoding
        ds.file_meta = meta if meta is not None else pydicom.dataset.FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = (
            ImplicitVRLittleEndian
            if implicit
            else (ExplicitVRLittleEndian if little else ExplicitVRBigEndian)
        )
    return ds, read_warnings


def _check_image_module(ds: Dataset, path: Path, read_warnings: list[str]) -> None:
    if not any(k in ds for k in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
        ended = [w for w in read_warnings if "end of file" in w.lower() or "truncat" in w.lower()]
        if ended:
            raise InputError(
                f"{path}: the file is truncated: the pixel data ends early ({ended[0]})"
            )
        sop_name = str(getattr(ds.get("SOPClassUID"), "name", "") or "")
        if "image" in sop_name.lower():
            raise InputError(
                f"{path}: the file is a {sop_name} object without pixel data: truncated or damaged"
            )
        kind = f" (a {sop_name})" if sop_name else ""
        raise InputError(f"{path}: the DICOM file has no pixel data{kind}; it is not an image")
    missing = [k for k in REQUIRED if k not in ds or ds[k].value in (None, "")]
    if missing:
        raise InputError(f"{path}: the DICOM image lacks required attributes: {', '.join(missing)}")


def modality_of(ds: Dataset) -> str:
    """The Modality attribute, else the modality the SOP class implies, else ``""``."""
    modality = (header.text_value(ds, "Modality") or "").strip().upper()
    if modality:
        return modality
    return implied_modality(str(getattr(ds.get("SOPClassUID"), "name", "") or ""))


def check_subject(
    ds: Dataset, path: Path, modalities: Collection[str], body_parts: Collection[str]
) -> None:
    """Refuse, before decoding, an image that is not projection radiography of the chest."""
    modality = modality_of(ds)
    if modality and not modality_allowed(modality, modalities):
        sop_name = str(getattr(ds.get("SOPClassUID"), "name", "") or "")
        what = f" ({sop_name})" if sop_name else ""
        raise InputError(
            f"{path}: modality {modality}{what} is not chest radiography; this pipeline reads "
            f"{', '.join(modalities)} (add {modality} to the preprocess option modalities "
            "to allow it)"
        )
    part = (header.text_value(ds, "BodyPartExamined") or "").strip().upper()
    if part and not is_chest(part, body_parts):
        raise InputError(
            f"{path}: body part {part} is not the chest (the preprocess option body_parts "
            f"lists {', '.join(body_parts)})"
        )


def _bytes_per_sample(ds: Dataset) -> int:
    return max(1, (header.int_value(ds, "BitsAllocated") or 8) + 7) // 8


def check_budget(ds: Dataset, path: Path, index: int | None, max_bytes: int) -> None:
    """Refuse an image whose declared decoded size, or its compressed frame's, is over budget."""
    rows, cols = header.int_value(ds, "Rows") or 0, header.int_value(ds, "Columns") or 0
    frames = header.int_frames(ds)
    samples = header.int_value(ds, "SamplesPerPixel") or 1
    nbytes = _bytes_per_sample(ds)
    declared = rows * cols * frames * samples * nbytes
    budget.check_declared(
        path,
        f"the header declares {rows} × {cols} pixels × {frames} frame(s) × {samples} "
        f"sample(s) × {nbytes} byte(s)",
        declared,
        max_bytes,
    )
    syntax = ds.file_meta.TransferSyntaxUID
    if not syntax.is_encapsulated or "PixelData" not in ds:
        return
    try:
        frame = get_frame(ds.PixelData, index or 0, number_of_frames=frames)
    except Exception:  # a damaged fragment table; the decoder reports it
        return
    if syntax == RLELossless:
        expected = rows * cols * samples * nbytes
        cap = min(max_bytes, 2 * expected + 1024)
        if budget.rle_decoded_bytes(frame, stop_after=cap) > cap:
            raise InputError(
                f"{path}: the RLE frame's runs decode to more than {budget.mib(cap)}, beyond the "
                f"header's {rows} × {cols} × {samples} × {nbytes} bytes and the "
                f"{budget.mib(max_bytes)} limit; not decoded"
            )
        return
    shape = budget.codestream_shape(frame)
    if shape is None:
        return
    c_rows, c_cols, components = shape
    budget.check_declared(
        path,
        f"the compressed frame declares {c_rows} × {c_cols} pixels × {components} "
        f"component(s) × {nbytes} byte(s)",
        c_rows * c_cols * components * nbytes,
        max_bytes,
    )
    if c_rows * c_cols * components > rows * cols * samples:
        raise InputError(
            f"{path}: the compressed frame is {c_rows} × {c_cols} × {components} but the header "
            f"declares {rows} × {cols} × {samples}; not decoded"
        )


def _decoder_hint(syntax: UID) -> str:
    """How to get a decoder, only when none that handles ``syntax`` is installed."""
    try:
        decoder = get_decoder(syntax)
    except NotImplementedError:
        return f" (no decoder exists for {syntax.name} in pydicom)"
    if decoder.is_available:
        plugins = ", ".join(decoder.available_plugins)
        return f" (the installed decoders, {plugins}, all refused it: damaged or unsupported data)"
    return (
        " (no decoder for it is installed: pip install 'explainmyxray[dicom]' installs pylibjpeg "
        "with its JPEG, JPEG-LS and JPEG 2000 plugins)"
    )


def _decode(ds: Dataset, path: Path, index: int | None) -> np.ndarray:
    syntax = ds.file_meta.TransferSyntaxUID
    try:
        with _pydicom_log() as logged, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            arr = pixel_array(ds, index=index)
    except Exception as exc:  # decoders raise ValueError, RuntimeError, NotImplementedError...
        hint = _decoder_hint(syntax) if syntax.is_compressed else ""
        detail = _one_line(exc) or (logged[-1] if logged else type(exc).__name__)
        raise InputError(
            f"{path}: cannot decode the pixel data ({syntax.name}): {detail}{hint}"
        ) from exc
    if arr.size == 0:
        raise InputError(f"{path}: the pixel data decodes to an empty array")
    return arr


def _voi(
    values: np.ndarray, ds: Dataset, mode: VoiMode, notes: list[str]
) -> tuple[np.ndarray, dict[str, MetadataValue]]:
    """Map modality values to ``[0, 1]`` as the header intends, unless that is absurd."""
    if mode != "percentiles" and ds.get("VOILUTSequence"):
        item = ds.VOILUTSequence[0]
        lut = np.asarray(item.LUTData, dtype=np.float64).reshape(-1)
        # a VOI LUT is indexed by integer modality values
        out = apply_voi(np.rint(values).astype(np.int32), ds, index=0).astype(np.float32)
        result = rescale(out, float(lut.min()), float(lut.max()))
        if mode == "window" or _window_is_sane(sample(result)):
            return result, {"voi": "voi_lut"}
        notes.append("the header's VOI LUT flattens or clips most of the image; ignored")

    pairs, pair_notes = header.windows(ds)
    notes.extend(pair_notes)
    function = header.voi_function(ds)
    if mode != "percentiles" and pairs:
        probe = sample(values)
        for number, (center, width) in enumerate(pairs):
            if mode == "window" or _window_is_sane(apply_window(probe, center, width, function)):
                if number:
                    notes.append(f"used window {number + 1} of {len(pairs)}: the first is absurd")
                elif len(pairs) > 1:
                    notes.append(f"the header holds {len(pairs)} windows; used the first")
                return apply_window(values, center, width, function), {
                    "voi": "window",
                    "window_center": center,
                    "window_width": width,
                    "voi_function": function,
                }
        described = ", ".join(f"{c:g}/{w:g}" for c, w in pairs)
        notes.append(
            f"header window(s) {described} flatten or clip most of the image; "
            "used the robust 0.5-99.5 percentile range instead"
        )
    lo, hi = robust_range(values)
    return rescale(values, lo, hi), {"voi": "percentiles", "window_low": lo, "window_high": hi}


def _window_is_sane(windowed: np.ndarray) -> bool:
    return (
        dynamic_range(windowed) >= MIN_WINDOW_CONTRAST
        and saturated_fraction(windowed) <= MAX_WINDOW_SATURATION
    )


def _colour_to_gray(arr: np.ndarray, ds: Dataset, photometric: str) -> tuple[np.ndarray, float]:
    """Grey ``[0, 1]`` and the share of coloured pixels (pydicom has already made YBR into RGB)."""
    if photometric == "PALETTE COLOR":
        arr = apply_color_lut(arr, ds)
    full_scale = effective_full_scale(arr)
    gray = np.clip(to_gray(arr) / np.float32(full_scale), 0.0, 1.0).astype(np.float32)
    return gray, colour_fraction(arr, full_scale)


def read_dicom(
    path: Path,
    *,
    keep_phi: bool = False,
    frame: int = 0,
    voi: VoiMode = "auto",
    fix_inverted: FixInverted = "dicom",
    force: bool = False,
    max_bytes: int = round(budget.DEFAULT_MAX_IMAGE_MIB * budget.MIB),
    modalities: Collection[str] = (ANY,),
    body_parts: Collection[str] = (ANY,),
) -> tuple[XrayImage, dict[str, MetadataValue]]:
    """Decode one DICOM radiograph (frame ``frame`` of a multi-frame object).

    Before anything is decoded, the image must be one of ``modalities`` and ``body_parts``
    (``"*"`` allows any) and its declared decoded size must fit ``max_bytes``. Raises
    :class:`InputError` naming the file and what is wrong with it.
    """
    ds, read_warnings = _read_dataset(path, force, max_bytes)
    _check_image_module(ds, path, read_warnings)
    check_subject(ds, path, modalities, body_parts)
    notes: list[str] = []
    if not ds.file_meta.get("MediaStorageSOPClassUID") and force:
        notes.append("read without DICOM file meta information (force_dicom)")

    frames = header.int_frames(ds)
    if frame >= frames:
        raise InputError(f"{path}: frame {frame + 1} was asked for but the image has {frames}")
    if frames > 1:
        notes.append(f"multi-frame DICOM ({frames} frames): used frame {frame + 1}")
    check_budget(ds, path, frame, max_bytes)
    arr = _decode(ds, path, frame if frames > 1 else None)
    if arr.ndim == 3 and arr.shape[-1] not in (3, 4) and frames == 1:
        arr = arr[0]

    photometric = str(ds.PhotometricInterpretation).strip().upper()
    metadata = dicom_metadata(ds, keep_phi=keep_phi)
    if photometric in COLOUR_PHOTOMETRICS or arr.ndim == 3:
        pixels, colour = _colour_to_gray(arr, ds, photometric)
        notes.append(f"{photometric} colour image converted to grey (BT.601 luma)")
        metadata["voi"] = "none (colour)"
        if colour > 0:
            metadata["colour_fraction"] = round(colour, 4)
    else:
        values = apply_modality_lut(arr, ds)
        if values.dtype.kind != "f":
            values = values.astype(np.float32)
        pixels, voi_info = _voi(values, ds, voi, notes)
        metadata.update(voi_info)
        shape = (header.text_value(ds, "PresentationLUTShape") or "").upper()
        invert = photometric == "MONOCHROME1" or (
            photometric == "MONOCHROME2" and shape == "INVERSE"
        )
        if invert:
            pixels = 1.0 - pixels
            notes.append(
                "MONOCHROME1: grey levels inverted to bright = dense"
                if photometric == "MONOCHROME1"
                else "Presentation LUT Shape INVERSE: grey levels inverted"
            )

    metadata["polarity"] = "header"
    if fix_inverted != "never":
        layout = analyse_layout(pixels)
        if layout.confidently_inverted:
            pixels = 1.0 - pixels
            metadata["polarity"] = "corrected"
            metadata["polarity_profile"] = layout.profile
            notes.append(
                f"the header says {photometric} but the pixels read as a negative frontal chest "
                f"(lung/mediastinum profile correlation {layout.profile:+.2f}); polarity flipped"
            )

    spacing, spacing_source, spacing_notes = header.pixel_spacing(ds)
    notes.extend(spacing_notes)
    if spacing is not None:
        metadata["pixel_spacing_row_mm"], metadata["pixel_spacing_col_mm"] = spacing
        metadata["pixel_spacing_source"] = spacing_source
    view, view_source = header.view_position(ds)
    if view is not None:
        metadata["view_position"] = view
        metadata["view_position_source"] = view_source
    evidence = header.non_human_evidence(ds)
    if evidence is not None:
        metadata["non_human_evidence"] = evidence

    pixels = np.ascontiguousarray(pixels, dtype=np.float32)
    image = XrayImage(
        pixels=pixels,
        width=int(pixels.shape[1]),
        height=int(pixels.shape[0]),
        source_format="dicom",
        bits_stored=header.int_value(ds, "BitsStored"),
        pixel_spacing_mm=spacing,
        view_position=view,
        photometric=photometric,
        notes=notes,
    )
    return image, metadata
