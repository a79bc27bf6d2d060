"""The layers point down: checked on every module's imports (top-level and lazy ones alike)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import explainmyxray

PACKAGE = Path(explainmyxray.__file__).resolve().parent
RUNTIME = ("registry", "pipelines", "plugins", "models", "cli")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> list[tuple[int, str]]:
    """Every module ``path`` imports (absolute names), with its line."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            found.append((node.lineno, target))
            # ``from explainmyxray import plugins`` names a package too
            found += [(node.lineno, f"{target}.{alias.name}") for alias in node.names]
    return found


def modules(*parts: str) -> list[Path]:
    return sorted(PACKAGE.joinpath(*parts).rglob("*.py"))


def violations(paths: list[Path], forbidden) -> list[str]:
    bad = []
    for path in paths:
        for line, target in imports(path):
            reason = forbidden(path, target)
            if reason:
                bad.append(f"{path.relative_to(PACKAGE.parent)}:{line} imports {target} ({reason})")
    return bad


def under(target: str, *packages: str) -> str | None:
    for package in packages:
        name = f"explainmyxray.{package}"
        if target == name or target.startswith(name + "."):
            return package
    return None


def test_core_imports_no_runtime_plugin_model_or_cli():
    def forbidden(path: Path, target: str) -> str | None:
        layer = under(target, *RUNTIME)
        return f"core must not depend on {layer}" if layer else None

    assert violations(modules("core"), forbidden) == []


def test_no_plugin_imports_another_plugin():
    def forbidden(path: Path, target: str) -> str | None:
        if under(target, "plugins") and target not in ("explainmyxray.plugins",):
            own = module_name(path)
            if not (target == own or target.startswith(own + ".")):
                return "a plugin never imports another plugin"
        return None

    assert violations(modules("plugins"), forbidden) == []


@pytest.mark.parametrize(
    "package", ["training", "models", "anatomy", "imaging", "report", "labeler", "scoring"]
)
def test_libraries_below_the_plugins_import_no_plugin_and_no_cli(package):
    def forbidden(path: Path, target: str) -> str | None:
        layer = under(target, "plugins", "cli")
        return f"{package} must not depend on {layer}" if layer else None

    assert violations(modules(package), forbidden) == []


def test_registry_and_pipelines_import_no_plugin_and_no_cli():
    def forbidden(path: Path, target: str) -> str | None:
        layer = under(target, "plugins", "cli")
        return f"must not depend on {layer}" if layer else None

    assert violations(modules("registry") + modules("pipelines"), forbidden) == []


def test_the_checker_sees_relative_and_lazy_imports(tmp_path, monkeypatch):
    """The rules would catch a lazy relative import inside a function."""
    fake = PACKAGE / "core" / "_probe_for_import_rules.py"
    source = "def f():\n    from ..registry.plugins import PluginHost\n    return PluginHost\n"
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: source)
    assert (2, "explainmyxray.registry.plugins") in imports(fake)
