"""Reading pipeline files: safe YAML, every problem reported with file, line and field path."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from ..core.errors import ConfigError
from ..core.safe_yaml import YamlDocument, YamlError, parse_yaml, read_yaml
from ..registry.plugins import PluginHost
from .schema import BudgetConfig, PipelineConfig, StepConfig

Loc = tuple[str | int, ...]
SCHEMA_FIELDS = {*PipelineConfig.model_fields, *StepConfig.model_fields, *BudgetConfig.model_fields}


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


class PipelineError(ConfigError):
    """A pipeline file has one or more problems; ``problems`` lists every one of them."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        head = (
            f"{len(problems)} problem(s) in pipeline" if len(problems) > 1 else "invalid pipeline"
        )
        super().__init__(head + ":\n  " + "\n  ".join(str(p) for p in problems))


@dataclass(frozen=True)
class Step:
    """A validated step: its config and its options as the plugin's own model."""

    index: int
    stage: str
    plugin: str
    options: BaseModel
    device: str | None

    @property
    def label(self) -> str:
        return f"{self.stage}:{self.plugin}"


@dataclass(frozen=True)
class Pipeline:
    config: PipelineConfig
    steps: tuple[Step, ...]
    path: Path | None

    @property
    def name(self) -> str:
        return self.config.name

    @property
    def base_dir(self) -> Path:
        """Where relative paths of the pipeline resolve: the file's folder, or for a pipeline
        shipped inside the package, the user data folder (never the installed package)."""
        if self.path is None:
            return Path.cwd()
        from .shipped import is_shipped

        if is_shipped(self.path):
            from ..core.paths import user_data_dir

            return user_data_dir()
        return self.path.parent


def format_loc(loc: Iterable[str | int]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _line_for(loc: Loc, lines: dict[Loc, int]) -> int | None:
    return YamlDocument(data=None, lines=lines).line_for(loc)


def _problems(
    error: ValidationError,
    file: str,
    lines: dict[Loc, int],
    prefix: Loc = (),
    known: Iterable[str] = (),
) -> list[Problem]:
    problems = []
    for e in error.errors(include_url=False):
        loc = (*prefix, *(p for p in e["loc"] if not (isinstance(p, str) and "[" in p)))
        message = e["msg"]
        if e["type"] == "extra_forbidden":
            message = "unknown field" + _suggest(str(loc[-1]), known)
        elif e["type"] == "missing":
            message = "field required"
        problems.append(Problem(file, _line_for(loc, lines), format_loc(loc), message))
    return problems


def _suggest(unknown: str, known: Iterable[str]) -> str:
    close = difflib.get_close_matches(unknown, list(known), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def load_pipeline(path: str | Path, host: PluginHost) -> Pipeline:
    """Read and validate a pipeline file against the installed plugins."""
    path = Path(path)
    try:
        document = read_yaml(path, "pipeline file")
    except YamlError as exc:
        raise PipelineError([Problem(exc.file, exc.line, "", exc.problem)]) from None
    return _validate(document, host, source=path)


def parse_pipeline(
    text: str | bytes, host: PluginHost, *, source: Path | str = "<pipeline>"
) -> Pipeline:
    try:
        document = parse_yaml(text, file=str(source))
    except YamlError as exc:
        raise PipelineError([Problem(exc.file, exc.line, "", exc.problem)]) from None
    return _validate(document, host, source=source)


def _validate(document: YamlDocument, host: PluginHost, *, source: Path | str) -> Pipeline:
    file = str(source)
    data, lines = document.data, document.lines
    if not isinstance(data, dict):
        raise PipelineError([Problem(file, 1, "", "expected a mapping with name and stages")])

    try:
        config = PipelineConfig.model_validate(data)
    except ValidationError as exc:
        problems = _problems(exc, file, lines, known=SCHEMA_FIELDS)
        problems += _option_problems(data, host, file, lines, skip_invalid=True)[1]
        raise PipelineError(problems) from None

    steps, problems = _option_problems(data, host, file, lines, skip_invalid=False)
    if problems:
        raise PipelineError(problems)
    return Pipeline(config=config, steps=tuple(steps), path=Path(source) if source else None)


def _option_problems(
    data: dict[str, Any],
    host: PluginHost,
    file: str,
    lines: dict[Loc, int],
    *,
    skip_invalid: bool,
) -> tuple[list[Step], list[Problem]]:
    steps: list[Step] = []
    problems: list[Problem] = []
    raw_steps = data.get("stages")
    if not isinstance(raw_steps, list):
        return steps, problems
    for i, raw in enumerate(raw_steps):
        if not isinstance(raw, dict):
            continue
        stage, plugin = raw.get("stage"), raw.get("plugin")
        if not isinstance(stage, str) or not isinstance(plugin, str):
            continue
        if (stage, plugin) not in host.stages:
            if skip_invalid and stage not in {s for s, _ in host.stages}:
                continue
            available = host.plugins_for(stage)  # type: ignore[arg-type]
            listed = ", ".join(available) or "none installed"
            broken = host.load_errors.get(plugin)
            close = difflib.get_close_matches(plugin, available, n=1)
            why = (
                f" (it failed to load: {broken})"
                if broken
                else f" (did you mean {close[0]!r}?)"
                if close
                else ""
            )
            problems.append(
                Problem(
                    file,
                    _line_for(("stages", i, "plugin"), lines),
                    format_loc(("stages", i, "plugin")),
                    f"no plugin {plugin!r} for stage {stage!r}{why}; available: {listed}",
                )
            )
            continue
        spec = host.stage_spec(stage, plugin)  # type: ignore[arg-type]
        options = raw.get("options") or {}
        prefix: Loc = ("stages", i, "options")
        if not isinstance(options, dict):
            problems.append(
                Problem(file, _line_for(prefix, lines), format_loc(prefix), "expected a mapping")
            )
            continue
        try:
            validated = spec.options.model_validate(options)
        except ValidationError as exc:
            problems += _problems(exc, file, lines, prefix, known=spec.options.model_fields)
            continue
        steps.append(Step(i, stage, plugin, validated, raw.get("device")))
    return steps, problems
