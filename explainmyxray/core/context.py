"""The context a stage hook receives: its validated options and access to its models."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from .case import Stage

OptionsT = TypeVar("OptionsT", bound=BaseModel)


@dataclass
class StepContext(Generic[OptionsT]):
    """One pipeline step as its plugin sees it, generic in its options model:
    annotate a hook's ``step`` as ``StepContext[MyOptions]`` and ``step.options`` is a
    ``MyOptions``.

    ``model(name)`` returns the loaded runner of a model the step declared; the model manager
    has already loaded it within the memory budget. Paths in options are resolved against
    ``base_dir`` (the pipeline file's folder) with :meth:`resolve`.
    """

    stage: Stage
    plugin: str
    options: OptionsT
    device: str = "cpu"
    keep_phi: bool = False
    base_dir: Path = field(default_factory=Path.cwd)
    out_dir: Path | None = None
    get_model: Callable[[str], Any] | None = None
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("explainmyxray"))

    def model(self, name: str) -> Any:
        if self.get_model is None:
            raise LookupError(f"step {self.stage}/{self.plugin} declared no models")
        return self.get_model(name)

    def resolve(self, path: str | Path) -> Path:
        p = Path(path).expanduser()
        return p if p.is_absolute() else (self.base_dir / p)
