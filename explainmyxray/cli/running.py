"""What ``run`` and ``demo`` share: resolve, plan, execute with progress, print the summary."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rich.markup import escape
from rich.table import Table

from ..core.inputs import expand_inputs
from ..core.memory import format_size
from ..core.orchestrator import RunSummary
from ..core.outcomes import EXIT_NOTHING_PRODUCED
from ..core.results import prepare_out_dir
from ..outputs import write_case_outputs, write_index
from ..pipelines.engine import Engine
from ..pipelines.readiness import NotReadyError, check_readiness
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
    # One run: models no later step needs are unloaded at once, as they always were.
    with Engine(host, device=device, retain=False) as engine:
        pipeline = engine.load(pipeline_ref)
        sources = expand_inputs(inputs)
        plan = engine.plan(pipeline)
        readiness = check_readiness(pipeline, plan, host)
        if not readiness.ready:
            raise NotReadyError(pipeline.name, readiness.gaps)
        prepare_out_dir(out_dir)  # a bad --out is a usage error before any work
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
        write_index(
            out_dir,
            cases,
            title=title,
            pipeline_name=pipeline_name,
            provenance=_manifest(out_dir).get("provenance"),
        )

    return [index]


def _manifest(out_dir: Path) -> dict:
    """The run's ``run.json`` (written before the run writers), or {} when unreadable."""
    import json

    try:
        document = json.loads((out_dir / "run.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return document if isinstance(document, dict) else {}


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
    folded = summary.duplicates
    duplicates = f" ({folded} duplicate file(s) folded in)" if folded else ""
    not_run = summary.total - summary.finished - summary.failed - summary.skipped
    console.print(
        f"{summary.total} input(s){duplicates}: {summary.finished} finished, {summary.skipped} "
        f"skipped (already done), {status}" + (f", {not_run} not run" if not_run else "")
    )
    if summary.unmapped:
        console.print(
            f"[yellow]{summary.unmapped} report statement(s) name no known finding[/] "
            "(listed as unmapped in each report.json)"
        )
    for case_id, source, errors in summary.failures:
        source = summary.paths.get(case_id, source)
        for e in errors:
            where = f"{escape(source)}: {e.stage} ({escape(e.plugin)})"
            console.print(f"  [red]✗[/] {where}: {escape(e.message)}", highlight=False)
    if summary.outcomes:
        console.print("[bold]What this run did[/]")
        for outcome in summary.outcomes:
            if outcome.reached and outcome.produced == outcome.reached:
                mark = "[green]✓[/]"
            else:
                mark = "[yellow]![/]" if outcome.produced else "[red]✗[/]"
            console.print(
                f"  {mark} {escape(outcome.label)}: {escape(outcome.sentence())}", highlight=False
            )
    if summary.nothing_produced:
        console.print(f"[red]✗ {escape(summary.nothing_produced)}[/]", highlight=False)
