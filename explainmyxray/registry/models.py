"""The model registry: every model plugins can load, with Hub ids, pinned revisions and sizes."""

from __future__ import annotations

import difflib
from dataclasses import replace

from ..core.errors import ConfigError, PluginError
from ..core.plugin_api import ModelSpec


class ModelRegistry:
    """Model specs by name. Names are global across plugins."""

    def __init__(self) -> None:
        self._specs: dict[str, ModelSpec] = {}
        self._aliases: dict[str, str] = {}

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
        for alias in spec.aliases:
            taken = self._aliases.get(alias) or (alias if alias in self._specs else None)
            if taken:
                raise PluginError(
                    f"model alias {alias!r} of {spec.name!r} is already the name of {taken!r}"
                )
        self._specs[spec.name] = replace(spec, plugin=plugin or spec.plugin)
        self._aliases.update(dict.fromkeys(spec.aliases, spec.name))

    def drop_plugin(self, plugin: str) -> None:
        self._specs = {n: s for n, s in self._specs.items() if s.plugin != plugin}
        self._aliases = {a: n for a, n in self._aliases.items() if n in self._specs}

    def canonical(self, name: str) -> str:
        """The registered name of ``name`` (itself, or the model an alias stands for)."""
        return self._aliases.get(name, name)

    def get(self, name: str) -> ModelSpec:
        try:
            return self._specs[self.canonical(name)]
        except KeyError:
            known = ", ".join(sorted(self._specs)) or "none"
            close = difflib.get_close_matches(name, [*self._specs, *self._aliases], n=1)
            hint = f"; did you mean {self.canonical(close[0])!r}?" if close else ""
            raise ConfigError(
                f"unknown model {name!r}{hint} (registered models: {known})"
            ) from None

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.canonical(name) in self._specs

    def __iter__(self):
        return iter(sorted(self._specs.values(), key=lambda s: s.name))

    def __len__(self) -> int:
        return len(self._specs)
