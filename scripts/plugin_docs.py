"""Regenerate the generated sections of docs/plugins.md: the hook reference (from the hook
specifications' signatures and docstrings) and the table of anatomical regions.

    python scripts/plugin_docs.py          # rewrite the file
    python scripts/plugin_docs.py --check  # exit 1 when the file is out of date
"""

from __future__ import annotations

import argparse
import inspect
import re
import sys
from pathlib import Path

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "plugins.md"

KINDS = (
    ("Registration hooks", ("register_stages", "register_models")),
    ("Stage hooks", ("preprocess", "retrieve", "generate", "localize", "verify", "score")),
    (
        "Lifecycle hooks",
        ("before_run", "before_stage_run", "after_stage_run", "on_stage_error", "after_case"),
    ),
)


def hook_reference() -> str:
    """Every hook spec: its kind, signature and docstring, in the order of :data:`KINDS`."""
    from explainmyxray.core import hookspecs
    from explainmyxray.core.markers import PROJECT

    specs = {
        name: fn
        for name, fn in vars(hookspecs).items()
        if callable(fn) and hasattr(fn, f"{PROJECT}_spec")
    }
    listed = [name for _, names in KINDS for name in names]
    missing = sorted(set(specs) - set(listed))
    if missing:
        raise SystemExit(f"hook specs not placed in a section of {__file__}: {missing}")
    lines = [_inline(inspect.cleandoc(hookspecs.__doc__ or "")), ""]
    for title, names in KINDS:
        lines += [f"### {title}", ""]
        for name in names:
            fn = specs[name]
            options = getattr(fn, f"{PROJECT}_spec")
            signature = f"{name}{inspect.signature(fn)}".replace("'", "")
            lines += [f"#### `{name}`", "", "```python", signature, "```", ""]
            if options.get("firstresult"):
                lines += ["Called on the one plugin a pipeline step names.", ""]
            else:
                lines += ["Called on every plugin that implements it.", ""]
            lines += [_markdown(inspect.getdoc(fn) or ""), ""]
    return "\n".join(lines).rstrip() + "\n"


def _markdown(doc: str) -> str:
    """reStructuredText literal blocks (``text::`` + indented lines) as fenced Python blocks."""
    out: list[str] = []
    lines = doc.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.rstrip().endswith("::"):
            out.append(line.rstrip()[:-1])
            i += 1
            block: list[str] = []
            while i < len(lines) and (not lines[i].strip() or lines[i].startswith("    ")):
                block.append(lines[i][4:])
                i += 1
            while block and not block[-1].strip():
                block.pop()
            while block and not block[0].strip():
                block.pop(0)
            out += ["", "```python", *block, "```", ""]
            continue
        out.append(line)
        i += 1
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(out)).strip()
    return _inline(text)


def _inline(text: str) -> str:
    """reStructuredText roles and literals outside code blocks as Markdown code spans."""
    parts = re.split(r"(```python\n.*?```)", text, flags=re.DOTALL)
    for i in range(0, len(parts), 2):
        part = re.sub(
            r":\w+:`~?([\w.]+)`", lambda m: f"`{m.group(1).rsplit('.', 1)[-1]}`", parts[i]
        )
        parts[i] = re.sub(r"``(.+?)``", r"`\1`", part)
    return "".join(parts)


def region_table() -> str:
    from explainmyxray.anatomy.regions import REGIONS

    rows = ["| id | name | side | colour |", "| --- | --- | --- | --- |"]
    rows += [f"| `{r.id}` | {r.name} | {r.side} | `{r.color}` |" for r in REGIONS]
    return "\n".join(rows) + "\n"


SECTIONS = {"hooks": hook_reference, "regions": region_table}


def render(text: str) -> str:
    """``text`` with every generated section replaced by what the code says now."""
    for name, make in SECTIONS.items():
        start, end = f"<!-- generated: {name} -->\n", f"<!-- end generated: {name} -->"
        pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.DOTALL)
        if not pattern.search(text):
            raise SystemExit(f"{GUIDE}: no section marked {start.strip()} ... {end}")
        replacement = start + make() + end
        text = pattern.sub(lambda _m, new=replacement: new, text)
    return text


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only check; exit 1 if stale")
    args = parser.parse_args()
    current = GUIDE.read_text()
    fresh = render(current)
    if args.check:
        if fresh != current:
            print(f"{GUIDE} is out of date: run python scripts/plugin_docs.py", file=sys.stderr)
            return 1
        return 0
    GUIDE.write_text(fresh)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
