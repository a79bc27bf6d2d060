"""Memory budgets checked before anything is decoded, so one hostile file cannot exhaust memory.

A radiograph's decoded size is known from its header before a decoder runs: DICOM Rows × Columns
× Number of Frames × Samples per Pixel × bytes per sample, a compressed frame's own codestream
header (JPEG / JPEG-LS SOF, JPEG 2000 SIZ), an RLE frame's run headers, a raster file's size and
mode. Each is checked against ``max_bytes`` and the file is refused with a message giving the
numbers. The deflate compression of a DICOM data set itself is inflated in bounded chunks first.
"""

from __future__ import annotations

import itertools
import struct
import zlib
from pathlib import Path

from ..core.errors import InputError

MIB = 1 << 20
DEFAULT_MAX_IMAGE_MIB = 128.0
"""Default decoded-size limit: 8192 × 8192 16-bit pixels, four times a large chest detector."""
HEADER_ALLOWANCE = 64 * MIB
"""What a DICOM file may hold beyond its pixel data (headers, overlays, private data)."""
_INFLATE_CHUNK = 1 << 20
DEFLATED_SYNTAX = "1.2.840.10008.1.2.1.99"
_META_READ = 1 << 16
_LONG_VRS = frozenset(b"OB OD OF OL OV OW SQ SV UC UN UR UT UV".split())
_JPEG_SOF = frozenset({*range(0xC0, 0xD0)} - {0xC4, 0xC8, 0xCC}) | {0xF7}  # SOF0-15, JPEG-LS


def mib(n: float) -> str:
    return f"{n / MIB:,.1f} MiB" if n >= MIB else f"{int(n):,} bytes"


def option_hint() -> str:
    return "raise the preprocess option max_image_mib to allow it"


def check_file_size(path: Path, max_bytes: int) -> None:
    """A file larger than any allowed image (plus headers) is refused before it is read."""
    size = path.stat().st_size
    if size > max_bytes + HEADER_ALLOWANCE:
        raise InputError(
            f"{path}: the file is {mib(size)}, more than the {mib(max_bytes)} image limit "
            f"allows; {option_hint()}"
        )


def check_declared(path: Path, what: str, declared: int, max_bytes: int) -> None:
    if declared > max_bytes:
        raise InputError(
            f"{path}: {what} = {mib(declared)} decoded, over the {mib(max_bytes)} limit; "
            f"not decoded ({option_hint()})"
        )


def deflated_dataset_offset(path: Path) -> int | None:
    """Where the data set starts if the file's transfer syntax is Deflated Explicit VR Little
    Endian, else ``None`` (read from the Part 10 file meta group, explicit VR little endian)."""
    with path.open("rb") as fh:
        data = fh.read(_META_READ)
    if data[128:132] != b"DICM":
        return None
    pos, syntax = 132, b""
    while pos + 8 <= len(data):
        group, element = struct.unpack("<HH", data[pos : pos + 4])
        if group != 0x0002:
            break
        vr = data[pos + 4 : pos + 6]
        if vr in _LONG_VRS:
            (length,) = struct.unpack("<I", data[pos + 8 : pos + 12])
            start = pos + 12
        else:
            (length,) = struct.unpack("<H", data[pos + 6 : pos + 8])
            start = pos + 8
        if element == 0x0010:
            syntax = data[start : start + length]
        pos = start + length
    return pos if syntax.rstrip(b"\0 ").decode("ascii", "replace") == DEFLATED_SYNTAX else None


def check_inflated_size(path: Path, offset: int, max_bytes: int) -> None:
    """Inflate a Deflated Explicit VR data set from ``offset`` in chunks; refuse it if it grows
    past the limit (a 1 MB file can inflate to gigabytes)."""
    limit = max_bytes + HEADER_ALLOWANCE
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    total = 0
    try:
        with path.open("rb") as fh:
            fh.seek(offset)
            while chunk := fh.read(_INFLATE_CHUNK):
                data = inflater.decompress(chunk, _INFLATE_CHUNK)
                total += len(data)
                while inflater.unconsumed_tail and total <= limit:
                    data = inflater.decompress(inflater.unconsumed_tail, _INFLATE_CHUNK)
                    total += len(data)
                if total > limit:
                    raise InputError(
                        f"{path}: the deflated data set inflates to more than {mib(limit)} "
                        f"(the {mib(max_bytes)} image limit plus headers); not read "
                        f"({option_hint()})"
                    )
                if inflater.eof:
                    return
    except zlib.error as exc:
        raise InputError(f"{path}: the deflated data set is damaged: {exc}") from exc


def codestream_shape(frame: bytes) -> tuple[int, int, int] | None:
    """(rows, columns, components) a JPEG, JPEG-LS or JPEG 2000 codestream declares, or None."""
    if frame[:2] == b"\xff\xd8":
        return _jpeg_shape(frame)
    start = frame.find(b"\xff\x4f\xff\x51", 0, 4096)  # J2K SOC + SIZ, maybe inside JP2 boxes
    if start >= 0:
        return _j2k_shape(frame, start + 4)
    return None


def _jpeg_shape(data: bytes) -> tuple[int, int, int] | None:
    pos = 2
    end = len(data)
    while pos + 4 <= end:
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # markers without a length
            pos += 2
            continue
        (length,) = struct.unpack(">H", data[pos + 2 : pos + 4])
        if marker in _JPEG_SOF:
            if pos + 10 > end:
                return None
            rows, cols = struct.unpack(">HH", data[pos + 5 : pos + 9])
            return rows, cols, data[pos + 9]
        if marker == 0xDA:  # start of scan before any frame header
            return None
        pos += 2 + length
    return None


def _j2k_shape(data: bytes, siz: int) -> tuple[int, int, int] | None:
    # Lsiz Rsiz Xsiz Ysiz XOsiz YOsiz XTsiz YTsiz XTOsiz YTOsiz Csiz
    if siz + 38 > len(data):
        return None
    _, _, xsiz, ysiz, xo, yo = struct.unpack(">HHIIII", data[siz : siz + 20])
    (components,) = struct.unpack(">H", data[siz + 36 : siz + 38])
    return max(0, ysiz - yo), max(0, xsiz - xo), components


def rle_decoded_bytes(frame: bytes, stop_after: int) -> int:
    """How many bytes an RLE Lossless frame decodes to (counting stops past ``stop_after``).

    Counts the PackBits runs of each segment without expanding them: a run header of 2 bytes
    can stand for 128 output bytes, so the compressed size says little.
    """
    if len(frame) < 64:
        return 0
    count = struct.unpack("<I", frame[:4])[0]
    offsets = list(struct.unpack("<15I", frame[4:64]))[: min(count, 15)]
    bounds = [*offsets, len(frame)]
    total = 0
    for start, end in itertools.pairwise(bounds):
        pos = start
        end = min(end, len(frame))
        while pos < end:
            header = frame[pos]
            if header > 128:
                total += 257 - header
                pos += 2
            elif header < 128:
                total += header + 1
                pos += header + 2
            else:
                pos += 1
            if total > stop_after:
                return total
    return total
