from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from explainmyxray.core.memory import GiB
from explainmyxray.pipelines.loader import PipelineError, load_pipeline, parse_pipeline
from explainmyxray.pipelines.planner import plan
from explainmyxray.registry.plugins import PluginHost

from ..core.fakes import ReaderOptions, WriterOptions, fake_plugins

GOOD = """\
name: test
device: cpu
budget:
  gpu: 1GiB
  cpu: 2GB
stages:
  - stage: preprocess
    plugin: reader
    options:
      size: 16
  - stage: generate
    plugin: writer
    options:
      model: writer-b
      temperature: 0.2
  - stage: score
    plugin: scorer
"""


@pytest.fixture(scope="module")
def host() -> PluginHost:
    return PluginHost(builtins={}, discover=False, extra_plugins=fake_plugins())


def problems_of(text: str, host: PluginHost) -> list[str]:
    with pytest.raises(PipelineError) as info:
        parse_pipeline(textwrap.dedent(text), host, source="p.yaml")
    return [str(p) for p in info.value.problems]


def test_a_valid_pipeline_gets_typed_options_and_sizes(host):
    pipeline = parse_pipeline(GOOD, host, source="p.yaml")
    assert pipeline.config.budget.gpu == GiB and pipeline.config.budget.cpu == 2 * 10**9
    assert [s.label for s in pipeline.steps] == [
        "preprocess:reader",
        "generate:writer",
        "score:scorer",
    ]
    assert pipeline.steps[0].options == ReaderOptions(size=16)
    assert pipeline.steps[1].options == WriterOptions(model="writer-b", temperature=0.2)


def test_a_typo_in_an_option_names_the_line_the_field_and_a_suggestion(host):
    text = GOOD.replace("temperature: 0.2", "temprature: 0.2")
    assert problems_of(text, host) == [
        "p.yaml:15: stages[1].options.temprature: unknown field; did you mean 'temperature'?"
    ]


def test_every_problem_is_reported_not_just_the_first(host):
    text = GOOD.replace("size: 16", "size: tiny").replace("plugin: scorer", "plugin: scorrer")
    text = text.replace("device: cpu", "device: tpu").replace("gpu: 1GiB", "gpu: lots")
    found = problems_of(text, host)
    assert "p.yaml:2: device: Value error, expected auto, cpu, cuda or cuda:N" in found
    assert any(p.startswith("p.yaml:4: budget.gpu: Value error, expected a size") for p in found)
    assert any(
        p.startswith("p.yaml:10: stages[0].options.size: Input should be a valid integer")
        for p in found
    )
    assert (
        "p.yaml:17: stages[2].plugin: no plugin 'scorrer' for stage 'score' (did you mean "
        "'scorer'?); available: scorer"
    ) in found


def test_unknown_plugin_lists_the_available_ones(host):
    text = GOOD.replace("plugin: writer", "plugin: medgemma")
    (problem,) = problems_of(text, host)
    assert (
        problem == "p.yaml:12: stages[1].plugin: no plugin 'medgemma' for stage 'generate'; "
        "available: writer"
    )


def test_missing_fields_and_stage_order(host):
    found = problems_of(
        """\
        name: x
        stages:
          - stage: preprocess
            plugin: reader
          - stage: generate
        """,
        host,
    )
    assert found == ["p.yaml:5: stages[1].plugin: field required"]
    (problem,) = problems_of(
        """\
        name: x
        stages:
          - {stage: score, plugin: scorer}
          - {stage: preprocess, plugin: reader}
        """,
        host,
    )
    assert problem == "p.yaml:1: Value error, the first stage must be preprocess"


def test_unknown_top_level_key_and_bad_yaml(host):
    assert problems_of(GOOD + "batch_sise: 4\n", host) == [
        "p.yaml:18: batch_sise: unknown field; did you mean 'batch_size'?"
    ]
    (problem,) = problems_of("name: [unclosed\n", host)
    assert problem.startswith("p.yaml:2: not valid YAML")


def test_only_safe_yaml_is_accepted(host):
    (problem,) = problems_of("name: !!python/object/apply:os.system ['echo hi']\n", host)
    assert "not valid YAML" in problem and "python/object" in problem


def test_missing_file_is_a_config_error_naming_it(host, tmp_path):
    with pytest.raises(Exception, match=r"nothere\.yaml: cannot read pipeline file"):
        load_pipeline(tmp_path / "nothere.yaml", host)


def test_plan_predicts_load_order_and_peak(host):
    text = GOOD.replace("model: writer-b", "model: writer-a")
    result = plan(parse_pipeline(text, host), host)
    # writer-a (600 MiB) then judge (500 MiB) do not fit 1 GiB together: writer-a is evicted
    assert result.events == [("load", "writer-a"), ("unload", "writer-a"), ("load", "judge")]
    assert result.peak["cpu"] == 600 * 1024**2
    assert [s.device for s in result.steps] == ["cpu", "cpu", "cpu"]


@pytest.mark.parametrize(("gpu", "expected"), [("900MiB", "fp32"), ("700MiB", "fp16")])
def test_auto_precision_picks_the_best_that_fits(gpu, expected):
    from explainmyxray import hookimpl
    from explainmyxray.core.plugin_api import ModelRequest

    from ..core.fakes import FakeReader, FakeWriter

    class AutoWriter(FakeWriter):
        @hookimpl
        def register_stages(self, register):
            register(
                "generate",
                options=WriterOptions,
                models=lambda o: [
                    ModelRequest(o.model, precision="auto", workspace_bytes=200 * 1024**2)
                ],
            )

    host = PluginHost(
        builtins={},
        discover=False,
        extra_plugins=[("reader", FakeReader()), ("writer", AutoWriter())],
    )
    text = (
        f"name: t\ndevice: cuda\nbudget: {{gpu: {gpu}}}\nstages:\n"
        "  - {stage: preprocess, plugin: reader}\n  - {stage: generate, plugin: writer}\n"
    )
    result = plan(parse_pipeline(text, host), host)
    # writer-a: fp32 600 MiB, fp16 300 MiB; with 200 MiB of workspace fp32 needs 800 MiB
    (request,) = result.steps[1].models
    assert request.precision == expected
    assert result.peak["cuda"] == (800 if expected == "fp32" else 500) * 1024**2


def test_relative_model_paths_are_relative_to_the_pipeline_file(tmp_path):
    from explainmyxray import hookimpl
    from explainmyxray.core.plugin_api import ModelRequest

    from ..core.fakes import FakeReader, FakeWriter

    class LocalWriter(FakeWriter):
        @hookimpl
        def register_stages(self, register):
            register(
                "generate",
                options=WriterOptions,
                models=lambda o: [
                    ModelRequest(
                        o.model,
                        weights=Path("weights/a"),
                        settings={"adapter": Path("adapters/v2"), "mode": "fast"},
                    )
                ],
            )

    host = PluginHost(
        builtins={},
        discover=False,
        extra_plugins=[("reader", FakeReader()), ("writer", LocalWriter())],
    )
    file = tmp_path / "conf" / "p.yaml"
    file.parent.mkdir()
    file.write_text(
        "name: t\ndevice: cpu\nstages:\n"
        "  - {stage: preprocess, plugin: reader}\n  - {stage: generate, plugin: writer}\n"
    )
    (request,) = plan(load_pipeline(file, host), host).steps[1].models
    assert request.weights == file.parent / "weights/a"
    assert request.settings == {"adapter": file.parent / "adapters/v2", "mode": "fast"}
