from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    listing = sub.add_parser("list", help="every registered model with sizes and weights status")
    listing.add_argument("--json", action="store_true")
    for action, text in (
        ("pull", "download a model's pinned revision from the Hugging Face Hub"),
        ("verify", "check that a model's files are present and say what is missing"),
        ("path", "print where a model's weights are"),
    ):
        sub.add_parser(action, help=text).add_argument("name")


def run(args: argparse.Namespace) -> int:
    from ...registry import weights
    from ..console import make_host, out

    host = make_host(args)
    if args.action == "list":
        return _list(host, args.json)
    spec = host.models.get(args.name)
    if args.action == "pull":
        path = weights.pull(spec)
        out().print(f"{spec.name}: {path}", highlight=False)
        return 0
    if not spec.needs_weights:
        out().print(f"[green]✓[/] {spec.name}: {weights.NO_WEIGHTS_NEEDED}", highlight=False)
        return 0
    where = weights.locate_weights(spec)
    if where is None:
        raise weights.explain_missing(spec)
    if args.action == "verify":
        out().print(f"[green]✓[/] {spec.name}: all files present in {where}", highlight=False)
    else:
        print(where)
    return 0


def _list(host, as_json: bool) -> int:
    import json

    from ...core.memory import format_size
    from ...registry.weights import NO_WEIGHTS_NEEDED, weights_status
    from ..console import out

    rows = []
    for spec in host.models:
        rows.append(
            {
                "name": spec.name,
                "aliases": list(spec.aliases),
                "plugin": spec.plugin,
                "hub_id": spec.hub_id,
                "revision": spec.revision,
                "license": spec.license,
                "memory_bytes": dict(spec.memory_bytes),
                "default_precision": spec.default_precision,
                "weights": weights_status(spec),
            }
        )
    if as_json:
        print(json.dumps(rows, indent=2))
        return 0
    from ..tables import add_rows, listing

    table = listing("Models", ["name", "aliases"], ["weights", "memory", "source"])
    cells = []
    for row in rows:
        precision = row["default_precision"]
        memory = f"{precision} {format_size(row['memory_bytes'][precision])}"
        if row["hub_id"]:
            pin = f"@ {row['revision'][:12]}" if row["revision"] else "[yellow]unpinned[/]"
            source = f"{row['hub_id']}\n{pin}"
        else:
            source = "shipped with its package"
        cells.append(
            (
                row["name"],
                "\n".join(row["aliases"]) or "-",
                _weights_cell(row["weights"], NO_WEIGHTS_NEEDED),
                memory,
                source,
            )
        )
    add_rows(table, cells, identifiers=2)
    out().print(table)
    out().print(
        "Weights folder: explainmyxray models path NAME; all fields: models list --json",
        highlight=False,
    )
    return 0


def _weights_cell(status: str | None, none_needed: str) -> str:
    if status == none_needed:
        return "[green]none needed[/]"
    return "[green]present[/]" if status else "[yellow]absent[/]"
