"""Whether to track, where, and the MLflow run that a command logs into.

Tracking is on when ``--track`` is given, when the pipeline has a ``tracking:`` section, or when
``MLFLOW_TRACKING_URI`` is set. The store is, first to last: the URI given to ``--track``,
``MLFLOW_TRACKING_URI``, the pipeline's ``tracking.uri``, and MLflow's own default, the SQLite
database ``sqlite:///mlflow.db`` in the working folder. For a SQLite store, a new experiment keeps
its artifacts in ``mlruns/`` beside the database file (MLflow's own layout), not wherever the
command happens to run. Everything goes through MLflow's client API.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.errors import TrackingError
from ..pipelines.schema import TrackingConfig

DEFAULT_URI = "sqlite:///mlflow.db"
DEFAULT_EXPERIMENT = "explainmyxray"
ENV_URI = "MLFLOW_TRACKING_URI"
ENV_EXPERIMENT = "MLFLOW_EXPERIMENT_NAME"
MAX_PARAM_CHARS = 6000


@dataclass(frozen=True)
class TrackingSettings:
    uri: str
    experiment: str = DEFAULT_EXPERIMENT
    overlays: int = 8


def resolve_tracking(
    track: str | None, section: TrackingConfig | None = None
) -> TrackingSettings | None:
    """``track`` is the ``--track`` value: None when not given, "" when given without a URI."""
    env_uri = os.environ.get(ENV_URI) or None
    section_on = section is not None and section.enabled
    if track is None and not section_on and env_uri is None:
        return None
    uri = track or env_uri or (section.uri if section else None) or DEFAULT_URI
    experiment = (
        os.environ.get(ENV_EXPERIMENT)
        or (section.experiment if section else None)
        or DEFAULT_EXPERIMENT
    )
    overlays = section.overlays if section else TrackingConfig().overlays
    return TrackingSettings(uri=uri, experiment=experiment, overlays=overlays)


def sqlite_artifact_root(uri: str) -> str | None:
    """``mlruns/`` beside a SQLite database file, as a file URI; None for other stores."""
    prefix = "sqlite:///"
    if not uri.startswith(prefix) or uri == prefix + ":memory:":
        return None
    return (Path(uri[len(prefix) :]).resolve().parent / "mlruns").as_uri()


def require_mlflow() -> Any:
    """The ``mlflow`` module, or a TrackingError saying how to install it."""
    try:
        import mlflow
    except ImportError as exc:
        raise TrackingError(
            f"tracking needs MLflow ({exc}); install it with: pip install 'explainmyxray[tracking]'"
        ) from exc
    return mlflow


def client(settings: TrackingSettings) -> Any:
    mlflow = require_mlflow()
    try:
        return mlflow.MlflowClient(tracking_uri=settings.uri)
    except Exception as exc:
        raise store_error(settings, exc) from exc


def store_error(settings: TrackingSettings, exc: Exception) -> TrackingError:
    return TrackingError(f"MLflow store {settings.uri}: {type(exc).__name__}: {exc}")


def experiment_id(mlflow_client: Any, settings: TrackingSettings) -> str:
    try:
        found = mlflow_client.get_experiment_by_name(settings.experiment)
        if found is not None:
            return found.experiment_id
        return mlflow_client.create_experiment(
            settings.experiment, artifact_location=sqlite_artifact_root(settings.uri)
        )
    except Exception as exc:
        raise store_error(settings, exc) from exc


@dataclass
class TrackedRun:
    """An open MLflow run: a thin handle over the client calls this package makes."""

    client: Any
    run_id: str

    def params(self, values: Mapping[str, object]) -> None:
        from mlflow.entities import Param

        items = [
            Param(key, _param_text(value)) for key, value in values.items() if value is not None
        ]
        for start in range(0, len(items), 100):  # MLflow takes at most 100 params a batch
            self.client.log_batch(self.run_id, params=items[start : start + 100])

    def metrics(self, values: Mapping[str, float | int | None], step: int = 0) -> None:
        import time

        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [
            Metric(key, float(value), now, step)
            for key, value in values.items()
            if value is not None
        ]
        for start in range(0, len(items), 1000):
            self.client.log_batch(self.run_id, metrics=items[start : start + 1000])

    def tags(self, values: Mapping[str, object]) -> None:
        for key, value in values.items():
            if value is not None:
                self.client.set_tag(self.run_id, key, _param_text(value))

    def artifact(self, path: Path, folder: str | None = None) -> None:
        if Path(path).is_dir():
            self.client.log_artifacts(self.run_id, str(path), folder)
        elif Path(path).is_file():
            self.client.log_artifact(self.run_id, str(path), folder)

    def document(self, document: object, name: str) -> None:
        """A JSON or text artifact written from memory (``MlflowClient.log_dict``/``log_text``)."""
        if isinstance(document, str):
            self.client.log_text(self.run_id, document, name)
        else:
            self.client.log_dict(self.run_id, document, name)


def _param_text(value: object) -> str:
    text = str(value)
    return text if len(text) <= MAX_PARAM_CHARS else text[: MAX_PARAM_CHARS - 1] + "…"


@contextlib.contextmanager
def tracked_run(
    settings: TrackingSettings, name: str, tags: Mapping[str, str] | None = None
) -> Iterator[TrackedRun]:
    """Create a run; finish it FINISHED, or FAILED if the block raises (the error goes on)."""
    mlflow_client = client(settings)
    exp = experiment_id(mlflow_client, settings)
    try:
        run = mlflow_client.create_run(exp, run_name=name, tags=dict(tags or {}))
    except Exception as exc:
        raise store_error(settings, exc) from exc
    handle = TrackedRun(mlflow_client, run.info.run_id)
    try:
        yield handle
    except BaseException:
        mlflow_client.set_terminated(handle.run_id, status="FAILED")
        raise
    mlflow_client.set_terminated(handle.run_id, status="FINISHED")
