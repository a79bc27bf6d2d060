"""Rich output shared by the commands: one console for results, one for errors."""

from __future__ import annotations

import logging
import os
import sys
from functools import cache

from rich.console import Console
from rich.logging import RichHandler


@cache
def out() -> Console:
    return Console(soft_wrap=True)


@cache
def err() -> Console:
    return Console(stderr=True, soft_wrap=True)


def print_error(message: str) -> None:
    from rich.text import Text

    head, _, rest = message.partition("\n")
    err().print(Text.assemble(("error: ", "bold red"), (head, "red")), soft_wrap=True)
    if rest:
        err().print(Text(rest), soft_wrap=True)


def configure_logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=err(), show_path=verbose, show_time=False)],
        force=True,
    )


def silence_third_party_progress() -> None:
    """Turn off the tqdm bars of huggingface_hub and transformers ("Loading weights: …"): they
    write over the CLI's own Rich progress display. Our commands show their own progress."""
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    if "huggingface_hub" in sys.modules:  # imported before us: the variable was read already
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()
    if "transformers" in sys.modules:
        sys.modules["transformers"].utils.logging.disable_progress_bar()


def make_host(args):
    from ..registry.plugins import PluginHost

    return PluginHost(allow=args.plugin or None, block=args.no_plugin)
