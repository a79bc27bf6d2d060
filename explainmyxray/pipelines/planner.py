"""The planner: which models each step needs, in what order they load, and the predicted peak.

The prediction is not a separate formula: it replays the real :class:`ModelManager` over the
pipeline's steps with stand-in runners of the declared sizes, so it follows the same eviction
rules as a run.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from ..core.memory import MemoryBudget
from ..core.model_manager import ModelManager
from ..core.plan import Plan, PlannedStep
from ..core.plugin_api import LoadRequest, ModelRequest, ModelSpec
from ..registry.plugins import PluginHost
from .loader import Pipeline

__all__ = ["Plan", "PlannedStep", "choose_precisions", "plan", "resolve_device"]


class _StandIn:
    def load(self, request: LoadRequest) -> None:
        pass

    def unload(self) -> None:
        pass


class _SizesOnly:
    """The registry as the planner sees it: real estimates, runners that load nothing."""

    def __init__(self, host: PluginHost) -> None:
        self._host = host

    def get(self, name: str) -> ModelSpec:
        spec = self._host.models.get(name)
        return ModelSpec(
            name=spec.name,
            factory=_StandIn,
            memory_bytes=spec.memory_bytes,
            default_precision=spec.default_precision,
        )


class _Declared:
    def used(self, device: str) -> int | None:
        return None


def resolve_device(requested: str) -> str:
    """``auto`` becomes ``cuda`` when torch sees a GPU, else ``cpu``. Imports torch only here."""
    if requested != "auto":
        return requested
    try:
        import torch
    except ImportError:
        return "cpu"
    return "cuda" if torch.cuda.is_available() else "cpu"


def _anchored(request: ModelRequest, base_dir: Path) -> ModelRequest:
    """Relative weight and setting paths are relative to the pipeline file's folder."""

    def anchor(value: object) -> object:
        if isinstance(value, Path) and not value.expanduser().is_absolute():
            return base_dir / value
        return value

    settings = {k: anchor(v) for k, v in request.settings.items()}
    return replace(request, weights=anchor(request.weights), settings=settings)  # type: ignore[arg-type]


def choose_precisions(
    models: list[ModelRequest], limit: int, host: PluginHost
) -> list[ModelRequest]:
    """Resolve ``precision="auto"``: the best precision that fits beside the step's other models
    and its workspace; the smallest one if none fits (the manager then explains the overflow)."""
    used = sum(r.workspace_bytes for r in models)
    used += sum(
        host.models.get(r.name).estimate(r.precision) for r in models if r.precision != "auto"
    )
    chosen = []
    for request in models:
        if request.precision == "auto":
            sizes = host.models.get(request.name).memory_bytes
            fitting = [p for p, size in sizes.items() if used + size <= limit]
            precision = fitting[0] if fitting else min(sizes, key=sizes.__getitem__)
            used += sizes[precision]
            request = replace(request, precision=precision)
        chosen.append(request)
    return chosen


def plan(pipeline: Pipeline, host: PluginHost, *, device: str | None = None) -> Plan:
    """Order the steps' model needs and simulate one batch to predict loads and peak memory."""
    budget = MemoryBudget(pipeline.config.budget.gpu, pipeline.config.budget.cpu)
    planned: list[PlannedStep] = []
    for step in pipeline.steps:
        models = host.model_requests(step.stage, step.plugin, step.options)  # type: ignore[arg-type]
        wanted = step.device or device or pipeline.config.device
        resolved = resolve_device(wanted) if models else "cpu"
        models = [_anchored(r, pipeline.base_dir) for r in models]
        models = choose_precisions(models, budget.for_device(resolved), host)
        planned.append(PlannedStep(step=step, device=resolved, models=tuple(models)))
    result = Plan(
        steps=planned,
        budget=budget,
        batch_size=pipeline.config.batch_size,
        base_dir=pipeline.base_dir,
        manifest={
            "pipeline": pipeline.config.model_dump(mode="json"),
            "pipeline_file": str(pipeline.path) if pipeline.path else None,
        },
    )

    simulator = ModelManager(_SizesOnly(host), budget, probe=_Declared())
    for i, ps in enumerate(planned):
        if ps.models:
            simulator.prepare(ps.models, ps.device, result.upcoming(i, repeats=False))
    result.events = list(simulator.stats.events)
    result.peak = dict(simulator.stats.peak_charged)
    for kind in ("cuda", "cpu"):
        result.peak.setdefault(kind, 0)
    return result
