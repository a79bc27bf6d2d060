"""Turning the user's input arguments (files, folders, globs) into the list of images to run.

Images are recognised by their content, not their name: the DICOM Part 10 preamble (``DICM`` at
byte 128), a bare DICOM data set that starts with a plausible group 0002/0008 element, or the
PNG / JPEG / TIFF magic numbers. Storage SCPs name files by UID (``CR.1.2.392.…946029``), so the
last dotted part of a name is never taken for an extension.

Each input is identified by the SHA-256 of its bytes: the same file reached through another path,
a link or a copy is one case, and without ``--keep-phi`` the case id is derived from that hash
alone, never from the path (folder and file names of PACS exports hold patient ids and names).
"""

from __future__ import annotations

import glob
import hashlib
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from .errors import UsageError

IMAGE_SUFFIXES = frozenset({".dcm", ".dicom", ".dic", ".png", ".jpg", ".jpeg", ".tif", ".tiff"})
"""Suffixes that are an image's extension (used to strip one for a sidecar or a key)."""

RASTER_MAGIC = (
    b"\x89PNG\r\n\x1a\n",  # PNG
    b"\xff\xd8\xff",  # JPEG (JFIF, EXIF, raw)
    b"II*\x00",  # TIFF, little endian
    b"MM\x00*",  # TIFF, big endian
    b"II+\x00",  # BigTIFF
    b"MM\x00+",
)
_DICOM_VRS = frozenset(
    b"AE AS AT CS DA DS DT FD FL IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL UN "
    b"UR US UT UV".split()
)
_HEAD_BYTES = 132
_CASE_HASH_CHARS = 16
_HASH_CHUNK = 1 << 20

Format = Literal["dicom", "raster"]


def _head(path: Path) -> bytes:
    with path.open("rb") as fh:
        return fh.read(_HEAD_BYTES)


def _bare_dicom(head: bytes) -> bool:
    """Whether ``head`` starts like a DICOM data set without preamble (little endian).

    A data set written without the Part 10 header begins with the file meta group (0002) or the
    identifying group (0008), as explicit VR (two upper-case VR letters) or implicit VR (a 32-bit
    length that fits the element it starts).
    """
    if len(head) < 8:
        return False
    group, element = struct.unpack("<HH", head[:4])
    if group not in (0x0002, 0x0008) or element > 0x0020:
        return False
    if head[4:6] in _DICOM_VRS:
        return True
    (length,) = struct.unpack("<I", head[4:8])
    return 0 < length <= 1024


def detect_format(path: Path) -> Format | None:
    """``"dicom"``, ``"raster"`` or ``None`` (not an image), from the first bytes of the file."""
    try:
        head = _head(path)
    except OSError:
        return None
    if len(head) >= _HEAD_BYTES and head[128:132] == b"DICM":
        return "dicom"
    if head.startswith(RASTER_MAGIC):
        return "raster"
    if _bare_dicom(head):
        return "dicom"
    return None


def _is_input(path: Path) -> bool:
    return not path.name.startswith(".") and detect_format(path) is not None


def expand_inputs(args: Iterable[str | Path]) -> list[Path]:
    """Files as given; folders searched recursively for images; globs expanded.

    Folder and glob members are kept when their content is an image, whatever their name; a file
    named explicitly is always kept (reading it reports what is wrong). The same file reached
    through two paths (``in/x.png``, ``in/../in/x.png``, a symlink) is listed once, under the
    first path given. An argument that matches nothing is a usage error naming it.
    """
    found: dict[Path, Path] = {}

    def add(path: Path) -> None:
        found.setdefault(path.resolve(), path)

    for arg in args:
        text = str(arg)
        path = Path(text).expanduser()
        if path.is_file():
            add(path)
        elif path.is_dir():
            for p in sorted(path.rglob("*")):
                if p.is_file() and _is_input(p):
                    add(p)
        elif glob.has_magic(text):
            matches = [Path(m) for m in sorted(glob.glob(text, recursive=True))]
            files = [m for m in matches if m.is_file() and _is_input(m)]
            if not files:
                raise UsageError(f"{text}: the pattern matches no image files")
            for f in files:
                add(f)
        else:
            raise UsageError(f"{text}: no such file or folder")
    return list(found.values())


def content_digest(path: Path) -> str:
    """SHA-256 of the file's bytes (read in chunks: memory stays flat for any size)."""
    digest = hashlib.sha256()
    try:
        with path.open("rb") as fh:
            while chunk := fh.read(_HASH_CHUNK):
                digest.update(chunk)
        return digest.hexdigest()
    except OSError:
        # unreadable now: an id that still names no path; reading it reports the error
        return hashlib.sha256(b"unreadable\0" + str(path.resolve()).encode()).hexdigest()


def readable_stem(path: Path) -> str:
    """The file name without an image suffix, made file-system safe (``--keep-phi`` ids)."""
    stem = path.stem if path.suffix.lower() in IMAGE_SUFFIXES else path.name
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in stem)[:60]


def case_id(path: Path, *, keep_phi: bool = False, digest: str | None = None) -> str:
    """A stable, file-system-safe id from the file's content hash.

    Without ``keep_phi`` it is ``case-<hash>`` and carries nothing of the path: a file name can
    hold a patient's name or id and nothing can prove that it does not. With ``keep_phi`` the
    readable stem comes first (``<stem>-<hash>``).
    """
    short = (digest or content_digest(path))[:_CASE_HASH_CHARS]
    return f"{readable_stem(path)}-{short}" if keep_phi else f"case-{short}"


@dataclass(frozen=True)
class InputFile:
    """One distinct input: the path it is read from, its content hash and its case id."""

    path: Path
    sha256: str
    case_id: str
    duplicates: tuple[Path, ...] = ()
    """Other paths given with the same bytes (processed once, under ``path``)."""

    @property
    def label(self) -> str:
        """What outputs show as the source when identifiers are withheld."""
        return f"sha256:{self.sha256}"

    def source(self, keep_phi: bool) -> str:
        return str(self.path) if keep_phi else self.label


def identify_inputs(paths: Sequence[Path], *, keep_phi: bool = False) -> list[InputFile]:
    """Hash each file and fold files with the same content into one input (first path wins)."""
    by_digest: dict[str, tuple[Path, list[Path]]] = {}
    for path in paths:
        digest = content_digest(path)
        if digest in by_digest:
            by_digest[digest][1].append(path)
        else:
            by_digest[digest] = (path, [])
    return [
        InputFile(
            path=first,
            sha256=digest,
            case_id=case_id(first, keep_phi=keep_phi, digest=digest),
            duplicates=tuple(others),
        )
        for digest, (first, others) in by_digest.items()
    ]


def sidecar_path(path: Path) -> Path | None:
    """The report beside an image: ``<name>.txt`` (``a.dcm.txt``), else ``<stem>.txt`` where the
    stem drops an image suffix only (``…7777.5.6`` pairs with ``…7777.5.6.txt``, never with
    ``…7777.5.txt``)."""
    candidates = [path.with_name(path.name + ".txt")]
    if path.suffix.lower() in IMAGE_SUFFIXES:
        candidates.append(path.with_name(path.stem + ".txt"))
    for candidate in candidates:
        if candidate != path and candidate.is_file():
            return candidate
    return None


def sidecar(path: Path) -> str | None:
    """The text of :func:`sidecar_path`, or ``None``."""
    found = sidecar_path(path)
    return found.read_text(encoding="utf-8", errors="replace") if found else None
