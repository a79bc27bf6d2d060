"""What ``run`` and ``demo`` share: resolve, plan, execute with progress, print the summary."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from ..core.inputs import expand_inputs
from ..core.memory import format_size
from ..core.orchestrator import CaseWriter, Orchestrator, RunSummary
from ..outputs import write_case_outputs, write_index
from ..pipelines.loader import load_pipeline
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
    dicom_outputs: bool = False,
) -> RunSummary:
    pipeline = load_pipeline(resolve_pipeline(pipeline_ref), host)
    sources = expand_inputs(inputs)
    case_writers: list[CaseWriter] = [write_case_outputs]
    if dicom_outputs:
        from ..interop.case_writer import dicom_case_writer

        case_writers.append(dicom_case_writer(keep_phi=keep_phi))
    orchestrator = Orchestrator(
        host,
        pipeline,
        device=device,
        keep_phi=keep_phi,
        case_writers=case_writers,
        run_writers=_run_writers(pipeline.name),
    )
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
    console.print(
        f"{summary.total} input(s): {summary.finished} finished, {summary.skipped} skipped "
        f"(already done), {status}"
    )
    for _case_id, source, errors in summary.failures:
        for e in errors:
            where = f"{escape(source)}: {e.stage} ({escape(e.plugin)})"
            console.print(f"  [red]✗[/] {where}: {escape(e.message)}", highlight=False)
