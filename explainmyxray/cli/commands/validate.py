from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("pipeline", help="a pipeline YAML file, or the name of a shipped one")
    parser.add_argument("--device", help="plan for this device instead of the pipeline's")
    parser.add_argument(
        "--syntax-only",
        action="store_true",
        help="check the file and the plan only, not whether weights, indexes and extras are here",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")


def run(args: argparse.Namespace) -> int:
    import json

    from rich.markup import escape
    from rich.table import Table

    from ...core.memory import format_size
    from ...pipelines.loader import load_pipeline
    from ...pipelines.planner import plan
    from ...pipelines.readiness import EXIT_NOT_READY, Readiness, check_readiness
    from ...pipelines.shipped import resolve_pipeline
    from ..console import make_host, out

    host = make_host(args)
    pipeline = load_pipeline(resolve_pipeline(args.pipeline), host)
    result = plan(pipeline, host, device=args.device)
    readiness = (
        Readiness(gaps=[], notices=[])
        if args.syntax_only
        else check_readiness(pipeline, result, host)
    )
    status = 0 if readiness.ready else EXIT_NOT_READY
    if args.json:
        document = {
            "pipeline": pipeline.name,
            "file": str(pipeline.path) if pipeline.path else None,
            "paths_relative_to": str(pipeline.base_dir),
            "valid": True,
            "ready": None if args.syntax_only else readiness.ready,
            "missing": [g.to_dict() for g in readiness.gaps],
            "notices": [g.to_dict() for g in readiness.notices],
            "steps": [
                {
                    "stage": ps.step.stage,
                    "plugin": ps.step.plugin,
                    "device": ps.device,
                    "models": [{"name": r.name, "precision": r.precision} for r in ps.models],
                }
                for ps in result.steps
            ],
            "load_order": [list(event) for event in result.events],
            "predicted_peak_bytes": result.peak,
        }
        print(json.dumps(document, indent=2))
        return status
    console = out()
    console.print(f"[green]✓[/] {pipeline.path}: pipeline [bold]{pipeline.name}[/] is valid")
    table = Table(title="Plan", title_justify="left")
    for column in ("#", "stage", "plugin", "device", "models (precision, estimate)"):
        table.add_column(column, overflow="fold")
    for i, ps in enumerate(result.steps, 1):
        models = ", ".join(
            f"{r.name} ({r.precision or host.models.get(r.name).default_precision}, "
            f"{format_size(host.models.get(r.name).estimate(r.precision))})"
            for r in ps.models
        )
        table.add_row(str(i), ps.step.stage, ps.step.plugin, ps.device, models or "-")
    console.print(table)
    order = " → ".join(
        f"{'load' if kind == 'load' else 'evict'} {name}" for kind, name in result.events
    )
    console.print(f"Model order per batch: {order or 'no models'}")
    budget = result.budget
    console.print(
        f"Predicted peak of resident models: GPU {format_size(result.peak.get('cuda', 0))} "
        f"of {format_size(budget.gpu_bytes)}, host {format_size(result.peak.get('cpu', 0))} "
        f"of {format_size(budget.cpu_bytes)}"
    )
    if args.syntax_only:
        return 0
    console.print(f"Relative paths resolve in {escape(str(pipeline.base_dir))}", highlight=False)
    for notice in readiness.notices:
        console.print(
            f"[yellow]![/] {escape(notice.step)}: {escape(notice.what)}\n    to generate: "
            f"[bold]{escape(notice.fix)}[/]",
            highlight=False,
        )
    if readiness.ready:
        console.print("[green]✓[/] ready to run: weights, files and extras are all here")
        return 0
    console.print(
        f"[red]✗ not ready to run[/]: {len(readiness.gaps)} thing(s) missing", highlight=False
    )
    for gap in readiness.gaps:
        console.print(
            f"  [red]✗[/] {escape(gap.step)}: {escape(gap.what)}\n      fix: "
            f"[bold]{escape(gap.fix)}[/]",
            highlight=False,
        )
    return status
