"""Loads and unloads models so that what is resident always fits the memory budget.

The planner tells the manager, before each step, which models the step needs and the order in
which models will be needed afterwards. The manager then loads what is missing; to make room it
evicts first models never needed again, then the one whose next use is farthest away (Belady's
rule), and never a model the current step needs. An evicted GPU model that will be needed again
is parked in host memory when its runner supports it and the host budget has room; bringing it
back is then a copy, not a load. Each load is measured (torch allocator on GPU, process RSS on the
host) and the larger of estimate and measurement is what it is charged.
"""

from __future__ import annotations

import gc
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .case import ModelUsage
from .errors import MemoryBudgetError, ModelError
from .memory import MemoryBudget, MemoryProbe, SystemProbe, device_kind, format_size
from .plan import Need, SpecSource
from .plugin_api import LoadRequest, ModelRequest, ModelRunner, ModelSpec, ParkableRunner

log = logging.getLogger(__name__)

Key = tuple[Any, ...]


@dataclass
class Resident:
    key: Key
    request: ModelRequest
    runner: ModelRunner
    device: str
    usage: ModelUsage

    @property
    def charged(self) -> int:
        return max(self.usage.estimated_bytes, self.usage.measured_bytes or 0)


@dataclass
class ManagerStats:
    loads: Counter[str] = field(default_factory=Counter)
    unloads: Counter[str] = field(default_factory=Counter)
    parks: Counter[str] = field(default_factory=Counter)
    restores: Counter[str] = field(default_factory=Counter)
    seconds: dict[str, float] = field(default_factory=dict)
    """Total seconds spent per event kind: load, park, restore."""
    events: list[tuple[str, str]] = field(default_factory=list)
    peak_charged: dict[str, int] = field(default_factory=dict)
    """Per device kind: the most memory resident models plus the running step's workspace took."""


def _key(request: ModelRequest, device: str) -> Key:
    return (*request.key, device)


class ModelManager:
    def __init__(
        self,
        registry: SpecSource,
        budget: MemoryBudget,
        *,
        probe: MemoryProbe | None = None,
        locate: Callable[[ModelSpec], Path | None] | None = None,
        park: bool = True,
        retain: bool = False,
    ) -> None:
        """``retain``: keep models that no upcoming step needs until their room is needed
        (a long-lived engine running many pipelines), instead of unloading them at once."""
        self.registry = registry
        self.retain = retain
        self.locate = locate or (lambda spec: spec.locate() if spec.locate else None)
        self.budget = budget
        self.probe = probe or SystemProbe()
        self.stats = ManagerStats()
        self.park_enabled = park
        self._resident: dict[Key, Resident] = {}
        self._parked: dict[Key, tuple[Resident, int]] = {}

    # --- accounting -------------------------------------------------------------------------

    def charged(self, device: str) -> int:
        """Bytes charged to ``device``'s budget; parked models count against the host's."""
        kind = device_kind(device)
        total = sum(r.charged for r in self._resident.values() if device_kind(r.device) == kind)
        if kind == "cpu":
            total += sum(size for _, size in self._parked.values())
        return total

    def parked(self) -> list[Resident]:
        return [r for r, _ in self._parked.values()]

    def resident(self) -> list[Resident]:
        return list(self._resident.values())

    def estimate(self, request: ModelRequest) -> int:
        return self.registry.get(request.name).estimate(request.precision)

    # --- the step protocol ------------------------------------------------------------------

    def prepare(
        self,
        needed: Sequence[ModelRequest],
        device: str,
        upcoming: Sequence[Sequence[Need]] = (),
    ) -> dict[str, ModelRunner]:
        """Make every model of ``needed`` resident on ``device`` and return them by name.

        ``upcoming`` lists the model needs of the steps that follow, in order, each with the
        device it will be needed on; it decides what to evict. A step whose models together
        exceed the budget raises MemoryBudgetError.
        """
        needed_keys = {_key(r, device) for r in needed}
        unique = {_key(r, device): r for r in needed}.values()
        workspace = sum(r.workspace_bytes for r in unique)
        total = sum(self.estimate(r) for r in unique) + workspace
        limit = self.budget.for_device(device)
        if total > limit:
            names = " + ".join(f"{r.name} ({format_size(self.estimate(r))})" for r in unique)
            if workspace:
                names += f" + workspace ({format_size(workspace)})"
            raise MemoryBudgetError(
                f"this step needs {names} = {format_size(total)} on {device}, "
                f"over the budget of {format_size(limit)}; raise the budget or use a "
                f"smaller precision"
            )
        self._evict_unused(needed_keys, upcoming)
        runners: dict[str, ModelRunner] = {}
        for request in needed:
            runners[request.name] = self._ensure(
                request, device, needed_keys, upcoming, reserve=workspace
            )
        kind = device_kind(device)
        in_use = self.charged(device) + workspace
        self.stats.peak_charged[kind] = max(self.stats.peak_charged.get(kind, 0), in_use)
        return runners

    def usage(self, request: ModelRequest, device: str) -> ModelUsage | None:
        resident = self._resident.get(_key(request, device))
        return resident.usage if resident else None

    def close(self) -> None:
        for key in list(self._resident):
            self._unload(key)
        for key in list(self._parked):
            self._drop_parked(key)

    # --- internals --------------------------------------------------------------------------

    def _evict_unused(self, needed: set[Key], upcoming: Sequence[Sequence[Need]]) -> None:
        if self.retain:
            return
        future = {_key(r, d) for step in upcoming for r, d in step}
        for key in list(self._resident):
            if key not in needed and key not in future:
                self._unload(key)
        for key in list(self._parked):
            if key not in needed and key not in future:
                self._drop_parked(key)

    def _ensure(
        self,
        request: ModelRequest,
        device: str,
        needed: set[Key],
        upcoming: Sequence[Sequence[Need]],
        *,
        reserve: int = 0,
    ) -> ModelRunner:
        key = _key(request, device)
        if key in self._resident:
            return self._resident[key].runner
        if key in self._parked:
            return self._restore(key, device, needed, upcoming, reserve)
        spec = self.registry.get(request.name)
        precision = request.precision or spec.default_precision
        estimate = spec.estimate(precision)
        self._make_room(estimate + reserve, device, needed, upcoming)

        weights = request.weights or self.locate(spec)
        runner = spec.factory()
        before = self.probe.used(device)
        start = time.perf_counter()
        try:
            runner.load(
                LoadRequest(
                    device=device, precision=precision, weights=weights, settings=request.settings
                )
            )
        except Exception as exc:
            _safe_unload(runner)
            if isinstance(exc, ModelError):
                raise
            raise ModelError(f"loading model {request.name!r} failed: {exc}") from exc
        seconds = time.perf_counter() - start
        self._add_seconds("load", seconds)
        after = self.probe.used(device)
        measured = after - before if before is not None and after is not None else None
        usage = ModelUsage(
            name=request.name,
            device=device,
            precision=precision,
            estimated_bytes=estimate,
            measured_bytes=measured,
            load_seconds=round(seconds, 4),
            source=str(weights) if weights else None,
        )
        self._resident[key] = Resident(key, request, runner, device, usage)
        self.stats.loads[request.name] += 1
        self.stats.events.append(("load", request.name))
        kind = device_kind(device)
        limit = self.budget.for_device(device)
        if self.charged(device) > limit:
            log.warning(
                "model %s measured %s; resident models now exceed the %s budget of %s",
                request.name,
                format_size(measured),
                kind,
                format_size(limit),
            )
        return runner

    def _make_room(
        self,
        size: int,
        device: str,
        needed: set[Key],
        upcoming: Sequence[Sequence[Need]],
    ) -> None:
        limit = self.budget.for_device(device)
        kind = device_kind(device)
        while self.charged(device) + size > limit:
            candidates = [
                k
                for k, r in self._resident.items()
                if k not in needed and device_kind(r.device) == kind
            ]
            if not candidates:
                held = ", ".join(
                    f"{r.request.name} ({format_size(r.charged)})"
                    for r in self._resident.values()
                    if device_kind(r.device) == kind
                )
                raise MemoryBudgetError(
                    f"cannot fit {format_size(size)} on {device}: the budget is "
                    f"{format_size(limit)} and the current step holds {held}"
                )
            victim = max(candidates, key=lambda k: _next_use(k, upcoming))
            if _next_use(victim, upcoming) < float("inf") and self._try_park(victim):
                continue
            self._unload(victim)

    def _try_park(self, key: Key) -> bool:
        resident = self._resident[key]
        if (
            not self.park_enabled
            or device_kind(resident.device) != "cuda"
            or not isinstance(resident.runner, ParkableRunner)
            or self.charged("cpu") + resident.charged > self.budget.cpu_bytes
        ):
            return False
        start = time.perf_counter()
        try:
            host_bytes = resident.runner.park()
        except Exception:
            log.exception("parking %s failed; unloading it instead", resident.request.name)
            return False
        self._add_seconds("park", time.perf_counter() - start)
        del self._resident[key]
        self._parked[key] = (resident, max(int(host_bytes), 0))
        self.stats.parks[resident.request.name] += 1
        self.stats.events.append(("park", resident.request.name))
        return True

    def _restore(
        self,
        key: Key,
        device: str,
        needed: set[Key],
        upcoming: Sequence[Sequence[Need]],
        reserve: int,
    ) -> ModelRunner:
        resident, _ = self._parked.pop(key)
        self._make_room(resident.charged + reserve, device, needed, upcoming)
        start = time.perf_counter()
        try:
            resident.runner.restore(device)  # type: ignore[attr-defined]
        except Exception as exc:
            _safe_unload(resident.runner)
            name = resident.request.name
            raise ModelError(f"restoring parked model {name!r} failed: {exc}") from exc
        self._add_seconds("restore", time.perf_counter() - start)
        self._resident[key] = resident
        self.stats.restores[resident.request.name] += 1
        self.stats.events.append(("restore", resident.request.name))
        return resident.runner

    def _drop_parked(self, key: Key) -> None:
        resident, _ = self._parked.pop(key)
        _safe_unload(resident.runner)
        self.stats.unloads[resident.request.name] += 1
        self.stats.events.append(("unload", resident.request.name))
        gc.collect()

    def _add_seconds(self, kind: str, seconds: float) -> None:
        self.stats.seconds[kind] = self.stats.seconds.get(kind, 0.0) + seconds

    def _unload(self, key: Key) -> None:
        resident = self._resident.pop(key)
        _safe_unload(resident.runner)
        self.stats.unloads[resident.request.name] += 1
        self.stats.events.append(("unload", resident.request.name))
        gc.collect()


def _next_use(key: Key, upcoming: Sequence[Sequence[Need]]) -> float:
    for distance, step in enumerate(upcoming):
        if any(_key(r, d) == key for r, d in step):
            return distance
    return float("inf")


def _safe_unload(runner: ModelRunner) -> None:
    try:
        runner.unload()
    except Exception:
        log.exception("unloading %r failed", runner)
