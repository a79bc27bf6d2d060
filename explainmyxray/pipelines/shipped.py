"""The pipelines shipped with the package (``configs/pipelines/*.yaml``), found by name."""

from __future__ import annotations

import difflib
from pathlib import Path

from ..core.errors import ConfigError

SHIPPED_DIR = Path(__file__).resolve().parent / "shipped"


def shipped_pipelines() -> dict[str, Path]:
    return {p.stem: p for p in sorted(SHIPPED_DIR.glob("*.yaml"))}


def is_shipped(path: Path) -> bool:
    """True for a pipeline file that ships inside the package."""
    try:
        return path.resolve().parent == SHIPPED_DIR.resolve()
    except OSError:
        return False


def resolve_pipeline(name_or_path: str | Path) -> Path:
    """A path that exists is used as is; otherwise the name of a shipped pipeline."""
    path = Path(name_or_path).expanduser()
    if path.is_file():
        return path
    shipped = shipped_pipelines()
    key = path.stem if path.suffix in {".yaml", ".yml"} else str(name_or_path)
    if key in shipped and not path.parent.parts:
        return shipped[key]
    names = ", ".join(shipped) or "none"
    close = difflib.get_close_matches(key, list(shipped), n=1, cutoff=0.6)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise ConfigError(f"{name_or_path}: no such pipeline file or shipped pipeline ({names}){hint}")
