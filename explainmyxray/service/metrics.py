"""``/metrics`` in the Prometheus text format.

Event figures (batches, rejections, job latency) are counted as they happen; state figures (jobs
by state, queue depth, stage seconds, model loads and evictions, GPU memory) are read from the
queue and the engine at scrape time, so they are right after a restart too.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from .engine_adapter import gpu_memory

if TYPE_CHECKING:
    from .engine_adapter import ServingEngine
    from .store import JobStore

disable_created_metrics()  # the *_created series only add noise to every counter

PREFIX = "explainmyxray"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _StateCollector(Collector):
    def __init__(self, store: JobStore, engine: ServingEngine) -> None:
        self.store = store
        self.engine = engine

    def collect(self) -> Iterator[Metric]:
        counts = self.store.counts()
        jobs = GaugeMetricFamily(f"{PREFIX}_jobs", "Jobs by state", labels=["state"])
        for state, n in counts["jobs"].items():
            jobs.add_metric([state], n)
        yield jobs
        cases = GaugeMetricFamily(f"{PREFIX}_cases", "Cases by state", labels=["state"])
        for state, n in counts["cases"].items():
            cases.add_metric([state], n)
        yield cases
        yield GaugeMetricFamily(
            f"{PREFIX}_queue_depth", "Cases waiting for a batch", value=counts["cases"]["queued"]
        )
        stats = self.engine.stats()
        stage = CounterMetricFamily(
            f"{PREFIX}_stage_seconds", "Seconds spent in each pipeline step", labels=["step"]
        )
        for label, seconds in stats.stage_seconds.items():
            stage.add_metric([label], seconds)
        yield stage
        for name, values, help_text in (
            ("model_loads", stats.loads, "Model loads"),
            ("model_evictions", stats.evictions, "Models unloaded to make room or at the end"),
            ("model_parks", stats.parks, "GPU models parked in host memory"),
            ("model_restores", stats.restores, "Parked models brought back to the GPU"),
        ):
            family = CounterMetricFamily(f"{PREFIX}_{name}", help_text, labels=["model"])
            for model, n in values.items():
                family.add_metric([model], n)
            yield family
        resident = GaugeMetricFamily(
            f"{PREFIX}_resident_model_bytes", "Bytes charged by resident models", labels=["device"]
        )
        for device, n in stats.resident_bytes.items():
            resident.add_metric([device], n)
        yield resident
        gpu = GaugeMetricFamily(
            f"{PREFIX}_gpu_memory_bytes", "torch CUDA memory", labels=["device", "kind"]
        )
        for device, kinds in gpu_memory().items():
            for kind, n in kinds.items():
                gpu.add_metric([device, kind], n)
        yield gpu


class ServiceMetrics:
    def __init__(self, store: JobStore, engine: ServingEngine) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(_StateCollector(store, engine))
        self.jobs_submitted = Counter(
            f"{PREFIX}_jobs_submitted", "Jobs accepted", registry=self.registry
        )
        self.rejected = Counter(
            f"{PREFIX}_requests_rejected",
            "Requests refused by a limit",
            ["status"],
            registry=self.registry,
        )
        self.batch_cases = Histogram(
            f"{PREFIX}_batch_cases",
            "Cases per engine batch",
            buckets=(1, 2, 4, 8, 16, 32, 64),
            registry=self.registry,
        )
        self.batch_jobs = Histogram(
            f"{PREFIX}_batch_jobs",
            "Jobs sharing one engine batch",
            buckets=(1, 2, 4, 8, 16, 32),
            registry=self.registry,
        )
        self.batch_seconds = Histogram(
            f"{PREFIX}_batch_seconds", "Engine seconds per batch", registry=self.registry
        )
        self.job_seconds = Histogram(
            f"{PREFIX}_job_seconds",
            "Seconds from submission to the end of a job",
            buckets=(0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
            registry=self.registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
