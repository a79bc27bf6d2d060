"""configs/pipelines/ensemble.yaml plans within its 12 GiB GPU budget by evicting generators."""

from __future__ import annotations

from pathlib import Path

from explainmyxray.pipelines.loader import parse_pipeline
from explainmyxray.pipelines.planner import plan
from explainmyxray.registry.plugins import DEFAULT_PLUGINS, PluginHost

CONFIG = Path(__file__).resolve().parents[2] / "configs" / "pipelines" / "ensemble.yaml"
ENSEMBLE_PLUGINS = {
    "consensus": "explainmyxray.plugins.generate_consensus",
    "paligemma": "explainmyxray.plugins.generate_paligemma",
}


def test_the_ensemble_config_evicts_each_generator_before_the_next():
    host = PluginHost(builtins={**DEFAULT_PLUGINS, **ENSEMBLE_PLUGINS}, discover=False)
    assert host.load_errors == {}
    pipeline = parse_pipeline(CONFIG.read_text(), host, source=str(CONFIG))
    result = plan(pipeline, host, device="cuda")
    generate_steps = [ps for ps in result.steps if ps.step.stage == "generate"]
    generators = [r.name for ps in generate_steps for r in ps.models]
    assert len(generators) == 2
    events = result.events
    first, second = generators
    assert events.index(("unload", first)) < events.index(("load", second))
    assert result.peak["cuda"] <= pipeline.config.budget.gpu
    sizes = [
        host.models.get(r.name).estimate(r.precision) for ps in generate_steps for r in ps.models
    ]
    assert sum(sizes) > pipeline.config.budget.gpu  # the generators could not share the budget
