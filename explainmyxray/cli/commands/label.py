from __future__ import annotations

import argparse

SPLITS = ("dev", "held-out", "all")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "source",
        nargs="?",
        help=(
            "the IU X-ray archive (NLMCXR_reports.tgz), a folder of its XML, or a folder of .txt "
            "reports (default: the archive shipped with torchxrayvision)"
        ),
    )
    parser.add_argument(
        "--out", "-o", required=True, metavar="RUN_DIR", help="output folder (created)"
    )
    parser.add_argument(
        "--split",
        choices=SPLITS,
        default="all",
        help="IU X-ray reports: dev (numbers < 2000), held-out (>= 2000) or all (default)",
    )


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from rich.markup import escape

    from ...labeler.cases import label_source
    from ..console import err, out

    out_dir = Path(args.out)
    summary = label_source(args.source, out_dir, args.split)
    console = out()
    console.print(
        f"Labeled {summary.labeled} of {summary.cases} reports ({summary.kind}, split "
        f"{summary.split}) in {summary.seconds:.1f} s: {escape(str(out_dir / 'cases'))}",
        highlight=False,
    )
    if summary.unmapped:
        console.print(
            f"{summary.unmapped} report statement(s) name no known finding "
            "(listed as unmapped in each report.json)",
            highlight=False,
        )
    if summary.failed:
        shown = ", ".join(summary.failed[:10]) + (" ..." if len(summary.failed) > 10 else "")
        console.print(
            f"{len(summary.failed)} reports have no text to label (kept as failed cases): "
            f"{escape(shown)}",
            highlight=False,
        )
    if summary.other_cases:
        err().print(
            f"note: {escape(str(out_dir / 'cases'))} also holds {summary.other_cases} cases "
            "from earlier runs; `explainmyxray eval` will score them too",
            highlight=False,
        )
    if summary.kind == "iuxray":
        console.print(
            f"Score it: explainmyxray eval {escape(str(out_dir))} --reference "
            f"{escape(summary.source)} --format iuxray",
            highlight=False,
        )
    return 0
