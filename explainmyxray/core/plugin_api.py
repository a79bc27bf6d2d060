"""What plugins hand to the host: stage specs, model specs, and the model-runner protocol.

A model plugin says how to load, run and unload its model; the framework owns when that happens
(the model manager), where (device, memory budget) and under which torch mode.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict

from .case import Stage


class NoOptions(BaseModel):
    """The options model of a stage that takes none."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class StageSpec:
    """A stage implementation a plugin registered: its options model and the models it needs."""

    stage: Stage
    plugin: str
    options: type[BaseModel] = NoOptions
    models: Callable[[Any], Sequence[ModelRequest]] | None = None
    description: str = ""

    def model_requests(self, options: BaseModel) -> list[ModelRequest]:
        return list(self.models(options)) if self.models else []


@dataclass(frozen=True)
class ModelRequest:
    """A step's need for one model: which one, at which precision, with which weights.

    ``precision="auto"`` lets the planner pick the best precision (the first of the spec's
    ``memory_bytes`` keys) that fits the budget beside the step's other models and its
    ``workspace_bytes``: the activations, caches and buffers the step needs at its batch size,
    which the model manager keeps free while the step runs.
    """

    name: str
    precision: str | None = None
    weights: Path | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)
    workspace_bytes: int = 0

    @property
    def key(self) -> tuple[Any, ...]:
        settings = tuple(sorted((k, repr(v)) for k, v in self.settings.items()))
        return (self.name, self.precision, str(self.weights) if self.weights else None, *settings)


@dataclass(frozen=True)
class LoadRequest:
    """Everything a runner needs to load: resolved device, precision, and where the weights are."""

    device: str
    precision: str
    weights: Path | None
    settings: Mapping[str, Any] = field(default_factory=dict)


@runtime_checkable
class ModelRunner(Protocol):
    """A loadable model. ``load`` imports heavy libraries (torch) itself; ``unload`` frees all."""

    def load(self, request: LoadRequest) -> None: ...

    def unload(self) -> None: ...


@runtime_checkable
class ParkableRunner(ModelRunner, Protocol):
    """A runner that can move its weights to (pinned) host memory and back.

    The model manager parks a model it must evict but will need again, when the host budget has
    room, so that bringing it back costs a host-to-device copy instead of a load from disk.
    """

    def park(self) -> int:
        """Move to host memory; return the host bytes now held."""
        ...

    def restore(self, device: str) -> None: ...


@dataclass(frozen=True)
class ModelSpec:
    """One entry of the model registry.

    ``memory_bytes`` maps each supported precision to the estimated resident size once loaded
    (weights and buffers, not activations), best precision first; the planner budgets with it and
    the model manager checks it against what it measures. ``factory`` builds an unloaded runner.
    ``hub_id``, ``revision`` and ``files`` say where ``models pull`` downloads the weights from
    and which files must be there; ``locate`` returns a local copy (e.g. a packaged asset).
    ``needs_weights=False`` declares a model that loads nothing from disk (built from code, a
    rule, a remote client): it is reported ready, and its runner gets ``weights=None``.
    """

    name: str
    factory: Callable[[], ModelRunner]
    memory_bytes: Mapping[str, int]
    default_precision: str
    family: str = ""
    hub_id: str | None = None
    revision: str | None = None
    files: tuple[str, ...] = ()
    license: str = ""
    description: str = ""
    extra: str | None = None
    plugin: str = ""
    locate: Callable[[], Path | None] | None = None
    needs_weights: bool = True
    aliases: tuple[str, ...] = ()
    """Other names users may type for this model (``paligemma`` for the PaliGemma 2 entry)."""

    def estimate(self, precision: str | None) -> int:
        precision = precision or self.default_precision
        try:
            return int(self.memory_bytes[precision])
        except KeyError:
            known = ", ".join(sorted(self.memory_bytes))
            from .errors import ConfigError

            raise ConfigError(
                f"model {self.name!r} has no precision {precision!r} (known: {known})"
            ) from None


StageRegistrar = Callable[..., None]
ModelRegistrar = Callable[[ModelSpec], None]
