"""The training card written beside an adapter: what it was trained on, how, and how it scored.

``training_card.json`` holds everything (data summary, the config as run, fallbacks, the loss and
evaluation history, library versions); ``TRAINING_CARD.md`` is the same for people.
"""

from __future__ import annotations

import datetime as dt
import importlib.metadata
import platform
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .config import TrainConfig

CARD_JSON = "training_card.json"
CARD_MARKDOWN = "TRAINING_CARD.md"
LIBRARIES = (
    "explainmyxray",
    "torch",
    "transformers",
    "trl",
    "peft",
    "accelerate",
    "bitsandbytes",
    "datasets",
)
CARD_SCHEMA_VERSION = "1.0"


def library_versions() -> dict[str, str | None]:
    """Installed versions of the libraries training depends on (None: not installed)."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    if versions["explainmyxray"] is None:  # run from a source checkout
        from explainmyxray import __version__

        versions["explainmyxray"] = __version__
    return versions


def count_parameters(model: Any) -> tuple[int, int]:
    """``(trainable, total)`` parameter counts (4-bit weights counted as stored elements x 2)."""
    trainable = total = 0
    for parameter in model.parameters():
        n = parameter.numel()
        if type(parameter).__name__ == "Params4bit":
            n *= 2  # two 4-bit values per stored byte
        total += n
        if parameter.requires_grad:
            trainable += n
    return trainable, total


def split_history(log_history: Sequence[Mapping[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The Trainer's log history as training rows (loss, lr, grad norm) and evaluation rows."""
    train_rows, eval_rows = [], []
    for entry in log_history:
        if "loss" in entry:
            train_rows.append(
                {k: entry.get(k) for k in ("step", "epoch", "loss", "learning_rate", "grad_norm")}
            )
        elif "eval_loss" in entry:
            eval_rows.append({k: entry.get(k) for k in ("step", "epoch", "eval_loss")})
    return {"train": train_rows, "eval_loss": eval_rows}


def write_training_card(
    adapter_dir: Path,
    *,
    config: TrainConfig,
    data_summary: Mapping[str, Any],
    log_history: Sequence[Mapping[str, Any]],
    generation_history: Sequence[Mapping[str, Any]],
    final_eval: Mapping[str, Any] | None,
    runtime: Mapping[str, Any],
    global_step: int,
) -> tuple[Path, Path]:
    """Write ``training_card.json`` and ``TRAINING_CARD.md`` into ``adapter_dir``."""
    from explainmyxray.core.results import atomic_write_bytes, atomic_write_json

    card = {
        "schema_version": CARD_SCHEMA_VERSION,
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "global_step": global_step,
        "runtime": dict(runtime),
        "config": config.model_dump(mode="json"),
        "data": dict(data_summary),
        "history": {**split_history(log_history), "generation": list(generation_history)},
        "final_eval": dict(final_eval) if final_eval else None,
        "versions": library_versions(),
    }
    json_path = Path(adapter_dir) / CARD_JSON
    md_path = Path(adapter_dir) / CARD_MARKDOWN
    atomic_write_json(json_path, card)
    atomic_write_bytes(md_path, render_card(card).encode("utf-8"))
    return json_path, md_path


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def render_card(card: Mapping[str, Any]) -> str:
    """The Markdown training card."""
    runtime, config, data = card["runtime"], card["config"], card["data"]
    lines = [
        "# Training card: MedGemma LoRA adapter",
        "",
        f"Created {card['created']}, {card['global_step']} optimizer steps.",
        "",
        "## Model",
        "",
        f"- base model: `{runtime.get('base_model')}`, loaded as {runtime.get('load_precision')}",
        f"- LoRA r={config['lora']['r']}, alpha={config['lora']['alpha']}, "
        f"dropout={config['lora']['dropout']}, targets {config['lora']['target_modules']}, "
        f"vision tower {'trained' if config['train_vision'] else 'frozen'}",
        f"- trainable parameters: {_fmt(runtime.get('trainable_parameters'))} of "
        f"{_fmt(runtime.get('total_parameters'))}",
        f"- device: {runtime.get('device')} ({runtime.get('device_name')})",
        f"- optimizer {config['training']['optim']}, lr {config['training']['learning_rate']}, "
        f"{config['training']['lr_scheduler']} schedule, precision {config['precision']}",
    ]
    if config.get("instruction"):
        lines.append(
            "- prompt: a custom instruction (training_card.json, config.instruction); give the "
            "generate step the same text as its `instruction` option"
        )
    else:
        lines.append("- prompt: the generator's built-in instruction")
    fallbacks = runtime.get("fallbacks") or []
    lines += ["", "## Fallbacks (config items this machine could not run)", ""]
    lines += [f"- {f}" for f in fallbacks] if fallbacks else ["- none"]
    source = ", ".join(f"{k} `{v}`" for k, v in (data.get("source") or {}).items())
    lines += ["", "## Data", "", f"- source: {source}"]
    lines.append(f"- rows read: {data.get('rows')}, examples: {data.get('examples')}")
    for reason, skipped in (data.get("skipped") or {}).items():
        lines.append(f"- left out ({reason}): {skipped.get('count')}")
    for name, split in (data.get("splits") or {}).items():
        lines.append(
            f"- {name}: {split['examples']} images of {split['patients']} patients "
            f"({split['physician_labelled']} physician-labelled)"
        )
    lines += ["", "## Training loss", "", "| step | loss | learning rate |", "| --- | --- | --- |"]
    for row in card["history"]["train"]:
        lines.append(f"| {row['step']} | {_fmt(row['loss'])} | {_fmt(row.get('learning_rate'))} |")
    generation = card["history"]["generation"]
    eval_loss = {row["step"]: row["eval_loss"] for row in card["history"]["eval_loss"]}
    if generation or eval_loss:
        lines += [
            "",
            "## Validation (generate → parse → score)",
            "",
            "| step | eval loss | soft-match accuracy | finding F1 (micro) | finding F1 (macro) "
            "| examples |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        steps = sorted({*eval_loss, *(g["step"] for g in generation)})
        by_step = {g["step"]: g for g in generation}
        for step in steps:
            g = by_step.get(step, {})
            lines.append(
                f"| {step} | {_fmt(eval_loss.get(step))} | "
                f"{_fmt(g.get('soft_match_accuracy'))} | {_fmt(g.get('finding_f1_micro'))} | "
                f"{_fmt(g.get('finding_f1_macro'))} | {_fmt(g.get('n_examples'))} |"
            )
    lines += ["", "## Library versions", ""]
    versions = card["versions"].items()
    lines += [f"- {name}: {version or 'not installed'}" for name, version in versions]
    return "\n".join(lines) + "\n"
