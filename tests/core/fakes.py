"""Plugins and models for testing the framework itself: real hook implementations, fake weights."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from explainmyxray import hookimpl
from explainmyxray.core.case import Finding, Score, StructuredReport, XrayImage
from explainmyxray.core.plugin_api import LoadRequest, ModelRequest, ModelSpec

MiB = 1024**2


class FakeRunner:
    live: ClassVar[dict[str, int]] = {}

    def __init__(self, name: str) -> None:
        self.name = name
        self.loaded = False

    def load(self, request: LoadRequest) -> None:
        self.loaded = True
        self.device = request.device
        FakeRunner.live[self.name] = FakeRunner.live.get(self.name, 0) + 1

    def unload(self) -> None:
        self.loaded = False
        FakeRunner.live[self.name] -= 1


def fake_spec(name: str, mib: int, **kw) -> ModelSpec:
    return ModelSpec(
        name=name,
        factory=lambda: FakeRunner(name),
        memory_bytes={"fp32": mib * MiB, "fp16": mib * MiB // 2},
        default_precision="fp32",
        **kw,
    )


class ReaderOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    size: int = Field(default=32, ge=4)
    fail_on: list[str] = Field(default_factory=list)


class WriterOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: str = "writer-a"
    temperature: float = 0.0


class FakeReader:
    """A preprocess plugin that makes a gradient image, failing for names in ``fail_on``."""

    calls: ClassVar[list[int]] = []

    @hookimpl
    def register_stages(self, register):
        register("preprocess", options=ReaderOptions)

    @hookimpl
    def preprocess(self, cases, step):
        FakeReader.calls.append(len(cases))
        out = []
        for case in cases:
            if any(f in str(case.input_file) for f in step.options.fail_on):
                out.append(ValueError(f"cannot decode {case.input_file}"))
                continue
            n = step.options.size
            pixels = np.tile(np.linspace(0, 1, n, dtype=np.float32), (n, 1))
            out.append(XrayImage(pixels=pixels, width=n, height=n, source_format="png"))
        return out


class FakeWriter:
    """A generate plugin whose model is a FakeRunner named by its options."""

    @hookimpl
    def register_stages(self, register):
        register("generate", options=WriterOptions, models=lambda o: [ModelRequest(o.model)])

    @hookimpl
    def register_models(self, register):
        register(fake_spec("writer-a", 600))
        register(fake_spec("writer-b", 300))

    @hookimpl
    def generate(self, cases, step):
        runner = step.model(step.options.model)
        assert runner.loaded
        return [
            StructuredReport(findings=[Finding(label="cardiomegaly")], source=runner.name)
            for _ in cases
        ]


class FakeScorer:
    @hookimpl
    def register_stages(self, register):
        register("score", models=lambda o: [ModelRequest("judge")])

    @hookimpl
    def register_models(self, register):
        register(fake_spec("judge", 500))

    @hookimpl
    def score(self, cases, step):
        assert step.model("judge").loaded
        return [[Score(metric="n_findings", value=len(c.report.findings))] for c in cases]


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple] = []

    @hookimpl
    def before_stage_run(self, stage, plugin, cases):
        self.events.append(("before", stage, plugin, len(cases)))

    @hookimpl
    def after_stage_run(self, stage, plugin, cases, seconds):
        self.events.append(("after", stage, plugin, len(cases)))

    @hookimpl
    def on_stage_error(self, stage, plugin, case, error):
        self.events.append(("error", stage, plugin, case.id))


def fake_plugins():
    return [("reader", FakeReader()), ("writer", FakeWriter()), ("scorer", FakeScorer())]
