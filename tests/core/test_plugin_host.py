from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from explainmyxray import hookimpl
from explainmyxray.core.case import Case
from explainmyxray.core.context import StepContext
from explainmyxray.core.errors import PluginError, UnknownPluginError
from explainmyxray.registry.plugins import DEFAULT_PLUGINS, PluginHost

from .fakes import FakeReader, ReaderOptions, Recorder, fake_plugins


def host(**kw) -> PluginHost:
    kw.setdefault("builtins", {})
    kw.setdefault("discover", False)
    return PluginHost(extra_plugins=kw.pop("plugins", fake_plugins()), **kw)


def test_builtins_register_like_external_plugins():
    h = PluginHost(discover=False)
    for name in DEFAULT_PLUGINS:
        info = h.infos[name]
        assert info.source == "builtin"
        assert info.error is None, info.error
        assert "register_stages" in info.hooks
        assert info.stages, f"builtin {name} registered no stage"


def test_stages_and_models_are_collected_per_plugin():
    h = host()
    assert h.plugins_for("generate") == ["writer"]
    assert h.stage_spec("preprocess", "reader").options is ReaderOptions
    assert {s.name for s in h.models} == {"writer-a", "writer-b", "judge"}
    assert h.models.get("judge").plugin == "scorer"
    assert h.infos["writer"].models == ["writer-a", "writer-b"]


def test_unknown_plugin_for_a_stage_lists_the_available_ones():
    with pytest.raises(UnknownPluginError, match=r"no plugin 'nope' for stage 'generate'.*writer"):
        host().stage_spec("generate", "nope")


def test_stage_call_reaches_only_the_named_plugin():
    class OtherReader(FakeReader):
        @hookimpl
        def preprocess(self, cases, step):
            raise AssertionError("must not be called")

    h = host(plugins=[("reader", FakeReader()), ("other", OtherReader())])
    step = StepContext(stage="preprocess", plugin="reader", options=ReaderOptions(size=8))
    images = h.call_stage("preprocess", "reader", [Case(id="a", source="a.png")], step)
    assert images[0].pixels.shape == (8, 8)


def test_a_result_list_of_the_wrong_length_is_a_plugin_error():
    class Short(FakeReader):
        @hookimpl
        def preprocess(self, cases, step):
            return []

    h = host(plugins=[("short", Short())])
    step = StepContext(stage="preprocess", plugin="short", options=ReaderOptions())
    with pytest.raises(PluginError, match="returned 0 results from preprocess\\(\\) for 1 cases"):
        h.call_stage("preprocess", "short", [Case(id="a", source="a")], step)


def test_registering_a_stage_without_its_hook_is_recorded_and_the_plugin_skipped():
    class Liar:
        @hookimpl
        def register_stages(self, register):
            register("verify")

    h = host(plugins=[*fake_plugins(), ("liar", Liar())])
    assert "has no verify() hook" in h.load_errors["liar"]
    assert not h.pm.has_plugin("liar")
    assert h.plugins_for("generate") == ["writer"]


def test_allowlist_and_blocklist(monkeypatch):
    assert set(host(allow=["reader", "writer"]).infos) == {"reader", "writer"}
    assert "writer" not in host(block=["writer"]).infos
    monkeypatch.setenv("EXPLAINMYXRAY_DISABLE_PLUGINS", "scorer, reader")
    assert set(host().infos) == {"writer"}
    monkeypatch.setenv("EXPLAINMYXRAY_PLUGINS", "writer")
    monkeypatch.delenv("EXPLAINMYXRAY_DISABLE_PLUGINS")
    assert set(host().infos) == {"writer"}


def test_a_broken_builtin_is_recorded_and_the_host_keeps_working():
    h = PluginHost(
        builtins={"ghost": "explainmyxray.plugins.does_not_exist"},
        discover=False,
        extra_plugins=fake_plugins(),
    )
    assert "ModuleNotFoundError" in h.load_errors["ghost"]
    assert h.plugins_for("preprocess") == ["reader"]


@pytest.fixture
def broken_distribution(tmp_path, monkeypatch) -> Path:
    """A real installed distribution whose entry point imports a module that raises."""
    dist = tmp_path / "broken_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[explainmyxray.plugins]\nbroken = broken_plugin_mod\n")
    (tmp_path / "broken_plugin_mod.py").write_text(
        textwrap.dedent("""
            raise ImportError("needs libfoo 3, found 2")
        """)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    sys.modules.pop("broken_plugin_mod", None)


def test_a_broken_entry_point_is_logged_and_skipped(broken_distribution, caplog):
    h = PluginHost(builtins={}, extra_plugins=fake_plugins())
    info = h.infos["broken"]
    assert info.error == "ImportError: needs libfoo 3, found 2"
    assert info.version == "1.0" and "broken-plugin" in info.source
    assert "plugin broken" in caplog.text and "skipped" in caplog.text
    assert h.plugins_for("preprocess") == ["reader"]


def test_lifecycle_observer_that_raises_does_not_stop_anything(caplog):
    class Grumpy:
        @hookimpl
        def before_stage_run(self, stage, plugin, cases):
            raise RuntimeError("observer bug")

    recorder = Recorder()
    h = host(plugins=[*fake_plugins(), ("grumpy", Grumpy()), ("rec", recorder)])
    h.notify("before_stage_run", stage="preprocess", plugin="reader", cases=[])
    assert recorder.events == [("before", "preprocess", "reader", 0)]
    assert "observer bug" in caplog.text
