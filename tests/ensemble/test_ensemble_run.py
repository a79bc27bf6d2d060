"""An ensemble through the real orchestrator on the CPU: three fake generators whose models do
not fit the budget together, then the consensus step."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from explainmyxray import hookimpl
from explainmyxray.core.plugin_api import ModelRequest
from explainmyxray.pipelines.engine import Engine
from explainmyxray.pipelines.loader import Pipeline, parse_pipeline
from explainmyxray.registry.plugins import PluginHost
from explainmyxray.report.consensus import ConsensusOptions, combine
from explainmyxray.report.parse import parse_report

from ..core.fakes import FakeReader, FakeRunner, fake_spec

CONSENSUS = {"consensus": "explainmyxray.plugins.generate_consensus"}
SIZES_MIB = {"gen-a": 600, "gen-b": 500, "gen-c": 550}  # no two fit in 1 GiB together

TEXTS = {
    "gen-a": "FINDINGS: Cardiomegaly. Small left pleural effusion.\nIMPRESSION: Cardiomegaly.",
    "gen-b": "FINDINGS: Cardiomegaly. No pleural effusion.\nIMPRESSION: Enlarged heart.",
    "gen-c": "FINDINGS: Cardiomegaly. Right pleural effusion. Pulmonary nodule.\n"
    "IMPRESSION: Cardiomegaly.",
}


class FakeGenerator:
    """A generate plugin whose model is one FakeRunner; its report depends on the model and case."""

    def __init__(self, model: str) -> None:
        self.model = model

    @hookimpl
    def register_stages(self, register):
        register("generate", models=lambda o: [ModelRequest(self.model)])

    @hookimpl
    def register_models(self, register):
        register(fake_spec(self.model, SIZES_MIB[self.model]))

    @hookimpl
    def generate(self, cases, step):
        runner = step.model(self.model)
        assert runner.loaded
        loaded = sorted(name for name, count in FakeRunner.live.items() if count)
        assert loaded == [self.model], f"{self.model} runs beside {loaded}"
        return [
            parse_report(TEXTS[self.model] + f" Case {case.id}.", source=runner.name)
            for case in cases
        ]


def pipeline_text(generators: list[str], consensus: bool) -> str:
    steps = ["  - stage: preprocess\n    plugin: reader"]
    steps += [f"  - stage: generate\n    plugin: {g}" for g in generators]
    if consensus:
        steps.append(
            "  - stage: generate\n    plugin: consensus\n    options:\n"
            "      method: vote\n      min_agreement: 0.5\n      arbitrate_with: labeler"
        )
    header = "name: ensemble-fake\ndevice: cpu\nbatch_size: 2\nbudget:\n  cpu: 1GiB\nstages:\n"
    return header + "\n".join(steps) + "\n"


def engine_for(generators: list[str], consensus: bool) -> tuple[Engine, Pipeline]:
    plugins = [("reader", FakeReader()), *((g, FakeGenerator(g)) for g in SIZES_MIB)]
    host = PluginHost(builtins=CONSENSUS, discover=False, extra_plugins=plugins)
    pipeline = parse_pipeline(pipeline_text(generators, consensus), host, source="ensemble.yaml")
    return Engine(host, retain=False), pipeline


def inputs(tmp_path: Path, count: int) -> list[Path]:
    folder = tmp_path / "in"
    folder.mkdir()
    paths = [folder / f"case{i}.png" for i in range(count)]
    for p in paths:
        p.write_bytes(f"not read by the fake reader: {p.name}".encode())
    return paths


def reports(out: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in out.glob("cases/*/report.json")}


@pytest.fixture(autouse=True)
def _reset():
    FakeRunner.live.clear()
    FakeReader.calls.clear()


@pytest.fixture
def ensemble(tmp_path):
    paths = inputs(tmp_path, 3)
    engine, pipeline = engine_for(list(SIZES_MIB), consensus=True)
    with engine:
        summary = engine.run(pipeline, paths, tmp_path / "ensemble")
    return paths, (engine, pipeline), summary, reports(tmp_path / "ensemble")


def test_each_generator_loads_once_per_batch_and_is_evicted_before_the_next(ensemble):
    _paths, (engine, pipeline), summary, _docs = ensemble
    assert summary.ok and summary.finished == 3
    one_batch = [
        ("load", "gen-a"),
        ("unload", "gen-a"),
        ("load", "gen-b"),
        ("unload", "gen-b"),
        ("load", "gen-c"),
        ("unload", "gen-c"),
    ]
    # two batches (3 cases, batch_size 2); the last unload is the engine closing
    assert engine.manager.stats.events == one_batch * 2
    assert summary.model_loads == {"gen-a": 2, "gen-b": 2, "gen-c": 2}
    assert summary.peak_bytes["cpu"] == max(SIZES_MIB.values()) * 1024**2
    assert engine.plan(pipeline).load_order == ["gen-a", "gen-b", "gen-c"]
    assert all(count == 0 for count in FakeRunner.live.values())


def test_the_candidates_are_what_each_generator_writes_alone(ensemble, tmp_path):
    paths, _orch, _summary, docs = ensemble
    for index, generator in enumerate(SIZES_MIB):
        alone, pipeline = engine_for([generator], consensus=False)
        with alone:
            alone.run(pipeline, paths, tmp_path / f"alone-{generator}")
        for case_id, doc in reports(tmp_path / f"alone-{generator}").items():
            assert docs[case_id]["candidates"][index] == doc["report"]
    for doc in docs.values():
        assert [c["source"] for c in doc["candidates"]] == [*SIZES_MIB, "consensus"]
        assert doc["report"] == doc["candidates"][-1]


def test_the_consensus_report_follows_the_rules(ensemble):
    _paths, _orch, _summary, docs = ensemble
    for case_id, doc in docs.items():
        members = [parse_report(TEXTS[g] + f" Case {case_id}.", source=g) for g in SIZES_MIB]
        expected = combine(members, ConsensusOptions(min_agreement=0.5))
        assert doc["report"] == expected.model_dump(mode="json")
        findings = {f["label"]: f for f in doc["report"]["findings"]}
        # cardiomegaly: 3 of 3; effusion: 2 present against 1 absent; nodule: 1 of 3 < 0.5
        assert set(findings) == {"cardiomegaly", "pleural effusion"}
        assert findings["cardiomegaly"]["confidence"] == 1.0
        effusion = findings["pleural effusion"]
        assert effusion["status"] == "present"
        assert effusion["votes"] == {"gen-a": "present", "gen-b": "absent", "gen-c": "present"}
        assert effusion["sources"] == ["gen-a", "gen-b", "gen-c"]
        assert effusion["locations"] == ["loc left", "loc right"]
        assert effusion["confidence"] == pytest.approx(2 / 3, abs=1e-4)
        assert any("'nodule'" in w for w in doc["report"]["warnings"])
        assert doc["report"]["impression"].startswith("Cardiomegaly.")
