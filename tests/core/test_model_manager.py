from __future__ import annotations

import pytest

from explainmyxray.core.errors import MemoryBudgetError, ModelError
from explainmyxray.core.memory import MemoryBudget
from explainmyxray.core.model_manager import ModelManager
from explainmyxray.core.plugin_api import ModelRequest, ModelSpec
from explainmyxray.registry.models import ModelRegistry

from .fakes import FakeRunner, MiB, fake_spec


class ByteProbe:
    """Pretends each loaded FakeRunner occupies ``actual`` MiB (measured, unlike the estimate)."""

    def __init__(self, actual: dict[str, int]) -> None:
        self.actual = actual

    def used(self, device: str) -> int:
        return sum(self.actual[n] * MiB * c for n, c in FakeRunner.live.items())


@pytest.fixture(autouse=True)
def _reset():
    FakeRunner.live.clear()


def registry(**sizes: int) -> ModelRegistry:
    reg = ModelRegistry()
    for name, mib in sizes.items():
        reg.add(fake_spec(name, mib))
    return reg


def req(*names: str) -> list[ModelRequest]:
    return [ModelRequest(n) for n in names]


def on(device: str, *steps: list[str]) -> list[list[tuple[ModelRequest, str]]]:
    return [[(r, device) for r in req(*s)] for s in steps]


def run_schedule(manager: ModelManager, schedule: list[list[str]], device: str = "cuda"):
    peaks = []
    for i, step in enumerate(schedule):
        runners = manager.prepare(req(*step), device, on(device, *schedule[i + 1 :]))
        assert all(r.loaded for r in runners.values())
        assert set(runners) == set(step)
        peaks.append(manager.charged(device))
    return peaks


def test_everything_fits_each_model_loads_once_and_stays():
    manager = ModelManager(registry(a=400, b=300, c=200), MemoryBudget(gpu_bytes=1000 * MiB))
    peaks = run_schedule(manager, [["a"], ["b"], ["a", "c"], ["b"]])
    assert dict(manager.stats.loads) == {"a": 1, "b": 1, "c": 1}
    assert max(peaks) == 900 * MiB


def test_peak_stays_within_budget_and_loads_are_minimal_under_pressure():
    budget = MemoryBudget(gpu_bytes=1000 * MiB)
    manager = ModelManager(registry(a=600, b=500, c=300), budget)
    peaks = run_schedule(manager, [["a"], ["c"], ["b"], ["c"], ["a"]])
    assert max(peaks) <= budget.gpu_bytes
    assert max(manager.stats.peak_charged.values()) <= budget.gpu_bytes
    # c (needed again soon) survives; a is evicted for b, then reloaded at the end: 4 loads
    assert dict(manager.stats.loads) == {"a": 2, "b": 1, "c": 1}
    assert manager.stats.events[:4] == [
        ("load", "a"),
        ("load", "c"),
        ("unload", "a"),
        ("load", "b"),
    ]


def test_model_needed_by_next_step_is_not_reloaded():
    manager = ModelManager(registry(a=500, b=400, c=400), MemoryBudget(gpu_bytes=1000 * MiB))
    run_schedule(manager, [["a"], ["b"], ["a"], ["c"]])
    # a, needed again at step 3, survives step 2; b goes first, a only once it is never needed
    assert manager.stats.loads["a"] == 1
    assert manager.stats.events == [
        ("load", "a"),
        ("load", "b"),
        ("unload", "b"),
        ("unload", "a"),
        ("load", "c"),
    ]


def test_models_never_needed_again_are_released_before_the_next_load():
    manager = ModelManager(registry(a=100, b=100), MemoryBudget(gpu_bytes=1000 * MiB))
    run_schedule(manager, [["a"], ["b"]])
    assert [r.request.name for r in manager.resident()] == ["b"]


def test_a_model_bigger_than_the_budget_is_a_clear_error():
    manager = ModelManager(registry(big=2000), MemoryBudget(gpu_bytes=1000 * MiB))
    with pytest.raises(
        MemoryBudgetError, match=r"big \(1.95 GiB\).*over the budget of 1000.00 MiB"
    ):
        manager.prepare(req("big"), "cuda")
    assert manager.stats.loads["big"] == 0


def test_a_step_whose_models_together_exceed_the_budget_is_an_error():
    manager = ModelManager(registry(a=600, b=600), MemoryBudget(gpu_bytes=1000 * MiB))
    with pytest.raises(MemoryBudgetError, match=r"a .* \+ b"):
        manager.prepare(req("a", "b"), "cuda")


def test_measured_usage_is_recorded_and_charged_when_larger_than_the_estimate():
    budget = MemoryBudget(gpu_bytes=1000 * MiB)
    manager = ModelManager(registry(a=300, b=300), budget, probe=ByteProbe({"a": 700, "b": 300}))
    manager.prepare(req("a"), "cuda", on("cuda", ["b"]))
    usage = manager.usage(ModelRequest("a"), "cuda")
    assert usage is not None
    assert usage.estimated_bytes == 300 * MiB and usage.measured_bytes == 700 * MiB
    manager.prepare(req("b"), "cuda", [])
    # a was charged at its measured 700 MiB, so loading b (300) had to evict it
    assert ("unload", "a") in manager.stats.events


def test_host_and_gpu_budgets_are_separate():
    manager = ModelManager(
        registry(a=800, b=800), MemoryBudget(gpu_bytes=1000 * MiB, cpu_bytes=1000 * MiB)
    )
    manager.prepare(req("a"), "cuda", on("cpu", ["b"]))
    manager.prepare(req("b"), "cpu", on("cuda", ["a"]))
    assert {r.request.name for r in manager.resident()} == {"a", "b"}
    assert manager.charged("cuda") == manager.charged("cpu") == 800 * MiB


def test_precision_changes_the_estimate_and_the_key():
    manager = ModelManager(registry(a=800), MemoryBudget(gpu_bytes=1000 * MiB))
    manager.prepare([ModelRequest("a", precision="fp16")], "cuda")
    assert manager.charged("cuda") == 400 * MiB
    with pytest.raises(Exception, match="no precision 'int3'"):
        manager.prepare([ModelRequest("a", precision="int3")], "cuda")


def test_close_unloads_everything():
    manager = ModelManager(registry(a=100, b=100), MemoryBudget())
    manager.prepare(req("a", "b"), "cpu")
    manager.close()
    assert manager.resident() == []
    assert FakeRunner.live == {"a": 0, "b": 0}


def test_a_failing_load_is_a_model_error_and_leaves_nothing_resident():
    class Broken:
        def load(self, request):
            raise RuntimeError("checkpoint is truncated")

        def unload(self):
            pass

    reg = ModelRegistry()
    reg.add(
        ModelSpec(name="x", factory=Broken, memory_bytes={"fp32": MiB}, default_precision="fp32")
    )
    manager = ModelManager(reg, MemoryBudget())
    with pytest.raises(ModelError, match="loading model 'x' failed: checkpoint is truncated"):
        manager.prepare(req("x"), "cpu")
    assert manager.resident() == []


def test_the_step_workspace_is_kept_free_and_counts_towards_the_peak():
    budget = MemoryBudget(gpu_bytes=1000 * MiB)
    manager = ModelManager(registry(a=500, b=300), budget)
    manager.prepare(req("a"), "cuda", on("cuda", ["a"]))
    # b plus 300 MiB of activations do not fit beside a (500 + 300 + 300 > 1000): a must go
    manager.prepare([ModelRequest("b", workspace_bytes=300 * MiB)], "cuda", on("cuda", ["a"]))
    assert ("unload", "a") in manager.stats.events
    assert manager.stats.peak_charged["cuda"] == 600 * MiB
    with pytest.raises(MemoryBudgetError, match=r"workspace \(800.00 MiB\)"):
        manager.prepare([ModelRequest("b", workspace_bytes=800 * MiB)], "cuda")


class ParkingRunner(FakeRunner):
    def park(self) -> int:
        self.where = "host"
        return 123 * MiB

    def restore(self, device: str) -> None:
        self.where = device


def parking_registry(**sizes: int) -> ModelRegistry:
    reg = ModelRegistry()
    for name, mib in sizes.items():
        reg.add(
            ModelSpec(
                name=name,
                factory=lambda n=name: ParkingRunner(n),
                memory_bytes={"bf16": mib * MiB},
                default_precision="bf16",
            )
        )
    return reg


def test_an_evicted_model_needed_again_is_parked_and_restored_not_reloaded():
    budget = MemoryBudget(gpu_bytes=1000 * MiB, cpu_bytes=4000 * MiB)
    manager = ModelManager(parking_registry(a=600, b=600), budget)
    manager.prepare(req("a"), "cuda", on("cuda", ["b"], ["a"], ["b"]))
    manager.prepare(req("b"), "cuda", on("cuda", ["a"], ["b"]))
    # a is parked: its host copy is charged to the host budget, never to the GPU's
    assert [r.request.name for r in manager.parked()] == ["a"]
    assert manager.charged("cuda") == 600 * MiB and manager.charged("cpu") == 123 * MiB
    manager.prepare(req("a"), "cuda", on("cuda", ["b"]))
    manager.prepare(req("b"), "cuda", [])
    assert dict(manager.stats.loads) == {"a": 1, "b": 1}
    assert manager.stats.events == [
        ("load", "a"),
        ("park", "a"),
        ("load", "b"),
        ("park", "b"),
        ("restore", "a"),
        ("unload", "a"),
        ("restore", "b"),
    ]
    assert set(manager.stats.seconds) == {"load", "park", "restore"}
    manager.close()
    assert FakeRunner.live == {"a": 0, "b": 0}


def test_parking_respects_the_host_budget_and_skips_models_never_needed_again():
    tight = MemoryBudget(gpu_bytes=1000 * MiB, cpu_bytes=500 * MiB)
    manager = ModelManager(parking_registry(a=600, b=600), tight)
    run_schedule(manager, [["a"], ["b"], ["a"]])
    assert manager.stats.parks == {} and manager.stats.loads["a"] == 2
    roomy = ModelManager(parking_registry(a=600, b=600), MemoryBudget(gpu_bytes=1000 * MiB))
    run_schedule(roomy, [["a"], ["b"]])
    assert roomy.stats.parks == {} and ("unload", "a") in roomy.stats.events
