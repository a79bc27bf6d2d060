"""Read a run back through MLflow's client: what the acceptance tests compare against."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class LoggedRun:
    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str]
    artifacts: list[str]
    status: str


def read_run(uri: str, run_id: str) -> LoggedRun:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    run = client.get_run(run_id)

    def walk(path: str | None = None):
        for item in client.list_artifacts(run_id, path):
            if item.is_dir:
                yield from walk(item.path)
            else:
                yield item.path

    return LoggedRun(
        params=dict(run.data.params),
        metrics=dict(run.data.metrics),
        tags=dict(run.data.tags),
        artifacts=sorted(walk()),
        status=run.info.status,
    )


def metric_history(uri: str, run_id: str, key: str) -> list[tuple[int, float]]:
    from mlflow import MlflowClient

    history = MlflowClient(tracking_uri=uri).get_metric_history(run_id, key)
    return [(m.step, m.value) for m in history]
