from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("pipeline", help="a pipeline YAML file, or the name of a shipped one")
    parser.add_argument("--device", help="plan for this device instead of the pipeline's")


def run(args: argparse.Namespace) -> int:
    from rich.table import Table

    from ...core.memory import format_size
    from ...pipelines.planner import plan
    from ...pipelines.shipped import resolve_pipeline
    from ..console import make_host, out

    host = make_host(args)
    from ...pipelines.loader import load_pipeline

    pipeline = load_pipeline(resolve_pipeline(args.pipeline), host)
    result = plan(pipeline, host, device=args.device)
    console = out()
    console.print(f"[green]✓[/] {pipeline.path}: pipeline [bold]{pipeline.name}[/] is valid")
    table = Table(title="Plan", title_justify="left")
    for column in ("#", "stage", "plugin", "device", "models (precision, estimate)"):
        table.add_column(column)
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
    return 0
