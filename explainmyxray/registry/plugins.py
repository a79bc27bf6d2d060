"""The plugin host: built-in plugins, entry-point discovery, allow/block lists, stage dispatch.

Built-in plugins are registered exactly like external ones. External plugins are found through the
entry-point group ``explainmyxray.plugins``; one that fails to import is recorded with its error and
skipped, and the host keeps working. ``EXPLAINMYXRAY_PLUGINS`` (comma-separated) is an allowlist and
``EXPLAINMYXRAY_DISABLE_PLUGINS`` a blocklist; the CLI's ``--plugin``/``--no-plugin`` add to them.
"""

from __future__ import annotations

import difflib
import functools
import importlib
import logging
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import pluggy
from pydantic import BaseModel

from .. import __version__
from ..core import hookspecs
from ..core.case import STAGES, Case, Stage
from ..core.context import StepContext
from ..core.errors import PluginError, UnknownPluginError
from ..core.markers import PROJECT
from ..core.plugin_api import ModelRequest, ModelSpec, NoOptions, StageSpec
from .models import ModelRegistry

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "explainmyxray.plugins"
ALLOW_ENV = "EXPLAINMYXRAY_PLUGINS"
BLOCK_ENV = "EXPLAINMYXRAY_DISABLE_PLUGINS"

DEFAULT_PLUGINS: dict[str, str] = {
    "image": "explainmyxray.plugins.preprocess_image",
    "supplied-report": "explainmyxray.plugins.generate_supplied",
    "consensus": "explainmyxray.plugins.generate_consensus",
    "labeler": "explainmyxray.plugins.verify_labeler",
    "litemedsam": "explainmyxray.plugins.localize_litemedsam",
    "medsam": "explainmyxray.plugins.localize_medsam",
    "metrics": "explainmyxray.plugins.score_metrics",
    "biomedclip": "explainmyxray.plugins.retrieve_biomedclip",
    "medgemma": "explainmyxray.plugins.generate_medgemma",
    "paligemma": "explainmyxray.plugins.generate_paligemma",
    "chexbert": "explainmyxray.plugins.verify_chexbert",
    "radgraph": "explainmyxray.plugins.score_radgraph",
}

LIFECYCLE_HOOKS = frozenset(
    {"before_run", "after_case", "before_stage_run", "after_stage_run", "on_stage_error"}
)
REGISTRATION_HOOKS = frozenset({"register_stages", "register_models"})


@dataclass
class PluginInfo:
    """What ``explainmyxray plugins`` shows for one plugin."""

    name: str
    source: str
    version: str | None
    hooks: list[str] = field(default_factory=list)
    stages: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "source": self.source,
            "version": self.version,
            "hooks": self.hooks,
            "stages": self.stages,
            "models": self.models,
            "error": self.error,
        }


def _names_from_env(var: str) -> set[str]:
    return {n.strip() for n in os.environ.get(var, "").split(",") if n.strip()}


class PluginHost:
    """Owns the pluggy manager, the stage table and the model registry."""

    def __init__(
        self,
        *,
        allow: Iterable[str] | None = None,
        block: Iterable[str] = (),
        builtins: dict[str, str] | None = None,
        discover: bool = True,
        extra_plugins: Sequence[tuple[str, object]] = (),
    ) -> None:
        self.pm = pluggy.PluginManager(PROJECT)
        self.pm.add_hookspecs(hookspecs)
        allow_set = set(allow or ()) | _names_from_env(ALLOW_ENV)
        self._allow = allow_set or None
        self._block = set(block) | _names_from_env(BLOCK_ENV)
        self.infos: dict[str, PluginInfo] = {}
        self.stages: dict[tuple[Stage, str], StageSpec] = {}
        self.models = ModelRegistry()

        for name, module_path in (DEFAULT_PLUGINS if builtins is None else builtins).items():
            if self._wanted(name):
                self._register_lazy(name, "builtin", __version__, lambda m=module_path: m)
        if discover:
            for ep in entry_points(group=ENTRY_POINT_GROUP):
                if self._wanted(ep.name):
                    self._register_entry_point(ep)
        for name, obj in extra_plugins:
            if self._wanted(name):
                self._register_object(name, obj, "extra", None)
        self._collect_registrations()

    # --- loading --------------------------------------------------------------------------

    def _wanted(self, name: str) -> bool:
        if name in self._block:
            return False
        return self._allow is None or name in self._allow

    def _register_lazy(self, name: str, source: str, version: str | None, target: Any) -> None:
        try:
            module = importlib.import_module(target())
        except KeyboardInterrupt:
            raise
        except BaseException as exc:  # a broken plugin (sys.exit() too) is recorded, not fatal
            self._record_error(name, source, version, exc)
            return
        self._register_object(name, module, source, version)

    def _register_entry_point(self, ep: EntryPoint) -> None:
        dist = ep.dist
        source = f"entry point {ep.value}" + (f" ({dist.name})" if dist else "")
        version = dist.version if dist else None
        try:
            plugin = ep.load()
        except KeyboardInterrupt:
            raise
        except BaseException as exc:
            self._record_error(ep.name, source, version, exc)
            return
        self._register_object(ep.name, plugin, source, version)

    def _register_object(self, name: str, plugin: object, source: str, version: str | None) -> None:
        if self.pm.has_plugin(name):
            self._record_error(
                name, source, version, PluginError(f"plugin name {name!r} is already taken")
            )
            return
        try:
            self.pm.register(plugin, name=name)
        except Exception as exc:
            self._record_error(name, source, version, exc)
            return
        callers = self.pm.get_hookcallers(plugin) or []
        unknown = _unknown_hooks(name, callers)
        if unknown:
            self.pm.unregister(name=name)
            self._record_error(name, source, version, PluginError(unknown))
            return
        for caller in callers:
            if caller.name in LIFECYCLE_HOOKS:
                for impl in caller.get_hookimpls():
                    if impl.plugin_name == name and not (impl.wrapper or impl.hookwrapper):
                        impl.function = _observer(impl.function, caller.name, name)
        hooks = sorted(h.name for h in callers)
        self.infos[name] = PluginInfo(name=name, source=source, version=version, hooks=hooks)

    def _record_error(
        self, name: str, source: str, version: str | None, exc: BaseException
    ) -> None:
        if isinstance(exc, SystemExit):
            message = f"SystemExit: the plugin called sys.exit({exc.code!r}) while loading"
        else:
            message = f"{type(exc).__name__}: {exc}"
        log.warning("plugin %s (%s) skipped: %s", name, source, message)
        self.infos[name] = PluginInfo(name=name, source=source, version=version, error=message)

    def _collect_registrations(self) -> None:
        offered: dict[str, list[ModelSpec]] = {}
        for name, info in list(self.infos.items()):
            if info.error is not None:
                continue
            specs: list[ModelSpec] = []
            try:
                self._only(name, "register_stages")(register=self._stage_registrar(name))
                self._only(name, "register_models")(register=specs.append)
            except KeyboardInterrupt:
                raise
            except BaseException as exc:
                self._unregister_broken(name, exc)
                continue
            offered[name] = specs
        for model, plugins in _conflicts(offered).items():
            listing = " and ".join(repr(p) for p in plugins)
            for plugin in plugins:
                if self.infos[plugin].error is None:
                    self._unregister_broken(
                        plugin,
                        PluginError(
                            f"model {model!r} is registered by {listing}; model names are "
                            "global, so neither plugin is loaded: rename one model (e.g. "
                            f"'{plugin}/{model}') or disable one plugin (--no-plugin NAME)"
                        ),
                    )
        for name, specs in offered.items():
            if self.infos[name].error is not None:
                continue
            try:
                for spec in specs:
                    self.models.add(spec, plugin=name)
                    self.infos[name].models.append(spec.name)
            except Exception as exc:
                self._unregister_broken(name, exc)

    def _unregister_broken(self, name: str, exc: BaseException) -> None:
        self.pm.unregister(name=name)
        self.stages = {k: v for k, v in self.stages.items() if v.plugin != name}
        self.models.drop_plugin(name)
        info = self.infos[name]
        self._record_error(name, info.source, info.version, exc)

    def _stage_registrar(self, plugin: str):
        def register(
            stage: Stage,
            *,
            options: type[BaseModel] = NoOptions,
            models=None,
            description: str = "",
        ) -> None:
            if stage not in STAGES:
                raise PluginError(f"plugin {plugin!r} registered unknown stage {stage!r}")
            if not self._implements(plugin, stage):
                raise PluginError(
                    f"plugin {plugin!r} registered stage {stage!r} but has no {stage}() hook"
                )
            self.stages[(stage, plugin)] = StageSpec(
                stage=stage, plugin=plugin, options=options, models=models, description=description
            )
            self.infos[plugin].stages.append(stage)

        return register

    def _implements(self, plugin: str, hook: str) -> bool:
        return any(
            impl.plugin_name == plugin for impl in getattr(self.pm.hook, hook).get_hookimpls()
        )

    def _only(self, plugin: str, hook: str):
        others = [p for n, p in self.pm.list_name_plugin() if n != plugin]
        return self.pm.subset_hook_caller(hook, remove_plugins=others)

    # --- queries --------------------------------------------------------------------------

    @property
    def load_errors(self) -> dict[str, str]:
        return {n: i.error for n, i in self.infos.items() if i.error is not None}

    def plugins_for(self, stage: Stage) -> list[str]:
        return sorted(p for (s, p) in self.stages if s == stage)

    def stage_spec(self, stage: Stage, plugin: str) -> StageSpec:
        try:
            return self.stages[(stage, plugin)]
        except KeyError:
            available = ", ".join(self.plugins_for(stage)) or "none installed"
            hint = ""
            if plugin in self.load_errors:
                hint = f" (plugin {plugin!r} failed to load: {self.load_errors[plugin]})"
            raise UnknownPluginError(
                f"no plugin {plugin!r} for stage {stage!r}{hint}; available: {available}"
            ) from None

    def model_requests(self, stage: Stage, plugin: str, options: BaseModel) -> list[ModelRequest]:
        return self.stage_spec(stage, plugin).model_requests(options)

    # --- calls ----------------------------------------------------------------------------

    def call_stage(
        self, stage: Stage, plugin: str, cases: Sequence[Case], step: StepContext
    ) -> list:
        """Call ``stage`` on the one plugin a pipeline step names; return its per-case list."""
        self.stage_spec(stage, plugin)
        result = self._only(plugin, stage)(cases=list(cases), step=step)
        if result is None:
            raise PluginError(f"plugin {plugin!r} returned nothing from {stage}()")
        result = list(result)
        if len(result) != len(cases):
            raise PluginError(
                f"plugin {plugin!r} returned {len(result)} results from {stage}() "
                f"for {len(cases)} cases"
            )
        return result

    def plugin_version(self, plugin: str) -> str | None:
        info = self.infos.get(plugin)
        return info.version if info else None

    def notify(self, hook: str, **kwargs: Any) -> None:
        """Broadcast a lifecycle hook through pluggy (``pm.hook.<hook>``), so ``wrapper`` and
        ``hookwrapper`` implementations wrap it. An observer that raises is logged and the other
        observers still run; a wrapper that raises is logged too, never fatal to the run."""
        if hook not in LIFECYCLE_HOOKS:
            raise PluginError(f"{hook!r} is not a lifecycle hook")
        try:
            getattr(self.pm.hook, hook)(**kwargs)
        except Exception:
            log.exception("lifecycle hook %s failed in a wrapper", hook)


def _unknown_hooks(plugin: str, callers: Sequence[Any]) -> str | None:
    """An error naming ``plugin``'s implementations of hooks that have no specification."""
    known = sorted(n for n in dir(hookspecs) if hasattr(getattr(hookspecs, n), f"{PROJECT}_spec"))
    problems = []
    for caller in callers:
        if caller.has_spec():
            continue
        impls = [i for i in caller.get_hookimpls() if i.plugin_name == plugin]
        if not impls or all(i.optionalhook for i in impls):
            continue
        close = difflib.get_close_matches(caller.name, known, n=1)
        hint = f"did you mean {close[0]!r}?" if close else f"known hooks: {', '.join(known)}"
        problems.append(f"{caller.name!r} ({hint})")
    if not problems:
        return None
    return (
        f"plugin {plugin!r} implements unknown hook {', '.join(problems)}; mark a hook the "
        "framework may add later with hookimpl(optionalhook=True)"
    )


def _conflicts(offered: dict[str, list[ModelSpec]]) -> dict[str, list[str]]:
    """Model names that more than one plugin registers, with those plugins."""
    owners: dict[str, list[str]] = {}
    for plugin, specs in offered.items():
        for spec in specs:
            plugins = owners.setdefault(spec.name, [])
            if plugin not in plugins:
                plugins.append(plugin)
    return {model: plugins for model, plugins in owners.items() if len(plugins) > 1}


def _observer(function: Callable[..., Any], hook: str, plugin: str) -> Callable[..., Any]:
    """``function`` (a plain lifecycle implementation) with its exceptions logged, not raised."""

    @functools.wraps(function)
    def observe(*args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except Exception:
            log.exception("lifecycle hook %s of plugin %s failed", hook, plugin)
            return None

    return observe
