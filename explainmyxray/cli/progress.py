"""A Rich progress bar per pipeline step, driven by the lifecycle hooks like any observer."""

from __future__ import annotations

from collections.abc import Sequence

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ..core.case import Case
from ..core.markers import hookimpl


class StepProgress:
    """Registered as a plugin for the duration of a run."""

    def __init__(self, steps: Sequence[str], total: int, console) -> None:
        self.progress = Progress(
            TextColumn("[bold]{task.description:<28}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self.tasks = {label: self.progress.add_task(label, total=total) for label in steps}

    def __enter__(self) -> StepProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for task in self.tasks.values():
            self.progress.update(task, completed=self.progress.tasks[task].total)
        self.progress.stop()

    @hookimpl
    def after_stage_run(self, stage: str, plugin: str, cases: Sequence[Case]) -> None:
        task = self.tasks.get(f"{stage}:{plugin}")
        if task is not None:
            self.progress.advance(task, len(cases))
