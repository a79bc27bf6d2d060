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
from .loader import Pipeline, Step

__all__ = ["Plan", "PlannedStep", "choose_batch", "choose_precisions", "plan", "resolve_device"]


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


AUTO_BATCHES = (64, 56, 48, 40, 32, 28, 24, 20, 16, 12, 8, 6, 4, 2, 1)
"""Batch sizes ``batch_size: auto`` chooses from (largest first)."""
CPU_AUTO_BATCH = 8


def choose_batch(step: Step, device: str, limit: int, host: PluginHost, base_dir: Path) -> Step:
    """``step`` with ``batch_size: auto`` (and ``precision: auto``) resolved.

    Each candidate (precision, batch) is asked of the plugin itself (its ``model_requests`` says
    the workspace that batch needs) and kept where weights and workspace fit ``limit``. The
    winner has the highest predicted tokens per second, ``batch / step_ms``, from the models'
    measured step costs (:attr:`ModelSpec.step_ms`); without them, the largest batch that fits.
    On the CPU, ``auto`` is a batch of 8.
    """
    options = step.options
    if getattr(options, "batch_size", None) != "auto":
        return step
    if device == "cpu":
        return replace(step, options=options.model_copy(update={"batch_size": CPU_AUTO_BATCH}))
    wanted = getattr(options, "precision", None)
    fitting: list[tuple[int, str | None, tuple[float, float] | None]] = []
    for batch in AUTO_BATCHES:
        trial = options.model_copy(update={"batch_size": batch})
        requests = [
            _anchored(r, base_dir) for r in host.model_requests(step.stage, step.plugin, trial)
        ]
        for request in requests:
            spec = host.models.get(request.name)
            precisions = list(spec.memory_bytes) if request.precision == "auto" else [None]
            others = sum(
                r.workspace_bytes + (0 if r.precision == "auto" else _size(host, r))
                for r in requests
                if r is not request
            )
            for precision in precisions:
                size = spec.estimate(precision or request.precision)
                if others + request.workspace_bytes + size <= limit:
                    chosen = precision or request.precision or spec.default_precision
                    cost = spec.step_ms.get(chosen)
                    fitting.append((batch, precision, cost))
    if not fitting:  # nothing fits: the smallest batch, and the manager explains the overflow
        best: tuple[int, str | None, object] = (AUTO_BATCHES[-1], None, None)
    elif all(cost for _, _, cost in fitting):  # tokens per step over the step's time
        best = max(fitting, key=lambda c: c[0] / (c[2][0] + c[2][1] * c[0]))  # type: ignore[index]
    else:  # the largest batch; the best precision among equals (candidates come in that order)
        best = max(fitting, key=lambda c: c[0])
    update: dict[str, object] = {"batch_size": best[0]}
    if wanted == "auto" and best[1] is not None:
        update["precision"] = best[1]
    return replace(step, options=options.model_copy(update=update))


def _size(host: PluginHost, request: ModelRequest) -> int:
    return host.models.get(request.name).estimate(request.precision)


def plan(pipeline: Pipeline, host: PluginHost, *, device: str | None = None) -> Plan:
    """Order the steps' model needs and simulate one batch to predict loads and peak memory."""
    budget = MemoryBudget(pipeline.config.budget.gpu, pipeline.config.budget.cpu)
    planned: list[PlannedStep] = []
    for step in pipeline.steps:
        wanted = step.device or device or pipeline.config.device
        if getattr(step.options, "batch_size", None) == "auto":
            step = choose_batch(
                step,
                resolve_device(wanted),
                budget.for_device(resolve_device(wanted)),
                host,
                pipeline.base_dir,
            )
        models = host.model_requests(step.stage, step.plugin, step.options)  # type: ignore[arg-type]
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
