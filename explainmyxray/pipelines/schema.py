"""The pipeline file, as pydantic models. Unknown keys are errors everywhere."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator

from ..core.case import STAGES, Stage
from ..core.memory import GiB, parse_size

Size = Annotated[int, BeforeValidator(parse_size)]
_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BudgetConfig(Strict):
    """Memory the run may use for resident models: GPU (the default target is a 12 GiB card)
    and host RAM (for models on the CPU, and for models parked off the GPU)."""

    gpu: Size = Field(default=12 * GiB, gt=0)
    cpu: Size = Field(default=16 * GiB, gt=0)


class StepConfig(Strict):
    """One step: which stage, which plugin implements it, and that plugin's options."""

    stage: Stage
    plugin: str = Field(min_length=1)
    options: dict[str, Any] = Field(default_factory=dict)
    device: str | None = None

    @field_validator("device")
    @classmethod
    def _device(cls, value: str | None) -> str | None:
        if value is not None and not _DEVICE.match(value):
            raise ValueError("expected auto, cpu, cuda or cuda:N")
        return value


class TrackingConfig(Strict):
    """Record each run of this pipeline in MLflow (``explainmyxray run --track`` does the same).

    ``uri`` is an MLflow tracking URI; without one, ``MLFLOW_TRACKING_URI``, else MLflow's own
    default, a SQLite database ``mlflow.db`` in the working folder. Nothing is sent to a server
    unless ``uri`` (or the environment) names one."""

    enabled: bool = True
    uri: str | None = Field(default=None, min_length=1)
    experiment: str = Field(default="explainmyxray", min_length=1)
    overlays: int = Field(default=8, ge=0, description="how many overlays to log as artifacts")


class PipelineConfig(Strict):
    name: str = Field(min_length=1)
    description: str = ""
    device: str = "auto"
    budget: BudgetConfig = Field(default_factory=BudgetConfig)
    batch_size: int = Field(default=16, ge=1)
    stages: list[StepConfig] = Field(min_length=1)
    tracking: TrackingConfig | None = None

    @field_validator("device")
    @classmethod
    def _device(cls, value: str) -> str:
        if not _DEVICE.match(value):
            raise ValueError("expected auto, cpu, cuda or cuda:N")
        return value

    @model_validator(mode="after")
    def _stage_order(self) -> PipelineConfig:
        order = [STAGES.index(s.stage) for s in self.stages]
        if self.stages[0].stage != "preprocess":
            raise ValueError("the first stage must be preprocess")
        if sum(1 for s in self.stages if s.stage == "preprocess") > 1:
            raise ValueError("preprocess may appear only once")
        for i in range(1, len(order)):
            if order[i] < order[i - 1]:
                raise ValueError(
                    f"stage {self.stages[i].stage!r} cannot follow {self.stages[i - 1].stage!r}; "
                    f"the order is {' → '.join(STAGES)}"
                )
        return self
