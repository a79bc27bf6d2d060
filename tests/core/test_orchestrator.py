from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from explainmyxray import hookimpl
from explainmyxray.core.case import Case
from explainmyxray.core.orchestrator import RunSummary
from explainmyxray.pipelines.engine import Engine
from explainmyxray.pipelines.loader import Pipeline, parse_pipeline
from explainmyxray.registry.plugins import PluginHost

from .fakes import FakeReader, FakeRunner, FakeWriter, Recorder, fake_plugins

PIPELINE = """\
name: fake
device: cpu
batch_size: {batch}
budget:
  cpu: 1GiB
stages:
  - stage: preprocess
    plugin: reader
    options:
      fail_on: [broken]
  - stage: generate
    plugin: writer
  - stage: score
    plugin: scorer
"""


@pytest.fixture(autouse=True)
def _reset():
    FakeRunner.live.clear()
    FakeReader.calls.clear()


class OneRun:
    """What the CLI does: one engine for one run, closed after it."""

    def __init__(self, host: PluginHost, pipeline: Pipeline) -> None:
        self.host, self.pipeline = host, pipeline

    def run(self, sources: list[Path], out_dir: Path, **kw) -> RunSummary:
        with Engine(self.host, retain=False) as engine:
            return engine.run(self.pipeline, sources, out_dir, **kw)


def make(batch: int = 8, plugins=None) -> tuple[PluginHost, OneRun]:
    host = PluginHost(builtins={}, discover=False, extra_plugins=plugins or fake_plugins())
    pipeline = parse_pipeline(PIPELINE.format(batch=batch), host, source="fake.yaml")
    return host, OneRun(host, pipeline)


def inputs(tmp_path: Path, names: list[str]) -> list[Path]:
    paths = []
    for name in names:
        p = tmp_path / "in" / name
        p.parent.mkdir(exist_ok=True)
        p.write_bytes(f"not read by the fake reader: {name}".encode())
        paths.append(p)
    return paths


def reports(out: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in out.glob("cases/*/report.json")}


def test_stage_major_batches_load_each_model_once_per_batch(tmp_path):
    recorder = Recorder()
    _host, orch = make(batch=3, plugins=[*fake_plugins(), ("rec", recorder)])
    summary = orch.run(inputs(tmp_path, [f"{i}.png" for i in range(7)]), tmp_path / "out")
    assert summary.ok and summary.finished == 7
    assert FakeReader.calls == [3, 3, 1]
    # writer-a (600) and judge (500) cannot share 1 GiB: each loads once per batch, 3 batches
    assert summary.model_loads == {"writer-a": 3, "judge": 3}
    assert summary.peak_bytes["cpu"] <= 1024**3
    manifest = json.loads((tmp_path / "out" / "run.json").read_text())
    assert manifest["summary"]["finished"] == 7 and manifest["pipeline"]["name"] == "fake"
    assert manifest["summary"]["model_loads"] == {"writer-a": 3, "judge": 3}
    stages = [(e[1], e[3]) for e in recorder.events if e[0] == "before"]
    assert stages[:3] == [("preprocess", 3), ("generate", 3), ("score", 3)]
    assert FakeRunner.live == {"writer-a": 0, "judge": 0}


def test_a_failing_case_is_recorded_and_the_batch_continues(tmp_path):
    recorder = Recorder()
    _host, orch = make(plugins=[*fake_plugins(), ("rec", recorder)])
    summary = orch.run(inputs(tmp_path, ["a.png", "broken.png", "c.png"]), tmp_path / "out")
    assert not summary.ok and summary.failed == 1 and summary.finished == 2
    docs = reports(tmp_path / "out")
    (broken_id,) = [cid for cid, path in summary.paths.items() if path.endswith("broken.png")]
    broken = docs[broken_id]
    assert broken["source"].startswith("sha256:")  # paths are withheld without --keep-phi
    assert broken["errors"] == [
        {
            "stage": "preprocess",
            "plugin": "reader",
            "error_type": "ValueError",
            "message": f"cannot decode {broken['source']}",
        }
    ]
    assert broken["report"] is None  # later stages skipped the failed case
    good = [d for d in docs.values() if not d["errors"]]
    assert all(d["scores"] == [{"metric": "n_findings", "value": 1.0, "details": {}}] for d in good)
    assert [s["stage"] for s in good[0]["provenance"]] == ["preprocess", "generate", "score"]
    assert good[0]["provenance"][1]["models"][0]["name"] == "writer-a"
    assert ("error", "preprocess", "reader", broken["id"]) in recorder.events


def test_a_step_that_raises_fails_its_cases_not_the_run(tmp_path):
    class Crashing(FakeWriter):
        @hookimpl
        def generate(self, cases, step):
            raise RuntimeError("CUDA driver exploded")

    plugins = [p if p[0] != "writer" else ("writer", Crashing()) for p in fake_plugins()]
    _host, orch = make(plugins=plugins)
    summary = orch.run(inputs(tmp_path, ["a.png", "b.png"]), tmp_path / "out")
    assert summary.failed == 2
    for doc in reports(tmp_path / "out").values():
        assert doc["errors"][0]["message"] == "CUDA driver exploded"
        assert doc["errors"][0]["stage"] == "generate"


def test_a_result_of_the_wrong_type_is_a_per_case_plugin_error(tmp_path):
    class Sloppy(FakeWriter):
        @hookimpl
        def generate(self, cases, step):
            return ["FINDINGS: none" for _ in cases]

    plugins = [p if p[0] != "writer" else ("writer", Sloppy()) for p in fake_plugins()]
    _host, orch = make(plugins=plugins)
    orch.run(inputs(tmp_path, ["a.png"]), tmp_path / "out")
    (doc,) = reports(tmp_path / "out").values()
    assert doc["errors"][0]["message"] == (
        "plugin 'writer' returned str from generate(); expected StructuredReport"
    )


def test_rerun_skips_finished_cases_and_force_redoes_them(tmp_path):
    paths = inputs(tmp_path, ["a.png", "b.png"])
    _, orch = make()
    orch.run(paths, tmp_path / "out")
    FakeReader.calls.clear()
    _, orch = make()
    summary = orch.run(paths, tmp_path / "out")
    assert summary.skipped == 2 and FakeReader.calls == []
    _host, orch = make()
    summary = orch.run(paths, tmp_path / "out", force=True)
    assert summary.skipped == 0 and FakeReader.calls == [2]


def test_a_failed_rerun_never_overwrites_a_finished_result(tmp_path):
    paths = inputs(tmp_path, ["a.png"])
    _, orch = make()
    orch.run(paths, tmp_path / "out")
    (case_dir,) = (tmp_path / "out" / "cases").iterdir()
    before = (case_dir / "report.json").read_text()

    class Crashing(FakeWriter):
        @hookimpl
        def generate(self, cases, step):
            raise RuntimeError("out of luck")

    plugins = [p if p[0] != "writer" else ("writer", Crashing()) for p in fake_plugins()]
    _host, orch = make(plugins=plugins)
    summary = orch.run(paths, tmp_path / "out", force=True)
    assert summary.failed == 1
    assert (case_dir / "report.json").read_text() == before
    assert (
        json.loads((case_dir / "error.json").read_text())["errors"][0]["message"] == "out of luck"
    )


def test_failed_cases_are_retried_on_rerun(tmp_path):
    paths = inputs(tmp_path, ["broken.png"])
    _, orch = make()
    assert orch.run(paths, tmp_path / "out").failed == 1
    FakeReader.calls.clear()
    _host, orch = make()
    orch.run(paths, tmp_path / "out")
    assert FakeReader.calls == [1]


def test_out_of_memory_splits_the_batch_and_then_fails_single_cases(tmp_path):
    torch = pytest.importorskip("torch")
    seen: list[int] = []

    class Hungry(FakeWriter):
        @hookimpl
        def generate(self, cases, step):
            seen.append(len(cases))
            if len(cases) > 1 or "huge" in str(cases[0].input_file):
                raise torch.OutOfMemoryError("CUDA out of memory")
            return super().generate(cases, step)

    plugins = [p if p[0] != "writer" else ("writer", Hungry()) for p in fake_plugins()]
    _host, orch = make(plugins=plugins)
    summary = orch.run(inputs(tmp_path, ["a.png", "b.png", "huge.png", "d.png"]), tmp_path / "out")
    assert seen == [4, 2, 1, 1, 2, 1, 1]
    assert summary.finished == 3 and summary.failed == 1
    (failure,) = summary.failures
    assert summary.paths[failure[0]].endswith("huge.png")
    assert failure[2][0].error_type == "OutOfMemoryError"


def test_results_are_written_atomically_without_leftovers(tmp_path):
    _host, orch = make()
    orch.run(inputs(tmp_path, ["a.png"]), tmp_path / "out")
    leftovers = [p for p in (tmp_path / "out").rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []
    (doc,) = reports(tmp_path / "out").values()
    assert doc["schema_version"] == "1.0"
    assert "pixels" not in json.dumps(doc)


def test_a_sidecar_report_is_supplied_to_the_case(tmp_path):
    (path,) = inputs(tmp_path, ["a.png"])
    path.with_suffix(".txt").write_text("FINDINGS: cardiomegaly")

    class Echo(FakeWriter):
        @hookimpl
        def generate(self, cases, step):
            from explainmyxray.core.case import StructuredReport

            return [StructuredReport(text=c.supplied_report, source="echo") for c in cases]

    plugins = [p if p[0] != "writer" else ("writer", Echo()) for p in fake_plugins()]
    _host, orch = make(plugins=plugins)
    orch.run([path], tmp_path / "out")
    (doc,) = reports(tmp_path / "out").values()
    assert doc["report"]["text"] == "FINDINGS: cardiomegaly"
    assert textwrap.dedent(doc["supplied_report"]) == "FINDINGS: cardiomegaly"


def test_every_generate_step_is_kept_as_a_candidate(tmp_path):
    from explainmyxray.core.case import Finding, StructuredReport

    class Second:
        @hookimpl
        def register_stages(self, register):
            register("generate")

        @hookimpl
        def generate(self, cases, step):
            return [
                StructuredReport(findings=[Finding(label="nodule")], source="second") for _ in cases
            ]

    host = PluginHost(
        builtins={}, discover=False, extra_plugins=[*fake_plugins(), ("second", Second())]
    )
    pipeline = parse_pipeline(
        "name: two\ndevice: cpu\nbudget: {cpu: 1GiB}\nstages:\n"
        "  - {stage: preprocess, plugin: reader}\n  - {stage: generate, plugin: writer}\n"
        "  - {stage: generate, plugin: second}\n",
        host,
    )
    with Engine(host) as engine:
        (case,) = engine.run_batch(pipeline, [Case(id="a", source="a.png")])
    assert [c.source for c in case.candidates] == ["writer-a", "second"]
    assert case.report is case.candidates[-1]


def test_the_summary_counts_the_unmapped_statements_of_finished_cases(tmp_path):
    from explainmyxray.report.parse import parse_report

    from .fakes import FakeWriter

    class ReadingWriter(FakeWriter):
        @hookimpl
        def generate(self, cases, step):
            text = "Cardiomegaly. There is a 3 cm lesion in the right lung."
            return [parse_report(text, source="writer") for _ in cases]

    plugins = [(n, ReadingWriter() if n == "writer" else p) for n, p in fake_plugins()]
    _host, orch = make(plugins=plugins)
    summary = orch.run(inputs(tmp_path, ["a.png", "b.png", "broken.png"]), tmp_path / "out")
    assert summary.finished == 2 and summary.unmapped == 2
    run = json.loads((tmp_path / "out" / "run.json").read_text())
    assert run["summary"]["unmapped_statements"] == 2
    written = reports(tmp_path / "out")
    assert all(
        r["report"]["unmapped"][0]["start"] == 14 for r in written.values() if r.get("report")
    )
