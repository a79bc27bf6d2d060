"""What makes two embeddings comparable: the same model, the same weights, the same width."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ..core.fingerprint import file_fingerprint

__all__ = ["ModelIdentity", "file_fingerprint"]


@dataclass(frozen=True)
class ModelIdentity:
    """The embedding model an index was built with, or that queries it.

    ``fingerprint`` identifies the weights file (its size and its first and last MiB), so two
    folders holding the same weights agree, whatever the precision the model runs at.
    """

    name: str
    dim: int
    fingerprint: str
    source: str = ""
    revision: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelIdentity:
        return cls(
            name=str(data["name"]),
            dim=int(data["dim"]),
            fingerprint=str(data.get("fingerprint", "")),
            source=str(data.get("source", "")),
            revision=data.get("revision"),
        )

    def mismatch(self, other: ModelIdentity) -> str | None:
        """Why embeddings of ``other`` cannot be compared with these, or None."""
        if self.name != other.name:
            return f"model {self.name!r} vs {other.name!r}"
        if self.dim != other.dim:
            return f"embedding width {self.dim} vs {other.dim}"
        if self.fingerprint and other.fingerprint and self.fingerprint != other.fingerprint:
            return f"weights {self.fingerprint[:12]} vs {other.fingerprint[:12]}"
        return None
