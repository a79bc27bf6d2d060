"""The ``--track`` option that ``run``, ``demo``, ``eval`` and ``train`` share."""

from __future__ import annotations

import argparse


def add_track_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--track",
        nargs="?",
        const="",
        default=None,
        metavar="URI",
        help="record this in MLflow: at URI if given, else MLFLOW_TRACKING_URI, else the "
        "pipeline's tracking.uri, else sqlite:///mlflow.db here (needs the [tracking] extra)",
    )


def announce(run_id: str, uri: str) -> None:
    from rich.markup import escape

    from .console import out

    out().print(f"MLflow run {run_id} in {escape(uri)}", highlight=False)
