"""A Rich progress bar and loss log for training, as a ``TrainerCallback``."""

from __future__ import annotations

from typing import Any

LOGGED = ("loss", "eval_loss", "learning_rate", "grad_norm", "mean_token_accuracy")


def format_logs(logs: dict[str, Any]) -> str:
    """One line of the interesting numbers of a Trainer log entry."""
    parts = []
    for key in LOGGED:
        value = logs.get(key)
        if isinstance(value, int | float):
            parts.append(f"{key} {value:.4g}")
    return "  ".join(parts)


def rich_progress_callback(console: Any):
    """A callback showing a step bar and printing every logged loss (``console``: Rich)."""
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from transformers import TrainerCallback

    class RichProgress(TrainerCallback):
        def __init__(self) -> None:
            self.progress: Progress | None = None
            self.task: Any = None

        def on_train_begin(self, args, state, control, **kwargs):
            self.progress = Progress(
                TextColumn("[bold]training"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                TextColumn("{task.fields[loss]}"),
                console=console,
            )
            self.task = self.progress.add_task(
                "train", total=state.max_steps, completed=state.global_step, loss=""
            )
            self.progress.start()
            return control

        def on_step_end(self, args, state, control, **kwargs):
            if self.progress is not None:
                self.progress.update(self.task, completed=state.global_step)
            return control

        def on_log(self, args, state, control, logs=None, **kwargs):
            line = format_logs(logs or {})
            if not line:
                return control
            if self.progress is not None:
                if "loss" in (logs or {}):
                    self.progress.update(self.task, loss=f"loss {logs['loss']:.4g}")
                self.progress.console.print(f"step {state.global_step}: {line}", highlight=False)
            else:
                console.print(f"step {state.global_step}: {line}", highlight=False)
            return control

        def on_train_end(self, args, state, control, **kwargs):
            if self.progress is not None:
                self.progress.stop()
                self.progress = None
            return control

    return RichProgress()
