"""QLoRA fine-tuning of the MedGemma generator with TRL's ``SFTTrainer``.

:func:`train` takes a validated :class:`~.config.TrainConfig` and the examples of
:mod:`.dataset` and writes, under ``OUT``:

* ``checkpoints/checkpoint-N/``: Trainer checkpoints (adapter, optimizer, scheduler, RNG), kept
  for ``resume``;
* ``adapter/``: the final PEFT adapter (``adapter_config.json`` + ``adapter_model.safetensors``),
  the layout the ``generate: medgemma`` step loads with ``adapter:``, and beside it the training
  card (``TRAINING_CARD.md``, ``training_card.json``);
* ``data_summary.json`` and ``splits.jsonl`` (which image went to which split).

The base model is loaded by the generator's own :class:`MedGemmaRunner` (same precisions, same
processor set-up), so training sees the model exactly as inference will.
"""

from __future__ import annotations

import json
import logging
import platform
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from explainmyxray.core.errors import ConfigError, UsageError

from .config import BITSANDBYTES_OPTIMIZERS, TrainConfig
from .dataset import TrainingData, TrainingExample

log = logging.getLogger(__name__)

VISION_MODULES = r".*vision_tower.*"
CHECKPOINTS = "checkpoints"
ADAPTER = "adapter"
DATA_SUMMARY = "data_summary.json"
SPLITS_FILE = "splits.jsonl"


@dataclass(frozen=True)
class Runtime:
    """The config as this machine runs it, and every replacement made on the way."""

    config: TrainConfig
    device: str
    fallbacks: tuple[str, ...] = ()

    @property
    def load_precision(self) -> str:
        """The generator runner's precision name for this base-model set-up."""
        return "nf4" if self.config.quantization == "nf4" else self.config.precision


@dataclass
class TrainResult:
    """Where the adapter and card are, and the loss and evaluation history."""

    adapter_dir: Path
    card_json: Path
    card_markdown: Path
    global_step: int
    train_losses: list[tuple[int, float]] = field(default_factory=list)
    eval_history: list[dict[str, Any]] = field(default_factory=list)
    final_eval: dict[str, Any] | None = None
    runtime: dict[str, Any] = field(default_factory=dict)

    @property
    def first_loss(self) -> float | None:
        return self.train_losses[0][1] if self.train_losses else None

    @property
    def last_loss(self) -> float | None:
        return self.train_losses[-1][1] if self.train_losses else None


# --- what this machine can do -------------------------------------------------------------------


def _has_bitsandbytes() -> bool:
    try:
        import bitsandbytes  # noqa: F401
    except ImportError:
        return False
    return True


def plan_runtime(
    config: TrainConfig,
    *,
    device: str | None = None,
    cuda: bool | None = None,
    bf16_ok: bool | None = None,
    bitsandbytes: bool | None = None,
) -> Runtime:
    """Check the config against this machine; replace what cannot run (``fallback: warn``,
    each replacement logged as a warning and kept in the card) or refuse (``fallback: error``).

    ``cuda``, ``bf16_ok`` and ``bitsandbytes`` default to what this machine has.
    """
    import torch

    cuda = torch.cuda.is_available() if cuda is None else cuda
    device = device or ("cuda" if cuda else "cpu")
    on_cuda = device.startswith("cuda")
    if on_cuda and not cuda:
        raise UsageError(f"device {device!r} asked for, but CUDA is not available")
    if bf16_ok is None:
        bf16_ok = torch.cuda.is_bf16_supported() if on_cuda else True
    bitsandbytes = _has_bitsandbytes() if bitsandbytes is None else bitsandbytes
    changes: dict[str, Any] = {}
    reasons: list[str] = []
    if config.quantization == "nf4" and not bitsandbytes:
        changes["quantization"] = "none"
        reasons.append("quantization nf4 -> none: bitsandbytes is not installed")
    optim = config.training.optim
    if optim in BITSANDBYTES_OPTIMIZERS and not (on_cuda and bitsandbytes):
        why = "bitsandbytes is not installed" if not bitsandbytes else f"the device is {device}"
        changes["training"] = config.training.model_copy(update={"optim": "adamw_torch"})
        reasons.append(f"optim {optim} -> adamw_torch: it needs CUDA and bitsandbytes ({why})")
    if config.precision == "bf16" and not bf16_ok:
        changes["precision"] = "fp32"
        reasons.append("precision bf16 -> fp32: this GPU has no bf16 support")
    if reasons and config.fallback == "error":
        raise ConfigError(
            "this machine cannot run the training config as written (fallback: error):\n  "
            + "\n  ".join(reasons)
        )
    for reason in reasons:
        log.warning("training fallback: %s", reason)
    runtime_config = config.model_copy(update=changes)
    return Runtime(config=runtime_config, device=device, fallbacks=tuple(reasons))


# --- model and trainer set-up -------------------------------------------------------------------


def resolve_base_model(config: TrainConfig) -> Path:
    """The base weights folder: the config's, else the registered MedGemma's (checked)."""
    from explainmyxray.models.vision_language.medgemma.runner import check_weights
    from explainmyxray.models.vision_language.medgemma.spec import medgemma_4b_spec
    from explainmyxray.registry.weights import locate_weights

    spec = medgemma_4b_spec()
    where = config.base_model.expanduser() if config.base_model else locate_weights(spec)
    return check_weights(spec, where)


def load_base(base: Path, runtime: Runtime) -> tuple[Any, Any]:
    """``(model, processor)`` loaded by the generator's runner at the runtime's precision."""
    from explainmyxray.core.plugin_api import LoadRequest
    from explainmyxray.models.vision_language.medgemma.runner import MedGemmaRunner
    from explainmyxray.models.vision_language.medgemma.spec import medgemma_4b_spec

    runner = MedGemmaRunner(medgemma_4b_spec())
    runner.load(LoadRequest(runtime.device, runtime.load_precision, base))
    return runner.model, runner.processor


def lora_config(config: TrainConfig) -> Any:
    """The LoRA of the config; the vision tower is excluded unless ``train_vision``."""
    from peft import LoraConfig

    return LoraConfig(
        r=config.lora.r,
        lora_alpha=config.lora.alpha,
        lora_dropout=config.lora.dropout,
        target_modules=config.lora.target_modules,
        exclude_modules=None if config.train_vision else VISION_MODULES,
        bias="none",
        task_type="CAUSAL_LM",
    )


def sft_config(runtime: Runtime, out: Path, *, evaluate: bool) -> Any:
    """TRL's ``SFTConfig`` for the runtime config (checkpoints under ``OUT/checkpoints``)."""
    from trl import SFTConfig

    t = runtime.config.training
    e = runtime.config.evaluation
    return SFTConfig(
        output_dir=str(out / CHECKPOINTS),
        per_device_train_batch_size=t.per_device_batch_size,
        per_device_eval_batch_size=t.per_device_batch_size,
        gradient_accumulation_steps=t.gradient_accumulation_steps,
        learning_rate=t.learning_rate,
        lr_scheduler_type=t.lr_scheduler,
        warmup_steps=t.warmup,
        weight_decay=t.weight_decay,
        max_grad_norm=t.max_grad_norm,
        num_train_epochs=t.epochs,
        max_steps=t.max_steps,
        optim=t.optim,
        bf16=runtime.config.precision == "bf16",
        fp16=False,
        **_checkpointing(SFTConfig, t.gradient_checkpointing),
        logging_steps=t.logging_steps,
        logging_first_step=True,
        save_strategy="steps",
        save_steps=t.save_steps,
        save_total_limit=t.save_total_limit,
        eval_strategy="steps" if evaluate else "no",
        eval_steps=e.eval_steps,
        eval_on_start=evaluate and e.on_start,
        prediction_loss_only=True,
        seed=t.seed,
        data_seed=t.seed,
        dataloader_num_workers=t.dataloader_workers,
        remove_unused_columns=False,
        dataset_kwargs={"skip_prepare_dataset": True},
        max_length=None,  # the collator truncates (answers only, never the image tokens)
        label_names=["labels"],
        report_to="none",
        disable_tqdm=True,
        use_cpu=not runtime.device.startswith("cuda"),
    )


def _checkpointing(config_class: type, enabled: bool) -> dict[str, Any]:
    """Activation checkpointing arguments under the name this transformers knows (5.2x renamed
    ``gradient_checkpointing`` to ``activation_checkpointing``)."""
    import inspect

    parameters = inspect.signature(config_class.__init__).parameters
    name = "activation" if "activation_checkpointing" in parameters else "gradient"
    return {
        f"{name}_checkpointing": enabled,
        f"{name}_checkpointing_kwargs": {"use_reentrant": False},
    }


def hf_dataset(examples: Sequence[TrainingExample]) -> Any:
    """The rows the collator reads: image path, target report, key."""
    from datasets import Dataset

    return Dataset.from_list(
        [{"image": str(e.image), "report": e.report, "key": e.key} for e in examples]
    )


def latest_checkpoint(folder: Path) -> Path | None:
    found = [p for p in folder.glob("checkpoint-*") if p.name.split("-")[-1].isdigit()]
    return max(found, key=lambda p: int(p.name.split("-")[-1])) if found else None


def write_data_files(data: TrainingData, out: Path) -> None:
    from explainmyxray.core.results import atomic_write_bytes

    data.write_summary(out / DATA_SUMMARY)
    lines = "".join(json.dumps(e.to_json(), ensure_ascii=False) + "\n" for e in data.examples)
    atomic_write_bytes(out / SPLITS_FILE, lines.encode("utf-8"))


# --- training ----------------------------------------------------------------------------------


def train(
    config: TrainConfig,
    data: TrainingData,
    out: Path,
    *,
    resume: bool = False,
    device: str | None = None,
    callbacks: Sequence[Any] = (),
    on_eval: Callable[[dict[str, Any]], None] | None = None,
) -> TrainResult:
    """Fine-tune the generator on ``data`` as ``config`` says; see the module docstring.

    ``callbacks`` are extra ``TrainerCallback`` objects (progress display); ``on_eval`` gets each
    generate → parse → score result.
    """
    out = Path(out).expanduser()
    train_examples = data.split("train")
    if not train_examples:
        raise UsageError("no training examples (see the data summary for what was left out)")
    latest = latest_checkpoint(out / CHECKPOINTS)
    if resume and latest is None:
        raise UsageError(f"--resume: no checkpoint in {out / CHECKPOINTS} to resume from")
    if not resume and latest is not None:
        raise UsageError(
            f"{out} already holds checkpoints ({latest.name}); pass --resume to continue from "
            f"them, or choose another output folder"
        )
    base = resolve_base_model(config)
    runtime = plan_runtime(config, device=device)
    config = runtime.config
    out.mkdir(parents=True, exist_ok=True)
    write_data_files(data, out)

    import torch
    from transformers import PrinterCallback
    from trl import SFTTrainer

    from explainmyxray.models.vision_language.medgemma.prompt import build_prompt

    from .card import count_parameters, write_training_card
    from .collator import ReportCollator, count_truncated
    from .evaluation import make_generation_callback

    model, processor = load_base(base, runtime)
    validation = data.split("validation")
    loss_examples = validation[: config.evaluation.loss_examples]
    generate_examples = validation[: config.evaluation.generate_examples]
    pixel_dtype = torch.float32 if config.precision == "fp32" else torch.bfloat16
    prompt = build_prompt(instruction_text=config.instruction)
    collator = ReportCollator(processor, config.training.max_length, pixel_dtype, prompt)
    reports = [e.report for e in (*train_examples, *loss_examples)]
    truncated = count_truncated(processor, reports, collator.max_length, prompt)
    if truncated:
        log.warning(
            "%d target reports are longer than training.max_length %d allows; their ends are "
            "cut (raise max_length to keep them whole)",
            truncated,
            collator.max_length,
        )
    generation = make_generation_callback(
        generate_examples,
        processor,
        batch_size=config.evaluation.batch_size,
        max_new_tokens=config.evaluation.max_new_tokens,
        every=None if loss_examples else config.evaluation.eval_steps,
        prompt=prompt,
        on_result=on_eval,
    )
    trainer = SFTTrainer(
        model=model,
        args=sft_config(runtime, out, evaluate=bool(loss_examples)),
        data_collator=collator,
        train_dataset=hf_dataset(train_examples),
        eval_dataset=hf_dataset(loss_examples) if loss_examples else None,
        processing_class=processor,
        peft_config=lora_config(config),
        callbacks=[*([generation] if generate_examples else []), *callbacks],
    )
    trainer.remove_callback(PrinterCallback)  # progress is shown by the caller's callbacks
    trainable, total = count_parameters(trainer.model)
    output = trainer.train(resume_from_checkpoint=str(latest) if resume else None)

    step = trainer.state.global_step
    history = trainer.state.log_history
    if loss_examples and not any(h.get("step") == step and "eval_loss" in h for h in history):
        trainer.evaluate()  # the generation callback runs after it
    elif generate_examples and not (generation.history and generation.history[-1]["step"] == step):
        generation.run(trainer.model, trainer.state)
    final_eval = generation.history[-1] if generation.history else None

    adapter_dir = out / ADAPTER
    trainer.model.save_pretrained(adapter_dir, safe_serialization=True)
    losses = [(int(h["step"]), float(h["loss"])) for h in history if "loss" in h and "step" in h]
    runtime_info = {
        "device": runtime.device,
        "device_name": _device_name(runtime.device),
        "load_precision": runtime.load_precision,
        "optim": config.training.optim,
        "fallbacks": list(runtime.fallbacks),
        "base_model": str(base),
        "resumed_from": str(latest) if resume and latest else None,
        "trainable_parameters": trainable,
        "total_parameters": total,
        "truncated_answers": truncated,
        "train_runtime_s": output.metrics.get("train_runtime"),
        "train_steps_per_second": output.metrics.get("train_steps_per_second"),
    }
    card_json, card_md = write_training_card(
        adapter_dir,
        config=config,
        data_summary=data.summary,
        log_history=history,
        generation_history=generation.history,
        final_eval=final_eval,
        runtime=runtime_info,
        global_step=step,
    )
    return TrainResult(
        adapter_dir=adapter_dir,
        card_json=card_json,
        card_markdown=card_md,
        global_step=step,
        train_losses=losses,
        eval_history=list(generation.history),
        final_eval=final_eval,
        runtime=runtime_info,
    )


def _device_name(device: str) -> str:
    import torch

    if device.startswith("cuda") and torch.cuda.is_available():
        return torch.cuda.get_device_name(torch.device(device))
    return platform.processor() or platform.machine()
