"""Cheap fingerprints of large files (model weights): SHA-256 of the size and the first and last
MiB, so a multi-GB checkpoint is identified without reading it all."""

from __future__ import annotations

import hashlib
from pathlib import Path

SAMPLE_BYTES = 1 << 20


def file_fingerprint(path: Path) -> str:
    """SHA-256 of a file's size and its first and last MiB: cheap on 1 GB checkpoints."""
    path = Path(path)
    size = path.stat().st_size
    digest = hashlib.sha256(str(size).encode())
    with path.open("rb") as fh:
        digest.update(fh.read(SAMPLE_BYTES))
        if size > 2 * SAMPLE_BYTES:
            fh.seek(size - SAMPLE_BYTES)
        digest.update(fh.read(SAMPLE_BYTES))
    return digest.hexdigest()
