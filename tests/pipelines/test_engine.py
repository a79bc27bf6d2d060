"""The long-lived engine: many pipelines and batches over one host and one model manager."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from explainmyxray.core.case import Case
from explainmyxray.core.errors import ConfigError
from explainmyxray.pipelines.engine import Engine
from explainmyxray.registry.plugins import PluginHost

from ..core.fakes import FakeReader, FakeRunner, Recorder, fake_plugins

WRITE = """\
name: {name}
device: cpu
batch_size: 2
budget:
  cpu: {budget}
stages:
  - stage: preprocess
    plugin: reader
  - stage: generate
    plugin: writer
"""

SCORE = WRITE + "  - stage: score\n    plugin: scorer\n"


@pytest.fixture(autouse=True)
def _reset():
    FakeRunner.live.clear()
    FakeReader.calls.clear()


@pytest.fixture
def host() -> PluginHost:
    return PluginHost(builtins={}, discover=False, extra_plugins=fake_plugins())


def pipeline_file(folder: Path, name: str, template: str = WRITE, budget: str = "2GiB") -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(template.format(name=name, budget=budget))
    return path


def images(folder: Path, count: int) -> list[Path]:
    (folder / "in").mkdir(exist_ok=True)
    paths = [folder / "in" / f"case{i}.png" for i in range(count)]
    for p in paths:
        p.write_bytes(f"not read by the fake reader: {p.name}".encode())
    return paths


def loads(engine: Engine) -> list[str]:
    return [name for kind, name in engine.manager.stats.events if kind == "load"]


def test_two_pipelines_on_one_engine_load_their_shared_model_once(host, tmp_path):
    first = pipeline_file(tmp_path, "first")
    second = pipeline_file(tmp_path, "second", SCORE)
    sources = images(tmp_path, 3)
    with Engine(host) as engine:
        one = engine.run(first, sources, tmp_path / "out-1")
        two = engine.run(second, sources, tmp_path / "out-2")
        assert one.ok and two.ok and two.finished == 3
        assert loads(engine) == ["writer-a", "judge"]
        assert FakeRunner.live == {"writer-a": 1, "judge": 1}
        # each run reports its own loads: the second found writer-a resident
        assert one.model_loads == {"writer-a": 1}
        assert two.model_loads == {"judge": 1}
        manifest = json.loads((tmp_path / "out-2" / "run.json").read_text())
        assert manifest["pipeline"]["name"] == "second"
        assert manifest["summary"]["model_loads"] == {"judge": 1}
    assert FakeRunner.live == {"writer-a": 0, "judge": 0}


def test_a_model_no_pipeline_needs_now_stays_until_its_room_is_needed(host, tmp_path):
    writes = pipeline_file(tmp_path, "writes")
    scores = tmp_path / "scores.yaml"
    scores.write_text(
        "name: scores\ndevice: cpu\nbudget: {cpu: 2GiB}\nstages:\n"
        "  - {stage: preprocess, plugin: reader}\n  - {stage: score, plugin: scorer}\n"
    )

    def alternate(engine: Engine) -> None:
        for i, path in enumerate([writes, scores, writes]):
            engine.run_batch(path, [Case(id=f"c{i}", source=f"c{i}.png")])

    with Engine(host) as kept:
        alternate(kept)
        assert loads(kept) == ["writer-a", "judge"]
        assert FakeRunner.live == {"writer-a": 1, "judge": 1}
    with Engine(host, retain=False) as tight:
        alternate(tight)
        # without retain, each model goes as soon as a pipeline that does not need it runs
        assert loads(tight) == ["writer-a", "judge", "writer-a"]
        assert FakeRunner.live == {"writer-a": 1, "judge": 0}
    assert FakeRunner.live == {"writer-a": 0, "judge": 0}


def test_run_batch_runs_every_step_in_memory_and_writes_nothing(host, tmp_path):
    writes = pipeline_file(tmp_path, "writes", SCORE)
    with Engine(host) as engine:
        for round_ in range(3):
            cases = [Case(id=f"r{round_}-{i}", source=f"{i}.png") for i in range(2)]
            done = engine.run_batch(writes, cases)
            assert done is cases
            assert all(c.report and c.report.source == "writer-a" for c in cases)
            assert all(s.metric == "n_findings" for c in cases for s in c.scores)
        # writer-a (600 MiB) and judge (500 MiB) fit 2 GiB together: loaded once for 3 batches
        assert engine.manager.stats.loads == {"writer-a": 1, "judge": 1}
    assert list(tmp_path.iterdir()) == [writes]


def test_a_failing_case_in_a_batch_carries_its_error(host, tmp_path):
    writes = pipeline_file(tmp_path, "writes")
    path = tmp_path / "fails.yaml"
    path.write_text(
        writes.read_text().replace(
            "plugin: reader", "plugin: reader\n    options: {fail_on: [bad]}"
        )
    )
    with Engine(host) as engine:
        cases = [Case(id="g", source="g.png"), Case(id="b", source="bad.png")]
        good, bad = engine.run_batch(path, cases)
    assert good.report is not None and not good.failed
    assert bad.failed and bad.errors[0].stage == "preprocess" and bad.report is None


def test_load_reads_a_changed_file_again_and_knows_shipped_names(host, tmp_path):
    path = pipeline_file(tmp_path, "first")
    engine = Engine(host)
    assert engine.load(path) is engine.load(path)
    path.write_text(path.read_text().replace("name: first", "name: renamed"))
    assert engine.load(path).name == "renamed"
    with pytest.raises(ConfigError, match="no such pipeline file or shipped pipeline"):
        engine.load(tmp_path / "missing.yaml")


def test_plan_uses_the_engine_device_and_budget(host, tmp_path):
    from explainmyxray.core.memory import GiB, MemoryBudget

    path = pipeline_file(tmp_path, "first")
    engine = Engine(host, device="cpu", budget=MemoryBudget(gpu_bytes=GiB, cpu_bytes=3 * GiB))
    plan = engine.plan(path)
    assert plan.budget.cpu_bytes == 3 * GiB
    assert [ps.device for ps in plan.steps] == ["cpu", "cpu"]
    assert plan.load_order == ["writer-a"] and plan.batch_size == 2


def test_a_progress_observer_sees_only_its_own_run(host, tmp_path):
    path = pipeline_file(tmp_path, "first")
    recorder = Recorder()
    with Engine(host) as engine:
        engine.run(path, images(tmp_path, 1), tmp_path / "out", progress=recorder)
        seen = list(recorder.events)
        engine.run(path, images(tmp_path, 1), tmp_path / "out", force=True)
    assert [e[:3] for e in seen if e[0] == "before"] == [
        ("before", "preprocess", "reader"),
        ("before", "generate", "writer"),
    ]
    assert recorder.events == seen


def test_batches_from_several_threads_share_one_set_of_models(host, tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    path = pipeline_file(tmp_path, "writes", SCORE)

    def batch(i: int) -> list[Case]:
        return engine.run_batch(path, [Case(id=f"t{i}-{j}", source=f"{j}.png") for j in range(2)])

    with Engine(host) as engine, ThreadPoolExecutor(4) as pool:
        done = [c for cases in pool.map(batch, range(8)) for c in cases]
        assert len(done) == 16 and not any(c.failed for c in done)
        assert all(c.report.source == "writer-a" and c.scores for c in done)
        assert engine.manager.stats.loads == {"writer-a": 1, "judge": 1}
        assert sorted(u.name for u in engine.resident()) == ["judge", "writer-a"]
    assert engine.resident() == []
