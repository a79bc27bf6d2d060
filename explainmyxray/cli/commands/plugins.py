from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    import json

    from rich.markup import escape
    from rich.table import Table

    from ..console import make_host, out

    host = make_host(args)
    infos = sorted(host.infos.values(), key=lambda i: (i.source != "builtin", i.name))
    if args.json:
        print(json.dumps([i.to_dict() for i in infos], indent=2))
        return 0
    table = Table(title="Plugins", title_justify="left")
    for column in ("name", "version", "source", "stages", "models", "hooks"):
        table.add_column(column)
    for info in infos:
        if info.error:
            table.add_row(
                escape(info.name),
                info.version or "-",
                escape(info.source),
                f"[red]failed to load: {escape(info.error)}[/]",
                "",
                "",
            )
        else:
            table.add_row(
                escape(info.name),
                info.version or "-",
                escape(info.source),
                ", ".join(info.stages) or "-",
                ", ".join(info.models) or "-",
                ", ".join(info.hooks),
            )
    out().print(table)
    return 0
