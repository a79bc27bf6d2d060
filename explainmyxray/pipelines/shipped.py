"""The pipelines shipped with the package (``configs/pipelines/*.yaml``), found by name."""

from __future__ import annotations

from pathlib import Path

from ..core.errors import ConfigError

SHIPPED_DIR = Path(__file__).resolve().parent / "shipped"


def shipped_pipelines() -> dict[str, Path]:
    return {p.stem: p for p in sorted(SHIPPED_DIR.glob("*.yaml"))}


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
    raise ConfigError(f"{name_or_path}: no such pipeline file or shipped pipeline ({names})")
