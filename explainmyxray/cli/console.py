"""Rich output shared by the commands: one console for results, one for errors."""

from __future__ import annotations

import logging
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


def make_host(args):
    from ..registry.plugins import PluginHost

    return PluginHost(allow=args.plugin or None, block=args.no_plugin)
