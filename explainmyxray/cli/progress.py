"""Rich progress for a run: one overall bar (cases done of all, ETA) above a bar per pipeline
step, driven by the lifecycle hooks like any observer."""

from __future__ import annotations

from collections.abc import Sequence

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from ..core.case import Case
from ..core.markers import hookimpl

OVERALL = "cases"


class StepProgress:
    """Registered as a plugin for the duration of a run. Bars show what really happened: an
    interrupted run leaves them where it stopped."""

    def __init__(self, steps: Sequence[str], total: int, console) -> None:
        self.progress = Progress(
            TextColumn("[bold]{task.description:<28}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console,
            transient=False,
        )
        self.overall = self.progress.add_task(f"[cyan]{OVERALL}", total=total)
        self.tasks = {label: self.progress.add_task(f"  {label}", total=total) for label in steps}

    def __enter__(self) -> StepProgress:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    @hookimpl
    def before_run(self, total: int, todo: int, skipped: int) -> None:
        self.progress.update(self.overall, total=total, completed=skipped)
        for task in self.tasks.values():
            self.progress.update(task, total=todo, completed=0)

    @hookimpl
    def after_case(self, case: Case) -> None:
        self.progress.advance(self.overall, 1)

    @hookimpl
    def after_stage_run(self, stage: str, plugin: str, cases: Sequence[Case]) -> None:
        task = self.tasks.get(f"{stage}:{plugin}")
        if task is not None:
            self.progress.advance(task, len(cases))
