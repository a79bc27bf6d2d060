"""The ``explainmyxray`` command. Parsing is argparse only, so ``--help`` imports nothing heavy;
each command imports what it needs when it runs."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

COMMANDS = {
    "run": "Run a pipeline over images and write reports, overlays and an HTML index.",
    "demo": "Run the default pipeline on a real chest radiograph and show where the HTML is.",
    "validate": "Check a pipeline file and show its plan (load order, predicted peak memory).",
    "plugins": "List plugins: name, version, source, hooks, stages, models, load errors.",
    "models": "List, download, verify or locate model weights.",
    "index": "Build or inspect a reference index of radiographs and reports for retrieval.",
    "doctor": "Show Python, torch, CUDA/GPU memory, installed extras and model weights.",
    "schema": "Print the JSON Schema of the per-case report.json.",
    "train": "Fine-tune the report generator (QLoRA) on PadChest or JSONL data.",
    "eval": "Score a run's reports against references (PadChest, IU X-ray, NIH boxes, JSONL).",
    "label": "Label free-text reports into structured report.json cases (rule-based).",
    "monitor": "Compare two runs for drift (or `monitor profile RUN` to save a reference).",
    "serve": "Serve a pipeline as an HTTP job service (upload, queue, batch, fetch results).",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="explainmyxray",
        description="Structured, anatomically grounded, verified chest X-ray reports.",
    )
    parser.add_argument(
        "--verbose", "-v", action="store_true", help="show tracebacks and debug logs"
    )
    parser.add_argument(
        "--plugin",
        action="append",
        default=[],
        metavar="NAME",
        help="load only these plugins (repeatable; adds to EXPLAINMYXRAY_PLUGINS)",
    )
    parser.add_argument(
        "--no-plugin",
        action="append",
        default=[],
        metavar="NAME",
        help="do not load this plugin (repeatable; adds to EXPLAINMYXRAY_DISABLE_PLUGINS)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, summary in COMMANDS.items():
        module = importlib.import_module(f"explainmyxray.cli.commands.{name.replace('-', '_')}")
        command = sub.add_parser(name, help=summary, description=summary)
        module.add_arguments(command)
        command.set_defaults(handler=f"explainmyxray.cli.commands.{name.replace('-', '_')}")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from .console import configure_logging, print_error, silence_third_party_progress

    configure_logging(args.verbose)
    silence_third_party_progress()
    try:
        code = int(importlib.import_module(args.handler).run(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here when the output fit the buffer
        return code
    except BrokenPipeError:
        return _reader_went_away()
    except KeyboardInterrupt:
        print_error("interrupted; finished cases are kept, rerun to continue")
        return 130
    except Exception as exc:
        from ..core.errors import ExplainMyXrayError

        if args.verbose:
            import traceback

            traceback.print_exc()
        if isinstance(exc, ExplainMyXrayError):
            print_error(str(exc))
            return exc.exit_code
        print_error(f"unexpected {type(exc).__name__}: {exc} (run with --verbose for details)")
        return 1


def _reader_went_away() -> int:
    """The reader of stdout closed it (``... | head``): stop quietly, like any Unix tool."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())  # the interpreter's final flush must not fail again
    os.close(devnull)
    return 141  # 128 + SIGPIPE: what a shell reports for a tool stopped by a closed pipe


if __name__ == "__main__":
    sys.exit(main())
