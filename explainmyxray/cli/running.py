"""What ``run`` and ``demo`` share: resolve, plan, execute with progress, print the summary."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from ..core.inputs import expand_inputs
from ..core.memory import format_size
from ..core.orchestrator import Orchestrator, RunSummary
from ..core.outcomes import EXIT_NOTHING_PRODUCED
from ..outputs import write_case_outputs, write_index
from ..pipelines.loader import load_pipeline
from ..pipelines.readiness import NotReadyError, check_readiness
from ..pipelines.shipped import resolve_pipeline
from ..registry.plugins import PluginHost
from .console import out
from .progress import StepProgress


def execute(
    host: PluginHost,
    pipeline_ref: str | Path,
    inputs: Sequence[str | Path],
    out_dir: Path,
    *,
    force: bool = False,
    device: str | None = None,
    keep_phi: bool = False,
    report_text: str | None = None,
) -> RunSummary:
    pipeline = load_pipeline(resolve_pipeline(pipeline_ref), host)
    sources = expand_inputs(inputs)
    orchestrator = Orchestrator(
        host,
        pipeline,
        device=device,
        keep_phi=keep_phi,
        case_writers=[write_case_outputs],
        run_writers=[],
    )
    orchestrator.run_writers = _run_writers(pipeline.name, orchestrator)
    readiness = check_readiness(pipeline, orchestrator.plan, host)
    if not readiness.ready:
        raise NotReadyError(pipeline.name, readiness.gaps)
    console = out()
    console.print(
        f"[bold]{escape(pipeline.name)}[/]: {len(sources)} input(s) → {escape(str(out_dir))}",
        highlight=False,
    )
    labels = [ps.step.label for ps in orchestrator.plan.steps]
    progress = StepProgress(labels, len(sources), console)
    host.pm.register(progress, name="cli-progress")
    try:
        with progress:
            summary = orchestrator.run(sources, out_dir, force=force, report_text=report_text)
    finally:
        host.pm.unregister(name="cli-progress")
    print_summary(summary)
    index = out_dir / "index.html"
    if index.is_file():
        console.print(f"HTML report: {index.resolve()}", highlight=False)
    return summary


def _run_writers(pipeline_name: str, orchestrator: Orchestrator):
    def index(out_dir: Path, cases) -> None:
        title = f"ExplainMyXray — {pipeline_name}"
        write_index(
            out_dir,
            cases,
            title=title,
            pipeline_name=pipeline_name,
            provenance=orchestrator.provenance,
        )

    return [index]


def exit_status(summary: RunSummary) -> int:
    """0 all finished; 1 some case failed; 4 the main stage produced nothing for any case;
    130 interrupted (Ctrl-C). Usage and configuration errors (2) and a pipeline that is not
    ready (3) stop before any work."""
    if summary.interrupted:
        return 130
    if summary.nothing_produced:
        return EXIT_NOTHING_PRODUCED
    return 0 if summary.ok else 1


def print_summary(summary: RunSummary) -> None:
    console = out()
    table = Table(title="Run summary", title_justify="left")
    table.add_column("step")
    table.add_column("seconds", justify="right")
    for label, seconds in summary.stage_seconds.items():
        table.add_row(label, f"{seconds:.2f}")
    console.print(table)
    loads = ", ".join(f"{n}×{c}" for n, c in summary.model_loads.items()) or "none"
    peaks = ", ".join(f"{k} {format_size(v)}" for k, v in summary.peak_bytes.items()) or "-"
    console.print(f"Model loads: {loads}; peak resident: {peaks}", highlight=False)
    if summary.interrupted:
        status = "[yellow]interrupted[/] (rerun the same command to continue)"
    else:
        status = "[green]all finished[/]" if summary.ok else f"[red]{summary.failed} failed[/]"
    not_run = summary.total - summary.finished - summary.failed - summary.skipped
    console.print(
        f"{summary.total} input(s): {summary.finished} finished, {summary.skipped} skipped "
        f"(already done), {status}" + (f", {not_run} not run" if not_run else "")
    )
    for _case_id, source, errors in summary.failures:
        for e in errors:
            where = f"{escape(source)}: {e.stage} ({escape(e.plugin)})"
            console.print(f"  [red]✗[/] {where}: {escape(e.message)}", highlight=False)
    if summary.outcomes:
        console.print("[bold]What this run did[/]")
        for outcome in summary.outcomes:
            mark = (
                "[green]✓[/]"
                if outcome.produced == outcome.reached and outcome.reached
                else ("[yellow]![/]" if outcome.produced else "[red]✗[/]")
            )
            console.print(
                f"  {mark} {escape(outcome.label)}: {escape(outcome.sentence())}", highlight=False
            )
    if summary.nothing_produced:
        console.print(f"[red]✗ {escape(summary.nothing_produced)}[/]", highlight=False)
