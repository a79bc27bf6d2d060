"""The one place the service touches the pipeline runtime.

:class:`ServingEngine` holds one long-lived :class:`~explainmyxray.pipelines.engine.Engine` (one
plugin host, one model manager) for the process: the pipeline is loaded once, batches of
in-memory cases run with the models kept resident between batches, and each case's folder is
written with the same writers as ``explainmyxray run`` (``report.json``, ``overlay.png``,
``image.jpg``).
"""

from __future__ import annotations

import sys
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..core.case import Case
from ..core.markers import hookimpl
from .job_options import Overrides, apply_options, variant_key

if TYPE_CHECKING:
    from ..pipelines.loader import Pipeline

MAX_VARIANTS = 8
"""Pipeline variants (distinct per-job options) kept ready at once."""


@dataclass
class EngineStats:
    """Cumulative figures since start-up, for ``/metrics``."""

    stage_seconds: dict[str, float] = field(default_factory=dict)
    loads: dict[str, int] = field(default_factory=dict)
    evictions: dict[str, int] = field(default_factory=dict)
    parks: dict[str, int] = field(default_factory=dict)
    restores: dict[str, int] = field(default_factory=dict)
    resident_bytes: dict[str, int] = field(default_factory=dict)


class _StageClock:
    """A lifecycle plugin: seconds per step over every batch the engine runs."""

    def __init__(self) -> None:
        self.seconds: Counter[str] = Counter()

    @hookimpl
    def after_stage_run(self, stage: str, plugin: str, cases, seconds: float) -> None:
        self.seconds[f"{stage}:{plugin}"] += seconds


class ServingEngine:
    def __init__(
        self,
        pipeline_ref: str | Path,
        *,
        device: str | None = None,
        allow: list[str] | None = None,
        block: list[str] | None = None,
    ) -> None:
        from ..pipelines.engine import Engine
        from ..registry.plugins import PluginHost

        self.host = PluginHost(allow=allow or None, block=block or [])
        self._engine = Engine(self.host, device=device)
        self.pipeline = self._engine.load(pipeline_ref)
        self.plan = self._engine.plan(self.pipeline)
        self._clock = _StageClock()
        self.host.pm.register(self._clock, name="explainmyxray-serve-clock")
        self._variants: OrderedDict[str, Pipeline] = OrderedDict()

    @property
    def name(self) -> str:
        return self.pipeline.name

    @property
    def batch_size(self) -> int:
        return self.pipeline.config.batch_size

    @property
    def steps(self) -> list[str]:
        return [ps.step.label for ps in self.plan.steps]

    def preload(self) -> None:
        """Make every model of the pipeline resident now (as far as the budget allows), in the
        order the first batch will use them."""
        manager = self._engine.manager
        manager.budget = self.plan.budget
        for index, planned in enumerate(self.plan.steps):
            if planned.models:
                manager.prepare(planned.models, planned.device, self.plan.upcoming(index, True))

    def missing_weights(self) -> list[str]:
        """Models of the plan whose weights are not on this machine (empty when all load)."""
        from ..registry.weights import locate_weights

        missing = []
        for planned in self.plan.steps:
            for request in planned.models:
                spec = self.host.models.get(request.name)
                if not spec.needs_weights:
                    continue
                if request.weights is not None:
                    if not Path(request.weights).exists():
                        missing.append(f"{request.name}: {request.weights} does not exist")
                elif (spec.hub_id or spec.locate) and locate_weights(spec) is None:
                    missing.append(f"{request.name}: weights not found")
        return missing

    def check_options(self, overrides: Overrides) -> None:
        """Raise :class:`JobOptionsError` unless the steps' option models accept ``overrides``."""
        apply_options(self.pipeline, overrides)

    def run_batch(self, cases: list[Case], overrides: Overrides | None = None) -> list[Case]:
        """Run every step over ``cases`` in place, with a job's options if any; models stay
        loaded for the next batch (a variant uses the same resident models)."""
        return self._engine.run_batch(self._variant(overrides or {}), cases)

    def _variant(self, overrides: Overrides) -> Pipeline:
        key = variant_key(overrides)
        if not key:
            return self.pipeline
        if key not in self._variants:
            self._variants[key] = apply_options(self.pipeline, overrides)
            if len(self._variants) > MAX_VARIANTS:
                self._variants.popitem(last=False)
        self._variants.move_to_end(key)
        return self._variants[key]

    def write_case(self, case: Case, out_dir: Path) -> None:
        """Write the case's folder under ``out_dir/cases/<id>/`` as ``explainmyxray run`` does."""
        from ..core.orchestrator import write_case
        from ..outputs import write_case_outputs
        from ..tracking.signals import write_signals

        write_case(case, out_dir, [write_case_outputs, write_signals])

    def stats(self) -> EngineStats:
        """Read without the engine's lock (a scrape must not wait for a running batch); the
        worker may change a figure meanwhile, so a copy that races is taken again."""
        manager = self._engine.manager
        for _ in range(5):
            try:
                resident: Counter[str] = Counter()
                for r in list(manager.resident()):
                    resident[r.device] += r.charged
                return EngineStats(
                    stage_seconds=dict(self._clock.seconds),
                    loads=dict(manager.stats.loads),
                    evictions=dict(manager.stats.unloads),
                    parks=dict(manager.stats.parks),
                    restores=dict(manager.stats.restores),
                    resident_bytes=dict(resident),
                )
            except RuntimeError:  # a dictionary changed size while it was copied
                continue
        return EngineStats()

    def close(self) -> None:
        self._engine.close()


def gpu_memory() -> dict[str, dict[str, int]]:
    """Per CUDA device: bytes allocated and reserved by torch (empty without CUDA)."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available():
        return {}
    return {
        f"cuda:{i}": {
            "allocated": int(torch.cuda.memory_allocated(i)),
            "reserved": int(torch.cuda.memory_reserved(i)),
        }
        for i in range(torch.cuda.device_count())
    }
