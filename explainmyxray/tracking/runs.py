"""What a tracked ``run``, ``eval`` and ``train`` record in MLflow.

A pipeline run: the pipeline file and its resolved plan, plugin and model names, versions,
revisions and weights fingerprints, devices and memory budget as parameters; per-step seconds,
model loads / evictions / parks / restores, peak memory and case counts as metrics; ``run.json``,
``index.html`` and a sample of overlays as artifacts. An evaluation: every metric with its
bootstrap interval. A training: what transformers' own MLflow integration logs (arguments,
losses, evaluation losses), the generation evaluations, the training card and the adapter.
"""

from __future__ import annotations

import contextlib
import json
import re
import sys
from collections.abc import Iterator, Mapping
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.results import atomic_write_json
from .mlflow_store import TrackedRun, TrackingSettings, tracked_run

if TYPE_CHECKING:
    from ..core.model_manager import ManagerStats
    from ..core.orchestrator import RunSummary
    from ..core.plan import Plan
    from ..pipelines.loader import Pipeline
    from ..registry.plugins import PluginHost
    from ..scoring.evaluate import EvalResult
    from .monitor import DriftReport

TRACKING_FILE = "tracking.json"
"""Written into a tracked run's folder: which MLflow store and run hold it."""
WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin", ".ckpt")
_UNSAFE = re.compile(r"[^A-Za-z0-9_\-. /]")


def key(*parts: object) -> str:
    """An MLflow metric or parameter name (letters, digits, ``_-. /`` only)."""
    return _UNSAFE.sub("_", ".".join(str(p) for p in parts))


def package_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def weights_fingerprint(path: Path | None) -> str | None:
    """SHA-256 fingerprint of a weights file, or of a folder's weight files taken together."""
    from ..retrieval.identity import file_fingerprint

    if path is None or not Path(path).exists():
        return None
    path = Path(path)
    if path.is_file():
        return file_fingerprint(path)
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in WEIGHT_SUFFIXES)
    if not files:
        return None
    import hashlib

    digest = hashlib.sha256()
    for file in files:
        digest.update(f"{file.relative_to(path)}:{file_fingerprint(file)}\n".encode())
    return digest.hexdigest()


def plan_document(plan: Plan) -> dict[str, Any]:
    return {
        "steps": [
            {
                "stage": ps.step.stage,
                "plugin": ps.step.plugin,
                "device": ps.device,
                "models": [
                    {
                        "name": r.name,
                        "precision": r.precision,
                        "weights": str(r.weights) if r.weights else None,
                    }
                    for r in ps.models
                ],
            }
            for ps in plan.steps
        ],
        "budget": {"gpu_bytes": plan.budget.gpu_bytes, "cpu_bytes": plan.budget.cpu_bytes},
        "predicted_peak_bytes": dict(plan.peak),
        "load_order": plan.load_order,
    }


def _model_params(host: PluginHost, plan: Plan) -> dict[str, object]:
    from ..registry.weights import locate_weights

    params: dict[str, object] = {}
    for ps in plan.steps:
        for request in ps.models:
            spec = host.models.get(request.name)
            weights = request.weights or locate_weights(spec)
            precision = request.precision or spec.default_precision
            params[key("model", request.name, "precision")] = precision
            params[key("model", request.name, "device")] = ps.device
            params[key("model", request.name, "hub_id")] = spec.hub_id
            params[key("model", request.name, "revision")] = spec.revision
            params[key("model", request.name, "weights_sha256")] = weights_fingerprint(weights)
    return params


def _stats_metrics(stats: ManagerStats) -> dict[str, float]:
    metrics: dict[str, float] = {}
    for kind, counter in (
        ("loads", stats.loads),
        ("evictions", stats.unloads),
        ("parks", stats.parks),
        ("restores", stats.restores),
    ):
        metrics[key("models", kind)] = float(sum(counter.values()))
        for name, count in counter.items():
            metrics[key("models", kind, name)] = float(count)
    for kind, seconds in stats.seconds.items():
        metrics[key("models", "seconds", kind)] = float(seconds)
    return metrics


def write_tracking_file(out_dir: Path, settings: TrackingSettings, run_id: str) -> None:
    atomic_write_json(
        Path(out_dir) / TRACKING_FILE,
        {"uri": settings.uri, "experiment": settings.experiment, "run_id": run_id},
    )


def linked_run_id(run_dir: Path, settings: TrackingSettings) -> str | None:
    """The MLflow run of a tracked pipeline run folder, when it lives in the same store."""
    path = Path(run_dir) / TRACKING_FILE
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return document.get("run_id") if document.get("uri") == settings.uri else None


def log_pipeline_run(
    settings: TrackingSettings,
    out_dir: Path,
    *,
    host: PluginHost,
    pipeline: Pipeline,
    plan: Plan,
    stats: ManagerStats,
    summary: RunSummary,
) -> str:
    """Record a finished ``explainmyxray run`` in MLflow; returns the MLflow run id."""
    out_dir = Path(out_dir)
    config = pipeline.config
    tags = {"explainmyxray.command": "run", "explainmyxray.pipeline": config.name}
    with tracked_run(settings, f"run {config.name}", tags) as run:
        params: dict[str, object] = {
            "pipeline.name": config.name,
            "pipeline.file": str(pipeline.path) if pipeline.path else "(shipped or in memory)",
            "pipeline.batch_size": config.batch_size,
            "pipeline.device": config.device,
            "budget.gpu_bytes": plan.budget.gpu_bytes,
            "budget.cpu_bytes": plan.budget.cpu_bytes,
            "devices": ",".join(sorted({ps.device for ps in plan.steps})),
            "version.explainmyxray": package_version("explainmyxray"),
            "version.python": sys.version.split()[0],
            "version.torch": getattr(sys.modules.get("torch"), "__version__", None),
        }
        for index, ps in enumerate(plan.steps):
            info = host.infos.get(ps.step.plugin)
            params[key("step", index, ps.step.stage)] = ps.step.plugin
            params[key("plugin", ps.step.plugin, "version")] = (
                info.version if info else None
            ) or "?"
        params.update(_model_params(host, plan))
        run.params(params)
        metrics: dict[str, float | int | None] = {
            "cases.total": summary.total,
            "cases.finished": summary.finished,
            "cases.failed": summary.failed,
            "cases.skipped": summary.skipped,
        }
        for label, seconds in summary.stage_seconds.items():
            metrics[key("seconds", label)] = seconds
        metrics["seconds.stages"] = sum(summary.stage_seconds.values())
        for kind, peak in summary.peak_bytes.items():
            metrics[key("peak_bytes", kind)] = peak
        for kind, peak in plan.peak.items():
            metrics[key("predicted_peak_bytes", kind)] = peak
        metrics.update(_stats_metrics(stats))
        run.metrics(metrics)
        run.document(plan_document(plan), "plan.json")
        run.document(config.model_dump(mode="json"), "pipeline.json")
        if pipeline.path and Path(pipeline.path).is_file():
            run.artifact(Path(pipeline.path), "pipeline")
        for name in ("run.json", "index.html"):
            run.artifact(out_dir / name)
        for overlay in sorted((out_dir / "cases").glob("*/overlay.png"))[: settings.overlays]:
            run.artifact(overlay, f"cases/{overlay.parent.name}")
        run_id = run.run_id
    write_tracking_file(out_dir, settings, run_id)
    return run_id


def log_evaluation(
    settings: TrackingSettings,
    run_dir: Path,
    result: EvalResult,
    *,
    reference: Path,
    n_resamples: int,
    seed: int,
    eval_json: Path | None,
) -> str:
    """Record ``explainmyxray eval``: each metric, its interval bounds and case count."""
    tags = {"explainmyxray.command": "eval"}
    linked = linked_run_id(run_dir, settings)
    if linked:
        tags["explainmyxray.evaluated_run"] = linked
    with tracked_run(settings, f"eval {Path(run_dir).name}", tags) as run:
        run.params(
            {
                "reference": str(reference),
                "reference_format": result.reference_format,
                "bootstrap.resamples": n_resamples,
                "bootstrap.seed": seed,
                "bootstrap.confidence": result.bootstrap.get("confidence"),
            }
        )
        metrics: dict[str, float | int | None] = {
            "cases.total": result.n_cases,
            "cases.scored": result.n_scored,
            "cases.failed": result.n_failed,
        }
        for name, metric in result.metrics.items():
            metrics[key(name)] = metric.estimate
            metrics[key(name, "ci_low")] = metric.low
            metrics[key(name, "ci_high")] = metric.high
            metrics[key(name, "n_cases")] = metric.n_cases
        run.metrics(metrics)
        if eval_json is not None and Path(eval_json).is_file():
            run.artifact(Path(eval_json))
        else:
            run.document(result.model_dump(mode="json"), "eval.json")
        return run.run_id


@contextlib.contextmanager
def tracked_training(
    settings: TrackingSettings, recipe: Mapping[str, Any], out_dir: Path
) -> Iterator[TrainingTracker]:
    """An MLflow run made active for transformers' own ``MLflowCallback`` (``report_to``)."""
    import mlflow

    tags = {"explainmyxray.command": "train"}
    with tracked_run(settings, f"train {Path(out_dir).name}", tags) as run:
        run.document(dict(recipe), "recipe.json")
        previous = mlflow.get_tracking_uri()
        mlflow.set_tracking_uri(settings.uri)
        try:
            with mlflow.start_run(run_id=run.run_id):
                yield TrainingTracker(run)
        finally:
            mlflow.set_tracking_uri(previous)


class TrainingTracker:
    """The hooks the ``train`` command wires in."""

    report_to: tuple[str, ...] = ("mlflow",)

    def __init__(self, run: TrackedRun) -> None:
        self.run = run

    def on_eval(self, result: Mapping[str, Any]) -> None:
        """A generation evaluation (generate → parse → score) at a training step."""
        step = int(result.get("step", 0))
        numbers = {
            key("generation", name): value
            for name, value in result.items()
            if isinstance(value, int | float) and not isinstance(value, bool) and name != "step"
        }
        self.run.metrics(numbers, step=step)

    def finish(self, adapter_dir: Path, card_json: Path, card_markdown: Path) -> None:
        self.run.artifact(card_json, "training_card")
        self.run.artifact(card_markdown, "training_card")
        self.run.artifact(adapter_dir, "adapter")


def log_drift(settings: TrackingSettings, report: DriftReport, out_dir: Path) -> str:
    """Record a ``monitor`` comparison: each tested signal's statistic, p-values and verdict."""
    tags = {"explainmyxray.command": "monitor"}
    with tracked_run(settings, "monitor", tags) as run:
        run.params(
            {
                "reference": report.reference,
                "current": report.current,
                "alpha": report.alpha,
                "correction": report.correction,
            }
        )
        metrics: dict[str, float | int | None] = {
            "cases.reference": report.n_reference,
            "cases.current": report.n_current,
            "drift.signals_drifted": len(report.drifted),
        }
        for s in report.signals:
            if s.verdict == "not tested":
                continue
            metrics[key("drift", s.group, s.name, "statistic")] = s.statistic
            metrics[key("drift", s.group, s.name, "p_value")] = s.p_value
            metrics[key("drift", s.group, s.name, "adjusted_p")] = s.adjusted_p
            metrics[key("drift", s.group, s.name, "drift")] = int(s.verdict == "drift")
        run.metrics(metrics)
        for name in ("drift.html", "drift.json"):
            run.artifact(Path(out_dir) / name)
        return run.run_id
