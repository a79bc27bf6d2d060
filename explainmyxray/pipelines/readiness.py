"""Is a pipeline ready to run here? Weights, reference indexes, other files and extras, all at once.

``validate`` prints every gap with the command that closes it, and ``run`` refuses to start a
pipeline that is not ready instead of failing every case one missing model at a time. A step that
degrades on purpose (MedGemma with ``without_weights: supplied-report``) is not a gap: it is a
notice that says what the run will do instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel

from ..core.errors import ExplainMyXrayError
from ..core.paths import default_index_dir
from ..core.plan import Plan
from ..registry.extras import install_command, missing_modules
from ..registry.plugins import PluginHost
from ..registry.weights import locate_weights
from .loader import Pipeline

EXIT_NOT_READY = 3


@dataclass(frozen=True)
class Gap:
    """Something the pipeline needs that this machine lacks, and the command that fixes it."""

    step: str
    what: str
    fix: str

    def to_dict(self) -> dict[str, str]:
        return {"step": self.step, "what": self.what, "fix": self.fix}


class NotReadyError(ExplainMyXrayError):
    """The pipeline is valid but cannot run here yet; the message lists every gap."""

    exit_code = EXIT_NOT_READY

    def __init__(self, pipeline: str, gaps: list[Gap]) -> None:
        self.gaps = gaps
        lines = [f"pipeline {pipeline} is not ready to run: {len(gaps)} thing(s) missing"]
        lines += [f"  {g.step}: {g.what}\n      fix: {g.fix}" for g in gaps]
        lines.append(f"(`explainmyxray validate {pipeline}` shows the same list)")
        super().__init__("\n".join(lines))


@dataclass
class Readiness:
    gaps: list[Gap]
    notices: list[Gap]

    @property
    def ready(self) -> bool:
        return not self.gaps


def check_readiness(pipeline: Pipeline, plan: Plan, host: PluginHost) -> Readiness:
    gaps: list[Gap] = []
    notices: list[Gap] = []
    for planned in plan.steps:
        label = planned.step.label
        options = planned.step.options
        for request in planned.models:
            spec = host.models.get(request.name)
            if spec.extra and (modules := missing_modules(spec.extra)):
                gaps.append(
                    Gap(
                        label,
                        f"model {spec.name} needs {', '.join(modules)} (extra [{spec.extra}])",
                        install_command(spec.extra),
                    )
                )
            if request.weights is not None:
                if not request.weights.exists():
                    gaps.append(
                        Gap(
                            label,
                            f"weights folder {request.weights} of {spec.name} does not exist",
                            f"copy the model there, or correct `weights:` (or run "
                            f"`explainmyxray models pull {spec.name}` and drop `weights:`)",
                        )
                    )
            elif spec.needs_weights and locate_weights(spec) is None:
                gaps.append(
                    Gap(
                        label,
                        f"no weights for {spec.name}",
                        f"explainmyxray models pull {spec.name}"
                        + (
                            " (gated: accept its terms on the Hub, set HF_TOKEN)"
                            if "gated" in spec.license
                            else ""
                        ),
                    )
                )
        gaps.extend(_path_gaps(label, options, pipeline.base_dir))
        notice = _fallback_notice(label, options, host)
        if notice is not None:
            notices.append(notice)
    return Readiness(gaps=gaps, notices=notices)


def _path_gaps(label: str, options: BaseModel, base_dir: Path) -> list[Gap]:
    """Files and folders the step's options name that do not exist (``weights`` aside: the
    model check above covers it)."""
    gaps = []
    for field in type(options).model_fields:
        value = getattr(options, field)
        if not isinstance(value, Path) or field == "weights":
            continue
        path = value.expanduser()
        path = path if path.is_absolute() else base_dir / path
        if path.exists():
            continue
        if field == "index":
            out = "" if path == default_index_dir() else f" --out {path}"
            fix = f"explainmyxray index build REFERENCE_FOLDER{out}"
            what = f"no reference index at {path}"
        else:
            fix = f"create it, or correct `{field}:` in the pipeline"
            what = f"{field}: {path} does not exist"
        gaps.append(Gap(label, what, fix))
    return gaps


def _fallback_notice(label: str, options: BaseModel, host: PluginHost) -> Gap | None:
    """A generator that parses the supplied report when its weights are absent."""
    if getattr(options, "without_weights", None) != "supplied-report":
        return None
    if getattr(options, "weights", None) is not None:
        return None
    name = getattr(options, "model", None)
    if not isinstance(name, str) or name not in host.models:
        return None
    spec = host.models.get(name)
    if locate_weights(spec) is not None:
        return None
    return Gap(
        label,
        f"no weights for {spec.name}: the step will parse the report you supply (--report TEXT "
        f"or <image>.txt beside each image) instead of writing one; without either, cases get "
        f"anatomy only",
        f"explainmyxray models pull {spec.name}",
    )
