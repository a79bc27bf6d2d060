"""The training configuration: one YAML file, validated field by field (unknown keys are errors).

``configs/training/medgemma-qlora-v2.yaml`` is the v2 recipe: MedGemma-4B loaded in 4-bit NF4
with double quantization (bf16 compute), LoRA r=32, alpha=64, dropout 0.05 on every linear layer
of the language model (the SigLIP vision tower stays frozen unless ``train_vision: true``), bf16,
gradient checkpointing, paged 8-bit AdamW, learning rate 2e-4 with a cosine schedule and warmup.

For CPU runs (tests, tiny models) a config may ask for ``quantization: none``, ``precision: fp32``
and ``optim: adamw_torch``. When a config asks for something this machine cannot do (paged 8-bit
AdamW or bf16 without CUDA, NF4 without bitsandbytes), ``fallback: warn`` replaces it with what
can run and says so (a warning, and the training card lists every replacement);
``fallback: error`` stops instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from explainmyxray.core.errors import ConfigError

from .dataset import DataOptions

Optimizer = Literal["paged_adamw_8bit", "adamw_8bit", "paged_adamw_32bit", "adamw_torch"]
BITSANDBYTES_OPTIMIZERS = frozenset({"paged_adamw_8bit", "adamw_8bit", "paged_adamw_32bit"})


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LoraOptions(_Section):
    r: int = Field(32, ge=1)
    alpha: int = Field(64, ge=1)
    dropout: float = Field(0.05, ge=0.0, lt=1.0)
    target_modules: str | list[str] = Field(
        "all-linear", description='"all-linear" or a list of module names'
    )


class OptimOptions(_Section):
    optim: Optimizer = "paged_adamw_8bit"
    learning_rate: float = Field(2e-4, gt=0.0)
    lr_scheduler: Literal["cosine", "linear", "constant", "constant_with_warmup"] = "cosine"
    warmup: float = Field(
        0.03, ge=0.0, description="a fraction of the steps if below 1, else a number of steps"
    )
    weight_decay: float = Field(0.0, ge=0.0)
    max_grad_norm: float = Field(0.3, gt=0.0)
    max_steps: int = Field(-1, description="-1: train for `epochs`")
    epochs: float = Field(1.0, gt=0.0)
    per_device_batch_size: int = Field(4, ge=1)
    gradient_accumulation_steps: int = Field(4, ge=1)
    gradient_checkpointing: bool = True
    max_length: int = Field(
        1536, ge=64, description="tokens per example (prompt with image tokens + answer)"
    )
    seed: int = 42
    logging_steps: int = Field(10, ge=1)
    save_steps: int = Field(200, ge=1)
    save_total_limit: int | None = Field(3, ge=1)
    dataloader_workers: int = Field(2, ge=0)


class EvalOptions(_Section):
    eval_steps: int = Field(200, ge=1, description="evaluate every this many optimizer steps")
    loss_examples: int = Field(
        128, ge=0, description="validation examples for the validation loss (0: none)"
    )
    generate_examples: int = Field(
        32, ge=0, description="validation examples generated, parsed and scored (0: none)"
    )
    batch_size: int = Field(8, ge=1)
    max_new_tokens: int = Field(256, ge=1)
    on_start: bool = Field(False, description="also evaluate before the first step")


class TrainConfig(_Section):
    """A whole training run (see the module docstring)."""

    base_model: Path | None = Field(
        None, description="folder of the base weights; null: the registered medgemma-4b-it"
    )
    quantization: Literal["nf4", "none"] = "nf4"
    precision: Literal["bf16", "fp32"] = Field(
        "bf16", description="compute and mixed-precision dtype"
    )
    train_vision: bool = Field(False, description="put LoRA on the vision tower too")
    instruction: str | None = Field(
        None,
        description="replaces the generator's built-in instruction; give the generate step the "
        "same text (its `instruction` option) when using the adapter",
    )
    fallback: Literal["warn", "error"] = "warn"
    lora: LoraOptions = Field(default_factory=LoraOptions)
    training: OptimOptions = Field(default_factory=OptimOptions)
    evaluation: EvalOptions = Field(default_factory=EvalOptions)
    data: DataOptions = Field(default_factory=DataOptions)


def load_config(path: Path | str) -> TrainConfig:
    """Read and validate a training YAML file (safe YAML with limits); problems name the field."""
    from ..core.safe_yaml import read_yaml

    path = Path(path).expanduser()
    document = read_yaml(path, "training config").data
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise ConfigError(f"training config {path}: expected a mapping at the top level")
    try:
        config = TrainConfig.model_validate(document)
    except ValidationError as exc:
        problems = "\n  ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in exc.errors()
        )
        raise ConfigError(f"training config {path}:\n  {problems}") from exc
    if config.base_model is not None and not config.base_model.is_absolute():
        config = config.model_copy(update={"base_model": (path.parent / config.base_model)})
    return config
