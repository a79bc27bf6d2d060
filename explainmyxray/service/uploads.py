"""Uploaded files: what they are (from their bytes, never their name) and where they are kept.

A stored input is named by its position in the job and its sniffed type (``inputs/000.dcm``), so
no client file name (which may carry a patient's name) reaches a case id, a report or a log.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ..core.results import atomic_write_bytes

SUFFIXES = {"dicom": ".dcm", "png": ".png", "jpeg": ".jpg"}
ACCEPTED = "DICOM (Part 10, 'DICM' at byte 128), PNG or JPEG"
_CHUNK = 1 << 20


class UnsupportedMedia(ValueError):
    """The bytes are not an accepted image type."""


def sniff(head: bytes) -> str | None:
    """``dicom``, ``png`` or ``jpeg`` from a file's first 132 bytes; None for anything else."""
    if len(head) >= 132 and head[128:132] == b"DICM":
        return "dicom"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    return None


@dataclass(frozen=True)
class Upload:
    """One uploaded file, checked, before it is stored."""

    index: int
    media: str
    sha256: str
    size: int
    stream: BinaryIO


def inspect(index: int, stream: BinaryIO, name: str | None) -> Upload:
    """Sniff and hash one upload; :class:`UnsupportedMedia` names the file and what was seen."""
    stream.seek(0)
    head = stream.read(132)
    media = sniff(head)
    if media is None:
        what = "is empty" if not head else f"starts with {head[:8]!r}"
        label = f"file {index + 1}" + (f" ({name})" if name else "")
        raise UnsupportedMedia(
            f"{label} is not an accepted image: it {what}; this service accepts {ACCEPTED}, "
            "recognised from the content, not the file name"
        )
    digest = hashlib.sha256(head)
    size = len(head)
    while chunk := stream.read(_CHUNK):
        digest.update(chunk)
        size += len(chunk)
    stream.seek(0)
    return Upload(index=index, media=media, sha256=digest.hexdigest(), size=size, stream=stream)


def request_hash(uploads: list[Upload], *parts: str | None) -> str:
    """What makes two submissions the same request: the files' contents and the job's fields."""
    digest = hashlib.sha256()
    for upload in uploads:
        digest.update(upload.sha256.encode())
    for part in parts:
        digest.update(b"\0" + (part or "").encode())
    return digest.hexdigest()


def store(upload: Upload, folder: Path) -> Path:
    """Write the upload to ``folder/NNN.<type>`` atomically and return the path (its size is
    bounded by the request limit, so it is read whole)."""
    path = folder / f"{upload.index:03d}{SUFFIXES[upload.media]}"
    upload.stream.seek(0)
    atomic_write_bytes(path, upload.stream.read())
    return path
