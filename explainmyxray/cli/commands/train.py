"""``explainmyxray train``: QLoRA fine-tuning of the report generator."""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        help="training YAML (e.g. configs/training/medgemma-qlora-v2.yaml); "
        "default: the built-in v2 recipe",
    )
    parser.add_argument(
        "--data",
        help="PadChest label table (PADCHEST_chest_x_ray_images_labels_160K_01.02.19.csv.gz "
        "or a CSV of the same columns)",
    )
    parser.add_argument(
        "--images",
        help="folder of the images (PadChest: ImageID files, possibly in ImageDir subfolders; "
        "JSONL: base of relative paths)",
    )
    parser.add_argument(
        "--jsonl", help='JSONL examples instead of PadChest: {"image", "report"|"labels"}'
    )
    parser.add_argument("--out", "-o", required=True, help="output folder (created)")
    parser.add_argument("--resume", action="store_true", help="continue from the last checkpoint")
    parser.add_argument("--max-steps", type=int, help="override training.max_steps")
    parser.add_argument("--device", help="cpu, cuda or cuda:N (default: cuda if available)")
    parser.add_argument(
        "--data-only",
        action="store_true",
        help="build the data set, write its summary and stop (no model needed)",
    )


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ...core.errors import UsageError
    from ...training.config import TrainConfig, load_config
    from ...training.dataset import build_training_data
    from ..console import err, out

    if args.jsonl and args.data:
        raise UsageError("give either --jsonl or --data/--images, not both")
    if not args.jsonl and not (args.data and args.images):
        raise UsageError("give --data and --images (PadChest), or --jsonl")
    config = load_config(args.config) if args.config else TrainConfig()
    if args.max_steps is not None:
        if args.max_steps < 1:
            raise UsageError(f"--max-steps must be at least 1, got {args.max_steps}")
        training = config.training.model_copy(update={"max_steps": args.max_steps})
        config = config.model_copy(update={"training": training})
    out_dir = Path(args.out)
    data = build_training_data(
        config.data,
        table=Path(args.data) if args.data else None,
        images=Path(args.images) if args.images else None,
        jsonl=Path(args.jsonl) if args.jsonl else None,
    )
    _print_data_summary(data.summary, out())
    if not data.summary["examples"]:
        reasons = ", ".join(
            f"{reason} {skipped['count']}"
            for reason, skipped in data.summary["skipped"].items()
            if skipped["count"]
        )
        raise UsageError(
            f"no training examples: all {data.summary['rows']} rows were left out"
            + (f" ({reasons})" if reasons else "")
            + "; check --images (image paths are relative to it) and the data file"
        )
    if args.data_only:
        from ...training.train import write_data_files

        out_dir.mkdir(parents=True, exist_ok=True)
        write_data_files(data, out_dir)
        out().print(f"data summary: {out_dir / 'data_summary.json'}", highlight=False)
        return 0

    from ...training.progress import rich_progress_callback
    from ...training.train import train

    def show_eval(result: dict) -> None:
        numbers = ", ".join(
            f"{k} {v:.3f}"
            for k, v in result.items()
            if k in ("soft_match_accuracy", "finding_f1_micro", "finding_f1_macro")
            and isinstance(v, float)
        )
        err().print(
            f"[bold]eval[/] step {result['step']}: {numbers} ({result['n_examples']} examples)",
            highlight=False,
        )

    result = train(
        config,
        data,
        out_dir,
        resume=args.resume,
        device=args.device,
        callbacks=[rich_progress_callback(err())],
        on_eval=show_eval,
    )
    for fallback in result.runtime.get("fallbacks", []):
        err().print(f"[yellow]fallback:[/] {fallback}", highlight=False)
    out().print(
        f"[green]✓[/] adapter: {result.adapter_dir} ({result.global_step} steps, loss "
        f"{_fmt(result.first_loss)} → {_fmt(result.last_loss)}); card: {result.card_markdown}",
        highlight=False,
    )
    return 0


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g}"


def _print_data_summary(summary: dict, console) -> None:
    splits = ", ".join(
        f"{name} {s['examples']} ({s['patients']} patients)"
        for name, s in summary["splits"].items()
    )
    console.print(
        f"data: {summary['rows']} rows → {summary['examples']} examples: {splits}",
        highlight=False,
    )
    for reason, skipped in summary["skipped"].items():
        if skipped["count"]:
            shown = ", ".join(skipped["first"][:3])
            console.print(
                f"  left out ({reason}): {skipped['count']}  e.g. {shown}", highlight=False
            )
