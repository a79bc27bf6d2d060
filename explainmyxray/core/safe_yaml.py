"""Reading a user's YAML file with hard limits, parsed once, every failure a :class:`ConfigError`.

``yaml.safe_load`` builds no arbitrary objects but still trusts the text's size: a billion-laughs
file (nested aliases) is a few hundred bytes that expand to 10⁹ nodes for whoever walks the
result, a recursive anchor makes a cyclic structure, deep nesting overflows the recursive
composer. Here the file's size, its nesting depth, its node count *after* alias expansion and
its number of aliases are bounded before anything is constructed, and the one composed node tree
gives both the data and the line of every key (used by error messages).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError

MAX_FILE_BYTES = 1 << 20
MAX_DEPTH = 64
MAX_NODES = 100_000
"""Nodes after alias expansion: a pipeline or training file has a few hundred."""
MAX_ALIASES = 1_000
_RECURSIVE = "not read: a recursive alias (an anchor used inside itself)"

Loc = tuple[str | int, ...]


class YamlError(ConfigError):
    """A YAML file could not be read; ``file``, ``line`` and ``problem`` say where and why."""

    def __init__(self, file: str, line: int | None, problem: str) -> None:
        self.file, self.line, self.problem = file, line, problem
        where = f"{file}:{line}" if line else file
        super().__init__(f"{where}: {problem}")


@dataclass(frozen=True)
class YamlDocument:
    data: Any
    lines: dict[Loc, int]
    """The 1-based line of each key path (``("stages", 0, "plugin")``)."""

    def line_for(self, loc: Loc) -> int | None:
        """The line of ``loc`` or of its nearest ancestor."""
        for n in range(len(loc), -1, -1):
            if loc[:n] in self.lines:
                return self.lines[loc[:n]]
        return None


class _LimitedLoader(yaml.SafeLoader):
    """A SafeLoader whose composer refuses deep nesting and many aliases as it goes."""

    def __init__(self, stream: str, file: str) -> None:
        super().__init__(stream)
        self._file = file
        self._depth = 0
        self._aliases = 0
        self._open: set[str | None] = set()
        """Anchors whose node is being composed: an alias to one of them is recursive."""

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        event = self.peek_event()
        line = event.start_mark.line + 1
        if isinstance(event, yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise _limit(self._file, line, f"more than {MAX_ALIASES} aliases")
            if event.anchor in self._open:
                raise YamlError(self._file, line, _RECURSIVE)
        anchor = getattr(event, "anchor", None)
        self._depth += 1
        if anchor is not None:
            self._open.add(anchor)
        try:
            if self._depth > MAX_DEPTH:
                raise _limit(self._file, line, f"nested deeper than {MAX_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1
            self._open.discard(anchor)


def _limit(file: str, line: int | None, what: str) -> YamlError:
    return YamlError(file, line, f"not read: the YAML is {what} (a limit against hostile files)")


def _check_expansion(root: yaml.Node, file: str) -> None:
    """Refuse a cyclic node graph or one that expands to more than ``MAX_NODES`` nodes.

    Sizes are memoized per node, so the walk costs the composed nodes, not their expansion.
    """
    sizes: dict[int, int] = {}
    on_stack: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            on_stack.discard(key)
            children = _children(node)
            size = 1 + sum(sizes[id(c)] for c in children)
            if size > MAX_NODES:
                raise _limit(
                    file,
                    node.start_mark.line + 1,
                    f"more than {MAX_NODES:,} nodes once aliases are expanded",
                )
            sizes[key] = size
            continue
        if key in sizes:
            continue
        if key in on_stack:
            raise YamlError(file, node.start_mark.line + 1, _RECURSIVE)
        on_stack.add(key)
        stack.append((node, True))
        for child in _children(node):
            if id(child) in on_stack:
                raise YamlError(file, child.start_mark.line + 1, _RECURSIVE)
            if id(child) not in sizes:
                stack.append((child, False))


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


def _line_map(root: yaml.Node) -> dict[Loc, int]:
    """Lines of key paths; an aliased node is entered once (its first path), never expanded."""
    lines: dict[Loc, int] = {}
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, Loc]] = [(root, ())]
    while stack:
        node, path = stack.pop()
        lines.setdefault(path, node.start_mark.line + 1)
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node)
                lines.setdefault((*path, key), key_node.start_mark.line + 1)
                stack.append((value_node, (*path, key)))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, (*path, i)) for i, item in enumerate(node.value))
    return lines


def parse_yaml(text: str | bytes, *, file: str = "<yaml>") -> YamlDocument:
    """Parse one YAML document within the limits; raise :class:`ConfigError` with file:line."""
    if isinstance(text, bytes):
        text = _decode(text, file)
    if len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        raise _limit(file, None, f"larger than {MAX_FILE_BYTES // 1024} KiB")
    try:
        loader = _LimitedLoader(text, file)
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        raise YamlError(
            file, line, f"not valid YAML: unprintable character #x{exc.character:04x}"
        ) from None
    try:
        node = loader.get_single_node()
        if node is None:
            return YamlDocument(data=None, lines={})
        _check_expansion(node, file)
        data = loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark else None
        problem = getattr(exc, "problem", None) or str(exc)
        raise YamlError(file, line, f"not valid YAML: {problem}") from None
    except RecursionError:
        raise YamlError(file, None, "not read: the YAML nests too deeply") from None
    finally:
        loader.dispose()
    return YamlDocument(data=data, lines=_line_map(node))


def _decode(raw: bytes, file: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise YamlError(
            file,
            line,
            f"not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
            "save the file as UTF-8",
        ) from None


def read_yaml(path: Path, what: str = "YAML file") -> YamlDocument:
    """Read and parse ``path`` within the limits (its size is checked before it is read)."""
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise _limit(str(path), None, f"{size:,} bytes, larger than {MAX_FILE_BYTES:,}")
        raw = path.read_bytes()
    except OSError as exc:
        raise YamlError(str(path), None, f"cannot read {what}: {exc.strerror or exc}") from exc
    return parse_yaml(raw, file=str(path))
