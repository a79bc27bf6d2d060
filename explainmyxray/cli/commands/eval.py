from __future__ import annotations

import argparse

FORMATS = ("padchest", "iuxray", "nih-bbox", "jsonl")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="a folder written by `explainmyxray run`")
    parser.add_argument("--reference", "-r", required=True, help="the reference file or folder")
    parser.add_argument(
        "--format", choices=FORMATS, help="reference format (detected from the file when omitted)"
    )
    parser.add_argument("--json", help="where to write the results (default RUN_DIR/eval.json)")
    parser.add_argument("--per-label", action="store_true", help="also print the per-label tables")
    parser.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples")
    parser.add_argument("--seed", type=int, default=0)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from rich.table import Table

    from ...scoring.evaluate import render_eval_table, run_eval
    from ..console import out

    run_dir = Path(args.run_dir)
    out_json = Path(args.json) if args.json else run_dir / "eval.json"
    result = run_eval(
        run_dir,
        Path(args.reference),
        args.format,
        out_json,
        n_resamples=args.resamples,
        seed=args.seed,
    )
    from ...outputs.html import rewrite_index

    index = rewrite_index(run_dir)
    console = out()
    console.print(render_eval_table(result))
    if args.per_label:
        for name, rows in result.tables.items():
            if not rows:
                continue
            table = Table(title=name, title_justify="left")
            for column in rows[0]:
                table.add_column(str(column), justify="left" if column == "label" else "right")
            for row in rows:
                table.add_row(
                    *(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row.values())
                )
            console.print(table)
    console.print(f"Results: {out_json}", highlight=False)
    console.print(
        f"HTML report (reference boxes and disagreements added): {index.resolve()}",
        highlight=False,
    )
    return 0
