"""The plugin contract as a plugin author meets it: each test is one defect a new author hit."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from explainmyxray import hookimpl
from explainmyxray.core import hookspecs
from explainmyxray.core.case import Case, Finding, GroundedRegion, Grounding, StructuredReport
from explainmyxray.core.plugin_api import ModelSpec
from explainmyxray.pipelines.engine import Engine
from explainmyxray.pipelines.loader import parse_pipeline
from explainmyxray.registry.plugins import PluginHost
from explainmyxray.registry.weights import NO_WEIGHTS_NEEDED, weights_status

from .fakes import FakeRunner, fake_plugins, fake_spec

ROOT = Path(__file__).resolve().parents[2]


def host(plugins, **kw) -> PluginHost:
    return PluginHost(builtins=kw.pop("builtins", {}), discover=False, extra_plugins=plugins, **kw)


def install(folder: Path, name: str, source: str) -> dict[str, str]:
    """A real installed distribution (dist-info + module) whose entry point is ``name``; the
    environment for a subprocess that should see it."""
    module = f"emx_contract_{name.replace('-', '_')}"
    dist = folder / f"{module}-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(f"[explainmyxray.plugins]\n{name} = {module}\n")
    (folder / f"{module}.py").write_text(textwrap.dedent(source))
    env = dict(os.environ, HF_HUB_OFFLINE="1")
    env["PYTHONPATH"] = os.pathsep.join([str(folder), str(ROOT), env.get("PYTHONPATH", "")])
    return env


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "explainmyxray", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


# --- ModelSpec example ---------------------------------------------------------------------


def test_the_register_models_docstring_example_builds_a_model_spec():
    doc = inspect.getdoc(hookspecs.register_models) or ""
    _, _, rest = doc.partition("::\n")
    assert rest, "register_models documents no example"
    example = textwrap.dedent(rest.lstrip("\n").split("\n\n")[0])
    registered: list[ModelSpec] = []
    namespace = {"register": registered.append, "ModelSpec": ModelSpec, "AcmeRunner": FakeRunner}
    exec(compile(example, "register_models example", "exec"), namespace)
    (spec,) = registered
    assert spec.default_precision in spec.memory_bytes and spec.estimate(None) > 0
    assert host([("acme", _registering(spec))]).models.get(spec.name).plugin == "acme"


def _registering(spec: ModelSpec):
    class Plugin:
        @hookimpl
        def register_models(self, register):
            register(spec)

    return Plugin()


# --- a plugin that exits at import ---------------------------------------------------------


def test_sys_exit_at_import_is_recorded_and_every_command_still_works(tmp_path):
    env = install(tmp_path, "quitter", "import sys\nsys.exit(3)\n")
    result = cli("plugins", "--json", env=env)
    assert result.returncode == 0, result.stderr
    infos = {i["name"]: i for i in json.loads(result.stdout)}
    assert "sys.exit(3)" in infos["quitter"]["error"]
    assert infos["image"]["error"] is None  # the built-ins are all there


def test_sys_exit_in_a_builtin_is_recorded_like_an_import_error(tmp_path, monkeypatch):
    (tmp_path / "exiting_mod.py").write_text("raise SystemExit('no GPU, bye')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    h = host(fake_plugins(), builtins={"exiting": "exiting_mod"})
    assert h.load_errors["exiting"].startswith("SystemExit")
    assert "no GPU, bye" in h.load_errors["exiting"]
    assert h.plugins_for("preprocess") == ["reader"]


def test_ctrl_c_during_a_plugin_import_still_interrupts(tmp_path, monkeypatch):
    (tmp_path / "interrupted_mod.py").write_text("raise KeyboardInterrupt\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(KeyboardInterrupt):
        host(fake_plugins(), builtins={"slow": "interrupted_mod"})


# --- unknown hooks --------------------------------------------------------------------------


def test_a_misspelt_hook_is_an_error_naming_the_plugin_and_the_hook_it_meant():
    class Typo:
        @hookimpl
        def befor_stage_run(self, stage, plugin, cases):
            pass

    h = host([*fake_plugins(), ("typo", Typo())])
    error = h.load_errors["typo"]
    assert "plugin 'typo'" in error and "'befor_stage_run'" in error
    assert "did you mean 'before_stage_run'?" in error
    assert not h.pm.has_plugin("typo") and h.plugins_for("generate") == ["writer"]


def test_an_optional_hook_the_framework_does_not_know_is_allowed():
    class Ahead:
        @hookimpl(optionalhook=True)
        def on_run_finished(self, summary):
            pass

    h = host([*fake_plugins(), ("ahead", Ahead())])
    assert "ahead" not in h.load_errors


# --- model name conflicts --------------------------------------------------------------------


class _Judge:
    """A second plugin that registers the fake scorer's model name."""

    @hookimpl
    def register_models(self, register):
        register(fake_spec("judge", 1))


@pytest.mark.parametrize("order", ["scorer first", "copycat first"])
def test_a_model_name_two_plugins_register_fails_both_whatever_the_order(order):
    plugins = fake_plugins()
    plugins = [*plugins, ("copycat", _Judge())]
    if order == "copycat first":
        plugins = plugins[::-1]
    h = host(plugins)
    for name in ("scorer", "copycat"):
        assert "model 'judge' is registered by" in h.load_errors[name]
        assert "'scorer'" in h.load_errors[name] and "'copycat'" in h.load_errors[name]
    assert "judge" not in h.models
    assert h.plugins_for("generate") == ["writer"] and "score" not in h.plugins_for("score")


# --- models without weights ----------------------------------------------------------------


def test_a_model_that_needs_no_weights_is_ready():
    spec = fake_spec("rule", 1, needs_weights=False)
    assert weights_status(spec) == NO_WEIGHTS_NEEDED
    assert weights_status(fake_spec("heavy", 1)) is None


def test_models_list_and_verify_report_a_weightless_model_ready(tmp_path):
    env = install(
        tmp_path,
        "weightless",
        """
        from explainmyxray import hookimpl
        from explainmyxray.core.plugin_api import ModelSpec

        class Runner:
            def load(self, request):
                pass

            def unload(self):
                pass

        @hookimpl
        def register_models(register):
            register(ModelSpec(name="rule-model", factory=Runner, memory_bytes={"fp32": 1},
                               default_precision="fp32", needs_weights=False))
        """,
    )
    listing = cli("models", "list", "--json", env=env)
    assert listing.returncode == 0, listing.stderr
    rows = {r["name"]: r for r in json.loads(listing.stdout)}
    assert rows["rule-model"]["weights"] == NO_WEIGHTS_NEEDED
    verify = cli("models", "verify", "rule-model", env=env)
    assert verify.returncode == 0 and "needs no weights" in verify.stdout
    doctor = cli("doctor", "--json", env=env)
    assert json.loads(doctor.stdout)["models"]["rule-model"] == NO_WEIGHTS_NEEDED


# --- lifecycle hooks through pluggy ----------------------------------------------------------


def test_a_wrapper_lifecycle_hook_wraps_the_observers_and_a_failing_one_is_contained(caplog):
    calls: list[str] = []

    class Timer:
        @hookimpl(wrapper=True)
        def before_stage_run(self, stage, plugin, cases):
            calls.append("wrapper in")
            result = yield
            calls.append("wrapper out")
            return result

    class Observer:
        @hookimpl
        def before_stage_run(self, stage, plugin, cases):
            calls.append(f"observer {stage}")

    class Grumpy:
        @hookimpl
        def before_stage_run(self, stage, plugin, cases):
            raise RuntimeError("observer bug")

    plugins = [*fake_plugins(), ("grumpy", Grumpy()), ("obs", Observer()), ("timer", Timer())]
    h = host(plugins)
    h.notify("before_stage_run", stage="preprocess", plugin="reader", cases=[])
    assert calls == ["wrapper in", "observer preprocess", "wrapper out"]
    assert "observer bug" in caplog.text


# --- Finding.regions ------------------------------------------------------------------------


class _Grounder:
    """A localize plugin that grounds every finding to the patient's right lung."""

    @hookimpl
    def register_stages(self, register):
        register("localize")

    @hookimpl
    def localize(self, cases, step):
        box = {"x0": 0, "y0": 0, "x1": 4, "y1": 4}
        return [
            [
                Grounding(
                    finding=f.label,
                    regions=[
                        GroundedRegion(region="right_lung", box=box),
                        GroundedRegion(region="right_lower_zone", box=box),
                        GroundedRegion(region="right_lung", box=box),
                    ],
                )
                for f in case.report.findings
            ]
            for case in cases
        ]


def test_each_finding_lists_the_regions_it_was_grounded_to():
    h = host([*fake_plugins(), ("grounder", _Grounder())])
    pipeline = parse_pipeline(
        "name: g\ndevice: cpu\nbudget: {cpu: 1GiB}\nstages:\n"
        "  - {stage: preprocess, plugin: reader}\n  - {stage: generate, plugin: writer}\n"
        "  - {stage: localize, plugin: grounder}\n",
        h,
    )
    with Engine(h) as engine:
        (case,) = engine.run_batch(pipeline, [Case(id="a", source="a.png")])
    assert not case.failed, case.errors
    assert [f.regions for f in case.report.findings] == [["right_lung", "right_lower_zone"]]


def test_regions_follow_the_label_when_groundings_come_in_another_order():
    from explainmyxray.core.orchestrator import link_regions

    box = {"x0": 0, "y0": 0, "x1": 1, "y1": 1}
    report = StructuredReport(findings=[Finding(label="a"), Finding(label="b")])
    groundings = [
        Grounding(finding="b", regions=[GroundedRegion(region="left_lung", box=box)]),
        Grounding(finding="a", regions=[GroundedRegion(region="spine", box=box)]),
    ]
    link_regions(report.findings, groundings)
    assert [f.regions for f in report.findings] == [["spine"], ["left_lung"]]


# --- a closed pipe ---------------------------------------------------------------------------


def test_output_into_a_closed_pipe_ends_quietly():
    env = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1")
    process = subprocess.Popen(
        [sys.executable, "-m", "explainmyxray", "plugins", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    process.stdout.close()  # the reader is gone before the command writes anything (like head)
    _, stderr = process.communicate(timeout=300)
    assert stderr.decode() == ""
    assert process.returncode == 141
