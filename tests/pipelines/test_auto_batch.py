"""``batch_size: auto``: the planner picks the generator's batch (and precision) by what fits the
budget and, where the model declares measured step costs, by predicted throughput."""

from __future__ import annotations

import dataclasses

import pytest

from explainmyxray.core.errors import MemoryBudgetError
from explainmyxray.models.vision_language.medgemma import spec as medgemma_spec
from explainmyxray.pipelines.loader import parse_pipeline
from explainmyxray.pipelines.planner import AUTO_BATCHES, CPU_AUTO_BATCH, plan
from explainmyxray.registry.plugins import PluginHost

GiB = 1024**3
PIPELINE = """\
name: auto-batch
device: {device}
budget:
  gpu: {gpu}
  cpu: 64GiB
stages:
  - stage: preprocess
    plugin: image
  - stage: generate
    plugin: medgemma
    options:
      precision: {precision}
      batch_size: {batch}
      max_new_tokens: 150
      max_context_tokens: 96
"""


@pytest.fixture(scope="module")
def host() -> PluginHost:
    plugins = {
        "image": "explainmyxray.plugins.preprocess_image",
        "medgemma": "explainmyxray.plugins.generate_medgemma",
    }
    host = PluginHost(builtins=plugins, discover=False)
    assert host.load_errors == {}
    return host


def planned(host, *, precision="bf16", batch="auto", gpu="12GiB", device="cuda"):
    text = PIPELINE.format(precision=precision, batch=batch, gpu=gpu, device=device)
    pipeline = parse_pipeline(text, host, source="auto.yaml")
    result = plan(pipeline, host)
    generate = next(ps for ps in result.steps if ps.step.stage == "generate")
    return generate, result, pipeline


def fits(host, step, budget: int) -> bool:
    (request,) = step.models
    size = host.models.get(request.name).estimate(request.precision)
    return size + request.workspace_bytes <= budget


def test_auto_takes_the_largest_batch_that_fits_and_the_next_size_would_not(host):
    step, result, pipeline = planned(host, precision="bf16")
    batch = step.step.options.batch_size
    assert batch in AUTO_BATCHES and batch > 8  # not the fixed 8 of before
    assert fits(host, step, pipeline.config.budget.gpu)
    assert result.peak["cuda"] <= pipeline.config.budget.gpu
    larger = AUTO_BATCHES[AUTO_BATCHES.index(batch) - 1]
    with pytest.raises(MemoryBudgetError, match="over the budget"):
        planned(host, precision="bf16", batch=larger)


def test_a_smaller_budget_gets_a_smaller_batch(host):
    at_12, _, _ = planned(host, precision="nf4")
    at_8, _, _ = planned(host, precision="nf4", gpu="8GiB")
    assert at_8.step.options.batch_size < at_12.step.options.batch_size


def test_a_fixed_batch_is_left_alone(host):
    step, _, _ = planned(host, batch=8)
    assert step.step.options.batch_size == 8


def test_on_the_cpu_auto_is_the_plain_default(host):
    step, _, _ = planned(host, device="cpu")
    assert step.step.options.batch_size == CPU_AUTO_BATCH


def test_precision_auto_follows_predicted_throughput_when_costs_are_measured(host, monkeypatch):
    # without a cost for every precision: the largest batch wins (nf4's smaller weights)
    step, _, _ = planned(host, precision="auto")
    assert step.models[0].precision == "nf4"
    nf4_batch = step.step.options.batch_size
    # a cost table in which nf4 steps are far slower makes bf16 (a smaller batch) the faster
    costs = {"bf16": (5.8, 0.034), "nf4": (40.0, 0.5)}
    spec = host.models.get(medgemma_spec.MEDGEMMA_4B)
    monkeypatch.setitem(host.models._specs, spec.name, dataclasses.replace(spec, step_ms=costs))
    step, _, _ = planned(host, precision="auto")
    assert step.models[0].precision == "bf16"
    assert step.step.options.batch_size < nf4_batch
