from __future__ import annotations

import argparse

BACKENDS = ("biomedclip", "minilm")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    build = sub.add_parser(
        "build",
        help="embed reference radiographs and reports into an index folder",
        description=(
            "Embed reference cases into an index: a FOLDER of images with <image>.txt report "
            "sidecars, or a .jsonl file of {report, image, labels, id} records."
        ),
    )
    build.add_argument("source", metavar="FOLDER", help="a folder of images + reports, or a .jsonl")
    build.add_argument(
        "--out",
        metavar="INDEX_DIR",
        help="the index folder (default: indexes/reference in the user data folder, where the "
        "shipped pipelines look for it; EXPLAINMYXRAY_HOME overrides)",
    )
    build.add_argument("--backend", choices=BACKENDS, default="biomedclip")
    build.add_argument(
        "--text-only", action="store_true", help="embed the reports only, not the images"
    )
    build.add_argument("--weights", metavar="DIR", help="local model folder (local-dir:)")
    build.add_argument("--precision", choices=("fp32", "fp16", "bf16"), help="default: fp32")
    build.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda when available)")
    build.add_argument("--batch-size", type=int, default=16, metavar="N")
    info = sub.add_parser("info", help="what an index holds and which model built it")
    info.add_argument("index", metavar="INDEX_DIR")
    info.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    if args.action == "build":
        return _build(args)
    return _info(args)


def _spec(backend: str):
    if backend == "minilm":
        from ...models.minilm.spec import minilm_spec

        return minilm_spec()
    from ...models.biomedclip.spec import biomedclip_spec

    return biomedclip_spec()


def _device(requested: str | None) -> str:
    if requested:
        return requested
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _build(args: argparse.Namespace) -> int:
    from pathlib import Path

    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
    )

    from ...core.errors import UsageError
    from ...core.plugin_api import LoadRequest
    from ...registry.weights import locate_weights
    from ...retrieval.index import build_index
    from ...retrieval.references import load_references
    from ..console import err, out

    if args.batch_size < 1:
        raise UsageError(f"--batch-size must be at least 1, got {args.batch_size}")
    references = load_references(Path(args.source))
    if not args.out:
        from ...core.paths import default_index_dir

        args.out = str(default_index_dir())
    spec = _spec(args.backend)
    weights = Path(args.weights.removeprefix("local-dir:")).expanduser() if args.weights else None
    runner = spec.factory()
    runner.load(
        LoadRequest(
            device=_device(args.device),
            precision=args.precision or spec.default_precision,
            weights=weights or locate_weights(spec),
        )
    )
    text_only = args.text_only or args.backend == "minilm"
    total = len(references.references)
    try:
        with Progress(
            TextColumn("[bold]{task.description:<16}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err(),
        ) as progress:
            tasks = {}
            if not text_only:
                tasks["images"] = progress.add_task("embed images", total=total)
            tasks["texts"] = progress.add_task("embed reports", total=total)

            def advance(phase: str, done: int, phase_total: int) -> None:
                progress.update(tasks[phase], total=phase_total, advance=done)

            result = build_index(
                references,
                runner,
                Path(args.out),
                text_only=text_only,
                batch_size=args.batch_size,
                backend=args.backend,
                progress=advance,
            )
    finally:
        runner.unload()
    index = result.index
    kinds = "images and reports" if index.has_images else "reports only"
    out().print(
        f"[green]✓[/] {index.path}: {index.count} reference cases ({kinds}), "
        f"{index.dim}-d {index.identity.name} embeddings",
        highlight=False,
    )
    if result.skipped:
        out().print(f"[yellow]left out {len(result.skipped)}:[/]", highlight=False)
        for what, why in result.skipped[:10]:
            out().print(f"  {what}: {why}", highlight=False)
        if len(result.skipped) > 10:
            out().print(f"  … and {len(result.skipped) - 10} more", highlight=False)
    return 0


def _info(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from rich.table import Table

    from ...retrieval.index import ReferenceIndex
    from ..console import out

    index = ReferenceIndex.open(Path(args.index))
    summary = index.info()
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    model = summary["model"]
    table = Table(title=f"Reference index {index.path}", title_justify="left", show_header=False)
    table.add_column("field")
    table.add_column("value")
    rows = [
        ("entries", str(index.count)),
        ("with labels", str(summary["with_labels"])),
        ("embeddings", "images and reports" if index.has_images else "reports only"),
        ("backend", str(summary.get("backend"))),
        ("model", f"{model['name']} ({model['dim']}-d)"),
        ("weights", f"{model.get('source') or '-'} (sha256 {str(model.get('fingerprint'))[:12]})"),
        ("revision", str(model.get("revision") or "-")),
        ("created", str(summary.get("created"))),
        ("source", str(summary.get("source"))),
    ]
    for name, value in rows:
        table.add_row(name, value)
    out().print(table)
    return 0
