"""Imports point one way: ``cli`` dispatches to ``commands/``; commands use the rest of
the package; nothing else imports a command, and no command imports ``cli``."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "widget_factory"


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_only_the_cli_imports_commands() -> None:
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if "commands" not in path.relative_to(PACKAGE).parts
        and path.name != "cli.py"
        and any(name.startswith("widget_factory.commands") for name in _imports(path))
    ]
    assert offenders == []


def test_no_command_imports_the_cli() -> None:
    offenders = [
        path.name
        for path in (PACKAGE / "commands").glob("*.py")
        if any(name.startswith("widget_factory.cli") for name in _imports(path))
    ]
    assert offenders == []
