"""The model registry: every model plugins can load, with Hub ids, pinned revisions and sizes."""

from __future__ import annotations

from dataclasses import replace

from ..core.errors import ConfigError, PluginError
from ..core.plugin_api import ModelSpec


class ModelRegistry:
    """Model specs by name. Names are global across plugins."""

    def __init__(self) -> None:
        self._specs: dict[str, ModelSpec] = {}

    def add(self, spec: ModelSpec, *, plugin: str = "") -> None:
        if spec.name in self._specs:
            other = self._specs[spec.name].plugin or "another plugin"
            raise PluginError(
                f"model {spec.name!r} is registered twice: by {other!r} and by {plugin!r}"
            )
        if spec.default_precision not in spec.memory_bytes:
            raise PluginError(
                f"model {spec.name!r}: default precision {spec.default_precision!r} "
                f"has no memory estimate"
            )
        self._specs[spec.name] = replace(spec, plugin=plugin or spec.plugin)

    def drop_plugin(self, plugin: str) -> None:
        self._specs = {n: s for n, s in self._specs.items() if s.plugin != plugin}

    def get(self, name: str) -> ModelSpec:
        try:
            return self._specs[name]
        except KeyError:
            known = ", ".join(sorted(self._specs)) or "none"
            raise ConfigError(f"unknown model {name!r}; registered models: {known}") from None

    def __contains__(self, name: object) -> bool:
        return name in self._specs

    def __iter__(self):
        return iter(sorted(self._specs.values(), key=lambda s: s.name))

    def __len__(self) -> int:
        return len(self._specs)
