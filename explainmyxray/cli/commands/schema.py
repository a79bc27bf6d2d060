from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--indent", type=int, default=2)


def run(args: argparse.Namespace) -> int:
    import json

    from ...core.case import REPORT_SCHEMA_VERSION, Case

    schema = Case.model_json_schema(mode="serialization")
    schema["properties"] = {
        "schema_version": {"const": REPORT_SCHEMA_VERSION, "title": "Schema Version"},
        **schema["properties"],
    }
    schema["required"] = ["schema_version", *schema.get("required", [])]
    schema["title"] = "ExplainMyXray per-case report (report.json)"
    print(json.dumps(schema, indent=args.indent))
    return 0
