"""The one place the service touches the pipeline runtime.

:class:`ServingEngine` loads the pipeline once, runs batches of in-memory cases with the models
kept resident between batches, and writes each case's folder with the same writers as
``explainmyxray run`` (``report.json``, ``overlay.png``, ``image.jpg``).
"""

from __future__ import annotations

import logging
import sys
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..core.case import Case
from .job_options import Overrides, apply_options, variant_key

if TYPE_CHECKING:
    from ..core.orchestrator import Orchestrator

log = logging.getLogger(__name__)

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


class ServingEngine:
    def __init__(
        self,
        pipeline_ref: str | Path,
        *,
        device: str | None = None,
        allow: list[str] | None = None,
        block: list[str] | None = None,
    ) -> None:
        from ..core.orchestrator import Orchestrator
        from ..pipelines.loader import load_pipeline
        from ..pipelines.shipped import resolve_pipeline
        from ..registry.plugins import PluginHost

        self.host = PluginHost(allow=allow or None, block=block or [])
        self.pipeline = load_pipeline(resolve_pipeline(pipeline_ref), self.host)
        self.device = device
        self._orchestrator = Orchestrator(self.host, self.pipeline, device=device)
        self.plan = self._orchestrator.plan
        self._variants: OrderedDict[str, Orchestrator] = OrderedDict()
        self._retired_seconds: Counter[str] = Counter()

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
        manager = self._orchestrator.manager
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
        loaded for the next batch (a variant shares the resident models)."""
        return self._variant(overrides or {}).run_batch(cases, more_batches=True)

    def _variant(self, overrides: Overrides) -> Orchestrator:
        key = variant_key(overrides)
        if not key:
            return self._orchestrator
        if key not in self._variants:
            from ..core.orchestrator import Orchestrator

            variant = apply_options(self.pipeline, overrides)
            self._variants[key] = Orchestrator(
                self.host, variant, device=self.device, manager=self._orchestrator.manager
            )
            if len(self._variants) > MAX_VARIANTS:
                _, oldest = self._variants.popitem(last=False)
                self._retired_seconds.update(oldest.stage_seconds)
        self._variants.move_to_end(key)
        return self._variants[key]

    def write_case(self, case: Case, out_dir: Path) -> None:
        """Write the case's folder under ``out_dir/cases/<id>/`` as ``explainmyxray run`` does."""
        from ..core.orchestrator import write_case
        from ..outputs import write_case_outputs

        write_case(case, out_dir, [write_case_outputs])

    def stats(self) -> EngineStats:
        manager = self._orchestrator.manager
        resident: Counter[str] = Counter()
        for r in manager.resident():
            resident[r.device] += r.charged
        seconds = Counter(self._orchestrator.stage_seconds) + self._retired_seconds
        for variant in list(self._variants.values()):
            seconds.update(variant.stage_seconds)
        return EngineStats(
            stage_seconds=dict(seconds),
            loads=dict(manager.stats.loads),
            evictions=dict(manager.stats.unloads),
            parks=dict(manager.stats.parks),
            restores=dict(manager.stats.restores),
            resident_bytes=dict(resident),
        )

    def close(self) -> None:
        self._orchestrator.manager.close()


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
