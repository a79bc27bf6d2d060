"""What ``run`` and ``demo`` share: resolve, plan, execute with progress, print the summary."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from ..core.inputs import expand_inputs
from ..core.memory import format_size
from ..core.orchestrator import RunSummary
from ..core.results import prepare_out_dir
from ..outputs import write_case_outputs, write_index
from ..pipelines.engine import Engine
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
    prepare_out_dir(out_dir)
    # One run: models no later step needs are unloaded at once, as they always were.
    with Engine(host, device=device, retain=False) as engine:
        pipeline = engine.load(pipeline_ref)
        sources = expand_inputs(inputs)
        plan = engine.plan(pipeline)
        console = out()
        console.print(
            f"[bold]{escape(pipeline.name)}[/]: {len(sources)} input(s) → {escape(str(out_dir))}",
            highlight=False,
        )
        progress = StepProgress([ps.step.label for ps in plan.steps], len(sources), console)
        with progress:
            summary = engine.run(
                pipeline,
                sources,
                out_dir,
                force=force,
                report_text=report_text,
                keep_phi=keep_phi,
                case_writers=[write_case_outputs],
                run_writers=_run_writers(pipeline.name),
                progress=progress,
            )
    print_summary(summary)
    index = out_dir / "index.html"
    if index.is_file():
        console.print(f"HTML report: {index.resolve()}", highlight=False)
    return summary


def _run_writers(pipeline_name: str):
    def index(out_dir: Path, cases) -> None:
        title = f"ExplainMyXray — {pipeline_name}"
        write_index(out_dir, cases, title=title, pipeline_name=pipeline_name)

    return [index]


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
    status = "[green]all finished[/]" if summary.ok else f"[red]{summary.failed} failed[/]"
    folded = summary.duplicates
    duplicates = f" ({folded} duplicate file(s) folded in)" if folded else ""
    console.print(
        f"{summary.total} input(s){duplicates}: {summary.finished} finished, {summary.skipped} "
        f"skipped (already done), {status}"
    )
    for case_id, source, errors in summary.failures:
        source = summary.paths.get(case_id, source)
        for e in errors:
            where = f"{escape(source)}: {e.stage} ({escape(e.plugin)})"
            console.print(f"  [red]✗[/] {where}: {escape(e.message)}", highlight=False)
