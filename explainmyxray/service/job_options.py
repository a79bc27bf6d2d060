"""Per-job pipeline options: which step options a job may set (the operator allows them by name,
``--job-option generate:medgemma.max_new_tokens``), how a job's options are checked, and the
pipeline variant they make.

A job's options are checked by the step plugin's own options model, exactly as a pipeline file's
are. Jobs with the same options share batches; a job with other options runs in batches of its
own, on the same resident models.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from ..core.errors import UsageError

if TYPE_CHECKING:
    from ..pipelines.loader import Pipeline

Overrides = dict[str, dict[str, Any]]
"""Step label (``stage:plugin``) → option name → value."""

MAX_OPTIONS_CHARS = 10_000


class JobOptionsError(ValueError):
    """A job's options are not allowed or not valid; the message says which and why."""


def allowed_options(pipeline: Pipeline, names: Iterable[str]) -> dict[str, set[str]]:
    """Check the operator's ``LABEL.FIELD`` names against the pipeline's steps and options."""
    steps = {step.label: step for step in pipeline.steps}
    allowed: dict[str, set[str]] = {}
    for name in names:
        label, _, option = name.rpartition(".")
        step = steps.get(label)
        if step is None:
            raise UsageError(
                f"--job-option {name}: no step {label!r} in pipeline {pipeline.name} "
                f"(steps: {', '.join(steps)})"
            )
        fields = type(step.options).model_fields
        if option not in fields:
            raise UsageError(
                f"--job-option {name}: step {label} has no option {option!r} "
                f"(options: {', '.join(fields) or 'none'})"
            )
        allowed.setdefault(label, set()).add(option)
    return allowed


def describe(allowed: Mapping[str, set[str]]) -> str:
    return ", ".join(f"{label}.{o}" for label, opts in allowed.items() for o in sorted(opts))


def parse_options(text: str | None, allowed: Mapping[str, set[str]]) -> Overrides:
    """A job's ``options`` field (JSON) as overrides; only allowed names pass."""
    if not text or not text.strip():
        return {}
    if len(text) > MAX_OPTIONS_CHARS:
        raise JobOptionsError(f"options are longer than {MAX_OPTIONS_CHARS} characters")
    try:
        document = json.loads(text)
    except ValueError as exc:
        raise JobOptionsError(f"options are not valid JSON: {exc}") from None
    permitted = describe(allowed) or "none"
    if not isinstance(document, dict) or not all(isinstance(v, dict) for v in document.values()):
        raise JobOptionsError(
            'options must be a JSON object of steps, e.g. {"stage:plugin": {"option": value}}'
        )
    for label, values in document.items():
        for option in values:
            if option not in allowed.get(label, ()):
                raise JobOptionsError(
                    f"option {label}.{option} may not be set by a job (allowed: {permitted})"
                )
    return {label: dict(values) for label, values in document.items() if values}


def variant_key(overrides: Overrides) -> str:
    """'' for the pipeline as configured; otherwise a short digest of the canonical options."""
    if not overrides:
        return ""
    canonical = json.dumps(overrides, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def apply_options(pipeline: Pipeline, overrides: Overrides) -> Pipeline:
    """The pipeline with the job's options, each step's checked by its plugin's options model."""
    if not overrides:
        return pipeline
    steps = []
    for step in pipeline.steps:
        values = overrides.get(step.label)
        if values:
            merged = {**step.options.model_dump(), **values}
            try:
                options = type(step.options).model_validate(merged)
            except ValidationError as exc:
                problems = "; ".join(
                    f"{step.label}.{'.'.join(str(p) for p in e['loc'])}: {e['msg']}"
                    for e in exc.errors()
                )
                raise JobOptionsError(f"invalid options: {problems}") from None
            step = replace(step, options=options)
        steps.append(step)
    return replace(pipeline, steps=tuple(steps))
