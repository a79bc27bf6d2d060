"""A reference index on disk: unit embeddings of reference radiographs and reports, with the
reports, labels and the identity of the model that made them.

Layout of an index folder::

    metadata.json           format, version, created, count, dim, model identity, entries
    image_embeddings.npy    (count, dim) float16, L2-normalised (absent in a text-only index)
    text_embeddings.npy     (count, dim) float16, L2-normalised, one row per report

The folder is written whole into a temporary sibling and then moved into place, so a reader
never sees half an index. Searching memory-maps the arrays and scans them block by block.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np

from ..core.case import RetrievedCase
from ..core.errors import ConfigError, InputError, UsageError
from .identity import ModelIdentity
from .references import Reference, ReferenceSet
from .search import normalize_rows, top_k

FORMAT = "explainmyxray.reference-index"
VERSION = 1
METADATA = "metadata.json"
IMAGE_EMBEDDINGS = "image_embeddings.npy"
TEXT_EMBEDDINGS = "text_embeddings.npy"

Kind = Literal["image", "text"]
Progress = Callable[[str, int, int], None]
"""Called with (phase, items done since the last call, items in the phase); the phases are
"images" and "texts"."""


class TextEmbedder(Protocol):
    identity: ModelIdentity | None

    def embed_texts(self, texts: Sequence[str], batch_size: int = ...) -> np.ndarray: ...


@dataclass
class BuildResult:
    index: ReferenceIndex
    skipped: list[tuple[str, str]] = field(default_factory=list)


# --- building ---------------------------------------------------------------------------------


def build_index(
    references: ReferenceSet,
    embedder: TextEmbedder,
    out_dir: Path,
    *,
    text_only: bool = False,
    batch_size: int = 16,
    backend: str = "",
    progress: Progress | None = None,
    read_pixels: Callable[[Path], np.ndarray] | None = None,
) -> BuildResult:
    """Embed the references with a loaded runner and write the index folder.

    Images are embedded when the runner can (``embed_images``) and ``text_only`` is off; a
    reference whose image cannot be read is left out and listed in ``skipped``. Every report is
    embedded with the same runner's text side.
    """
    identity = embedder.identity
    if identity is None:
        raise UsageError("the embedding model is not loaded")
    out_dir = Path(out_dir).expanduser()
    _check_target(out_dir)
    kept = list(references.references)
    skipped = list(references.skipped)
    image_rows: np.ndarray | None = None
    with_images = not text_only and hasattr(embedder, "embed_images")
    if with_images:
        kept = [r for r in kept if r.image is not None]
        skipped += [(r.id, "no image") for r in references.references if r.image is None]
        if not kept:
            raise UsageError(f"{references.source}: no reference has an image; use --text-only")
        kept, image_rows, unreadable = _embed_images(
            embedder, kept, batch_size, progress, read_pixels or _read_pixels
        )
        skipped += unreadable
    if not kept:
        raise UsageError(f"{references.source}: no reference could be indexed")
    text_rows = _embed_texts(embedder, [r.report for r in kept], batch_size, progress)
    metadata = {
        "format": FORMAT,
        "version": VERSION,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "count": len(kept),
        "dim": identity.dim,
        "backend": backend or identity.name,
        "model": identity.to_dict(),
        "source": str(Path(references.source).resolve()),
        "embeddings": {
            "image": IMAGE_EMBEDDINGS if image_rows is not None else None,
            "text": TEXT_EMBEDDINGS,
        },
        "entries": [
            {
                "id": r.id,
                "report": r.report,
                "labels": list(r.labels),
                "image": str(r.image) if r.image else None,
            }
            for r in kept
        ],
    }
    _write_folder(out_dir, metadata, {IMAGE_EMBEDDINGS: image_rows, TEXT_EMBEDDINGS: text_rows})
    return BuildResult(ReferenceIndex.open(out_dir), skipped)


def _read_pixels(path: Path) -> np.ndarray:
    from ..imaging import read_xray

    image, _ = read_xray(path)
    assert image.pixels is not None
    return image.pixels


def _embed_images(
    embedder: Any,
    references: list[Reference],
    batch_size: int,
    progress: Progress | None,
    read_pixels: Callable[[Path], np.ndarray],
) -> tuple[list[Reference], np.ndarray, list[tuple[str, str]]]:
    kept: list[Reference] = []
    rows: list[np.ndarray] = []
    unreadable: list[tuple[str, str]] = []
    for start in range(0, len(references), batch_size):
        chunk = references[start : start + batch_size]
        pixels: list[np.ndarray] = []
        for reference in chunk:
            assert reference.image is not None
            try:
                pixels.append(read_pixels(reference.image))
            except InputError as exc:
                unreadable.append((reference.id, str(exc)))
                continue
            kept.append(reference)
        if pixels:
            rows.append(embedder.embed_images(pixels, batch_size=batch_size))
        if progress:
            progress("images", len(chunk), len(references))
    dim = embedder.identity.dim
    matrix = np.concatenate(rows) if rows else np.zeros((0, dim), np.float32)
    return kept, matrix, unreadable


def _embed_texts(
    embedder: TextEmbedder, texts: list[str], batch_size: int, progress: Progress | None
) -> np.ndarray:
    rows = []
    for start in range(0, len(texts), batch_size):
        chunk = texts[start : start + batch_size]
        rows.append(embedder.embed_texts(chunk, batch_size=batch_size))
        if progress:
            progress("texts", len(chunk), len(texts))
    return np.concatenate(rows)


def _check_target(out_dir: Path) -> None:
    """Refuse to replace a folder that is not an index (a typo must not delete someone's data)."""
    if out_dir.exists() and (
        not out_dir.is_dir() or (any(out_dir.iterdir()) and not (out_dir / METADATA).is_file())
    ):
        raise UsageError(f"{out_dir} exists and is not a reference index; choose another --out")


def _write_folder(
    out_dir: Path, metadata: dict[str, Any], arrays: dict[str, np.ndarray | None]
) -> None:
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        for name, array in arrays.items():
            if array is not None:
                unit = normalize_rows(array).astype(np.float16)
                with (staging / name).open("wb") as fh:
                    np.save(fh, unit, allow_pickle=False)
                    fh.flush()
                    os.fsync(fh.fileno())
        text = json.dumps(metadata, indent=1, ensure_ascii=False) + "\n"
        with (staging / METADATA).open("w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        _swap_into_place(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


def _swap_into_place(staging: Path, out_dir: Path) -> None:
    if not out_dir.exists():
        os.replace(staging, out_dir)
        return
    retired = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.old.", dir=out_dir.parent))
    os.replace(out_dir, retired / "index")
    try:
        os.replace(staging, out_dir)
    except BaseException:
        os.replace(retired / "index", out_dir)
        raise
    finally:
        shutil.rmtree(retired, ignore_errors=True)


# --- reading and searching --------------------------------------------------------------------


@dataclass
class ReferenceIndex:
    """An index folder, opened: its metadata in memory, its embeddings memory-mapped."""

    path: Path
    metadata: dict[str, Any]
    image_embeddings: np.ndarray | None
    text_embeddings: np.ndarray

    @classmethod
    def open(cls, path: Path) -> ReferenceIndex:
        path = Path(path).expanduser()
        meta_file = path / METADATA
        if not meta_file.is_file():
            raise ConfigError(
                f"{path} is not a reference index (no {METADATA}); build one with "
                f"`explainmyxray index build FOLDER --out {path}`"
            )
        try:
            metadata = json.loads(meta_file.read_text(encoding="utf-8"))
        except ValueError as exc:
            raise ConfigError(f"{meta_file}: not valid JSON ({exc})") from exc
        if metadata.get("format") != FORMAT or metadata.get("version") != VERSION:
            raise ConfigError(
                f"{meta_file}: not a version-{VERSION} reference index "
                f"(format {metadata.get('format')!r}, version {metadata.get('version')!r})"
            )
        files = metadata.get("embeddings", {})
        count, dim = int(metadata["count"]), int(metadata["dim"])
        image = _open_array(path, files.get("image"), count, dim) if files.get("image") else None
        text = _open_array(path, files.get("text"), count, dim)
        if len(metadata.get("entries", [])) != count:
            raise ConfigError(f"{meta_file}: {count} embeddings but a different number of entries")
        return cls(path, metadata, image, text)

    @property
    def count(self) -> int:
        return int(self.metadata["count"])

    @property
    def dim(self) -> int:
        return int(self.metadata["dim"])

    @property
    def identity(self) -> ModelIdentity:
        return ModelIdentity.from_dict(self.metadata["model"])

    @property
    def has_images(self) -> bool:
        return self.image_embeddings is not None

    @property
    def entries(self) -> list[dict[str, Any]]:
        return self.metadata["entries"]

    def check(self, identity: ModelIdentity | None) -> None:
        """ConfigError unless embeddings of ``identity`` can be compared with this index."""
        if identity is None:
            raise ConfigError("the query model is not loaded")
        built = self.identity
        reason = built.mismatch(identity)
        if reason:
            raise ConfigError(
                f"reference index {self.path} was built with model {built.name!r} "
                f"({built.dim}-d, weights {built.fingerprint[:12]}) but is queried with "
                f"{identity.name!r} ({identity.dim}-d, weights {identity.fingerprint[:12]}): "
                f"{reason}. Rebuild the index with the query model "
                f"(explainmyxray index build ... --backend ...)"
            )

    def search(
        self,
        queries: np.ndarray,
        k: int,
        *,
        kind: Kind = "image",
        min_score: float | None = None,
    ) -> list[list[RetrievedCase]]:
        """The ``k`` most similar references to each query vector, best first."""
        matrix = self.image_embeddings if kind == "image" else self.text_embeddings
        if matrix is None:
            raise ConfigError(f"reference index {self.path} has no image embeddings (text-only)")
        queries = normalize_rows(np.atleast_2d(queries))
        if queries.shape[1] != self.dim:
            raise ConfigError(
                f"query vectors are {queries.shape[1]}-d but index {self.path} is {self.dim}-d"
            )
        scores, rows = top_k(matrix, queries, k)
        results = []
        for score_row, index_row in zip(scores, rows, strict=True):
            found = []
            for score, row in zip(score_row.tolist(), index_row.tolist(), strict=True):
                if min_score is not None and score < min_score:
                    continue
                entry = self.entries[row]
                found.append(
                    RetrievedCase(
                        id=entry["id"],
                        score=round(float(score), 6),
                        report=entry.get("report", ""),
                        labels=list(entry.get("labels", [])),
                        image=entry.get("image"),
                    )
                )
            results.append(found)
        return results

    def info(self) -> dict[str, Any]:
        """Everything but the entries (for ``index info``)."""
        summary = {k: v for k, v in self.metadata.items() if k != "entries"}
        summary["path"] = str(self.path)
        summary["with_labels"] = sum(1 for e in self.entries if e.get("labels"))
        return summary


def _open_array(folder: Path, name: str | None, count: int, dim: int) -> np.ndarray:
    path = folder / str(name)
    if not path.is_file():
        raise ConfigError(f"reference index {folder} is damaged: {name} is missing")
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as exc:
        raise ConfigError(f"{path}: not a readable .npy array ({exc})") from exc
    if array.shape != (count, dim) or array.dtype != np.float16:
        raise ConfigError(
            f"{path}: expected float16 of shape ({count}, {dim}), found {array.dtype} {array.shape}"
        )
    return array
