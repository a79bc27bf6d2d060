"""Decompression bombs of every transfer syntax and raster format, written small.

Each is a real file of its kind whose header (and, for compressed syntaxes, its codestream's own
frame header) declares a huge image: 30000 x 30000 16-bit pixels is 1.7 GiB decoded. The deflated
one really inflates to hundreds of MiB (streamed out of zeros, so writing it costs no memory).
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import pydicom
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate, get_frame
from pydicom.filewriter import write_file_meta_info
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    SecondaryCaptureImageStorage,
    generate_uid,
)

HUGE = 30000
RASTER = 9000
"""Raster bombs stay under Pillow's own 89 M pixel warning: 9000² 16-bit is 154 MiB decoded,
so it is the reader's budget, not Pillow's, that must refuse them."""


def _pydicom_test_file(name: str) -> Path:
    from pydicom.data import get_testdata_file

    return Path(str(get_testdata_file(name)))


def _image_dataset(rows: int, cols: int, syntax) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.file_meta.TransferSyntaxUID = syntax
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.Modality = "CR"
    ds.Rows, ds.Columns = rows, cols
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, 16, 15
    ds.PixelRepresentation = 0
    return ds


def native_bomb(path: Path, syntax) -> Path:
    """Native pixel data: the header declares 30000², the data is 2 KiB."""
    ds = _image_dataset(HUGE, HUGE, syntax)
    ds.PixelData = bytes(2048)
    ds.save_as(path, enforce_file_format=True, little_endian=None, implicit_vr=None)
    return path


def deflated_bomb(path: Path, rows: int = 12000, cols: int = 12000) -> Path:
    """A Deflated Explicit VR data set of ``rows x cols`` 16-bit zeros: ~0.3 MB on disk that
    inflates to ``2 * rows * cols`` bytes (288 MB by default)."""
    ds = _image_dataset(rows, cols, DeflatedExplicitVRLittleEndian)
    body = io.BytesIO()
    header = Dataset()
    for element in ds:
        header.add(element)
    writer = pydicom.filebase.DicomFileLike(body)
    writer.is_little_endian, writer.is_implicit_VR = True, False
    pydicom.filewriter.write_dataset(writer, header)
    length = rows * cols * 2
    body.write(struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OW", 0, length))
    meta = io.BytesIO()
    meta.write(b"\0" * 128 + b"DICM")
    write_file_meta_info(pydicom.filebase.DicomFileLike(meta), ds.file_meta)
    deflater = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    zeros = bytes(1 << 20)
    with path.open("wb") as fh:
        fh.write(meta.getvalue())
        fh.write(deflater.compress(body.getvalue()))
        for _ in range(length >> 20):
            fh.write(deflater.compress(zeros))
        fh.write(deflater.compress(bytes(length & ((1 << 20) - 1))))
        fh.write(deflater.flush())
    return path


def _patch_codestream(frame: bytes, rows: int, cols: int) -> bytes:
    data = bytearray(frame)
    if data[:2] == b"\xff\xd8":  # JPEG / JPEG-LS: the first SOF marker's height and width
        pos = 2
        while pos + 4 <= len(data):
            marker = data[pos + 1]
            (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
            if marker in (*range(0xC0, 0xC4), *range(0xC5, 0xC8), *range(0xC9, 0xCC), 0xF7):
                data[pos + 5 : pos + 9] = struct.pack(">HH", rows, cols)
                return bytes(data)
            pos += 2 + length
        raise ValueError("no SOF marker")
    siz = data.find(b"\xff\x4f\xff\x51") + 4  # JPEG 2000: SIZ Xsiz / Ysiz, offsets kept
    _, _, _, _, xo, yo = struct.unpack(">HHIIII", data[siz : siz + 20])
    data[siz + 4 : siz + 12] = struct.pack(">II", cols + xo, rows + yo)
    return bytes(data)


def compressed_bomb(source_name: str, path: Path, *, lie: bool = False) -> Path:
    """A pydicom test file of a compressed syntax made to declare 30000²: in its header and its
    codestream (``lie``: the codestream only, the header keeps its real small size)."""
    ds = pydicom.dcmread(_pydicom_test_file(source_name))
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    frame = get_frame(ds.PixelData, 0, number_of_frames=frames)
    syntax = ds.file_meta.TransferSyntaxUID
    if syntax.name != "RLE Lossless":
        frame = _patch_codestream(frame, HUGE, HUGE)
    ds.PixelData = encapsulate([frame])
    ds.NumberOfFrames = 1
    if not lie:
        ds.Rows, ds.Columns = HUGE, HUGE
    ds.Modality = "CR"
    ds.save_as(path)
    return path


def rle_run_bomb(path: Path) -> Path:
    """RLE Lossless whose header is small (64 x 64) but whose single segment's PackBits runs
    expand to 256 MiB: each 2-byte run header repeats one byte 128 times."""
    runs = b"\x81\x00" * ((256 << 20) // 128)
    segment_header = struct.pack("<16I", 1, 64, *([0] * 14))
    ds = _image_dataset(64, 64, pydicom.uid.RLELossless)
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, 8, 7
    ds.PixelData = encapsulate([segment_header + runs])
    ds.save_as(path, enforce_file_format=True)
    return path


def _crc_chunk(kind: bytes, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))
        + kind
        + payload
        + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)
    )


def png_bomb(path: Path) -> Path:
    """A PNG whose IHDR declares 9000² 16-bit grey; the data is one compressed empty row."""
    ihdr = struct.pack(">IIBBBBB", RASTER, RASTER, 16, 0, 0, 0, 0)
    idat = zlib.compress(bytes(1 + 2 * RASTER))
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + _crc_chunk(b"IHDR", ihdr)
        + _crc_chunk(b"IDAT", idat)
        + _crc_chunk(b"IEND", b"")
    )
    return path


def tiff_bomb(path: Path) -> Path:
    """A TIFF whose ImageWidth / ImageLength tags say 9000² 16-bit (one strip of 1 pixel)."""
    buffer = io.BytesIO()
    Image.new("I;16", (1, 1)).save(buffer, format="TIFF")
    data = bytearray(buffer.getvalue())
    (ifd,) = struct.unpack("<I", data[4:8])
    (count,) = struct.unpack("<H", data[ifd : ifd + 2])
    for n in range(count):
        entry = ifd + 2 + 12 * n
        tag, kind = struct.unpack("<HH", data[entry : entry + 4])
        if tag in (256, 257):
            fmt = "<H" if kind == 3 else "<I"
            data[entry + 8 : entry + 8 + struct.calcsize(fmt)] = struct.pack(fmt, RASTER)
    path.write_bytes(bytes(data))
    return path


def jpeg_raster_bomb(path: Path) -> Path:
    """A colour JPEG file whose SOF says 9000² (232 MiB as RGB)."""
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buffer, format="JPEG")
    path.write_bytes(_patch_codestream(buffer.getvalue(), RASTER, RASTER))
    return path


COMPRESSED_SOURCES = {
    "jpeg-baseline": "SC_rgb_jpeg_dcmtk.dcm",
    "jpeg-extended": "JPEG-lossy.dcm",
    "jpeg-lossless": "JPEG-LL.dcm",
    "jpeg-ls": "JPEGLSNearLossless_16.dcm",
    "jpeg2000": "MR_small_jp2klossless.dcm",
    "rle": "MR_small_RLE.dcm",
}
NATIVE_SYNTAXES = {
    "explicit-le": ExplicitVRLittleEndian,
    "implicit-le": ImplicitVRLittleEndian,
    "explicit-be": ExplicitVRBigEndian,
}


def write_all(folder: Path) -> dict[str, Path]:
    """Every bomb, by a name saying what it is."""
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    for name, syntax in NATIVE_SYNTAXES.items():
        out[name] = native_bomb(folder / f"bomb-{name}.dcm", syntax)
    out["deflated"] = deflated_bomb(folder / "bomb-deflated.dcm")
    for name, source in COMPRESSED_SOURCES.items():
        out[name] = compressed_bomb(source, folder / f"bomb-{name}.dcm")
        if name != "rle":
            lie = folder / f"bomb-{name}-lying-header.dcm"
            out[f"{name}-lying-header"] = compressed_bomb(source, lie, lie=True)
    out["rle-runs"] = rle_run_bomb(folder / "bomb-rle-runs.dcm")
    out["png"] = png_bomb(folder / "bomb.png")
    out["tiff"] = tiff_bomb(folder / "bomb.tiff")
    out["jpeg"] = jpeg_raster_bomb(folder / "bomb.jpg")
    return out
