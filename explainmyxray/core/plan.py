"""What the orchestrator runs: a plan of steps, each with its device and model requests, and the
plugin host it calls. Both are declared here and built above ``core`` (the planner in
``pipelines``, the host in ``registry``), so the orchestrator depends only on these contracts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel

from .case import Case, Stage
from .context import StepContext
from .memory import MemoryBudget
from .plugin_api import ModelRequest, ModelSpec

Need = tuple[ModelRequest, str]
"""A model request on the device of the step that will make it."""


class PlanStep(Protocol):
    """One step of a pipeline as the orchestrator needs it (``pipelines.loader.Step`` is one)."""

    @property
    def stage(self) -> str: ...

    @property
    def plugin(self) -> str: ...

    @property
    def options(self) -> BaseModel: ...

    @property
    def label(self) -> str: ...


@dataclass(frozen=True)
class PlannedStep:
    step: PlanStep
    device: str
    models: tuple[ModelRequest, ...]


@dataclass
class Plan:
    """The steps of one pipeline with their devices and models, and how the planner predicts a
    batch will load them (``events``, ``peak``)."""

    steps: list[PlannedStep]
    budget: MemoryBudget
    batch_size: int = 8
    base_dir: Path = field(default_factory=Path.cwd)
    """Where relative paths in the steps' options are resolved (the pipeline file's folder)."""
    manifest: dict[str, Any] = field(default_factory=dict)
    """What ``run.json`` records about the pipeline (its validated configuration and file)."""
    events: list[tuple[str, str]] = field(default_factory=list)
    peak: dict[str, int] = field(default_factory=dict)

    def upcoming(self, index: int, repeats: bool) -> list[list[Need]]:
        """Model needs of the steps after ``index``; with ``repeats``, the next batch's too."""
        following = list(self.steps[index + 1 :])
        if repeats:
            following += self.steps[: index + 1]
        return [[(r, s.device) for r in s.models] for s in following]

    @property
    def load_order(self) -> list[str]:
        return [name for kind, name in self.events if kind == "load"]


class SpecSource(Protocol):
    """Where the model manager finds a model's specification by name."""

    def get(self, name: str) -> ModelSpec: ...


@runtime_checkable
class StageHost(Protocol):
    """The plugin host as the orchestrator uses it (``registry.plugins.PluginHost`` is one)."""

    @property
    def models(self) -> SpecSource: ...

    def call_stage(
        self, stage: Stage, plugin: str, cases: Sequence[Case], step: StepContext[Any]
    ) -> list[Any]:
        """Call ``stage`` on the one named plugin; one result (or exception) per case."""
        ...

    def notify(self, hook: str, **kwargs: Any) -> None:
        """Broadcast a lifecycle hook to every plugin; an observer that raises is not fatal."""
        ...

    def plugin_version(self, plugin: str) -> str | None:
        """The installed version of ``plugin`` (recorded in provenance and ``run.json``)."""
        ...
