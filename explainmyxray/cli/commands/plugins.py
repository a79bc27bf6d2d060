from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")


def run(args: argparse.Namespace) -> int:
    import json

    from rich.markup import escape

    from ..console import make_host, out

    host = make_host(args)
    infos = sorted(host.infos.values(), key=lambda i: (i.source != "builtin", i.name))
    if args.json:
        print(json.dumps([i.to_dict() for i in infos], indent=2))
        return 0
    from ..tables import add_rows, listing

    table = listing("Plugins", ["name", "stages", "models"], ["version", "source"])
    rows = []
    for info in infos:
        if info.error:
            row = ("-", "-", "-", f"[red]failed to load: {escape(info.error)}[/]")
        else:
            row = (
                "\n".join(info.stages) or "-",
                "\n".join(info.models) or "-",
                info.version or "-",
                escape(info.source),
            )
        rows.append((escape(info.name), *row))
    add_rows(table, rows, identifiers=2)
    out().print(table)
    out().print("Hooks and load errors in full: explainmyxray plugins --json", highlight=False)
    return 0
