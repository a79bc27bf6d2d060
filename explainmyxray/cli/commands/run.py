from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("pipeline", help="a pipeline YAML file, or the name of a shipped one")
    parser.add_argument("inputs", nargs="+", help="image files, folders or glob patterns")
    parser.add_argument("--out", "-o", required=True, help="output folder (created)")
    parser.add_argument("--force", action="store_true", help="redo cases already finished")
    parser.add_argument("--device", help="override the pipeline's device (cpu, cuda, cuda:N)")
    parser.add_argument("--report", help="report text to ground and verify (all inputs)")
    parser.add_argument(
        "--keep-phi",
        action="store_true",
        help="keep patient identifiers from DICOM headers in outputs (off by default)",
    )


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..console import make_host
    from ..running import execute, exit_status

    host = make_host(args)
    summary = execute(
        host,
        args.pipeline,
        args.inputs,
        Path(args.out),
        force=args.force,
        device=args.device,
        keep_phi=args.keep_phi,
        report_text=args.report,
    )
    return exit_status(summary)
