"""The README cannot lie about the command line: every `widget-factory ...` command it
shows parses with the real parser (subcommand, options and their values)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from widget_factory.cli import build_parser

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _commands(path: Path) -> list[str]:
    commands = []
    in_code = False
    for line in path.read_text().splitlines():
        if line.startswith("```"):
            in_code = not in_code
            continue
        if not in_code:
            continue
        text = line.strip().removeprefix("$ ")
        if not text.startswith("widget-factory "):
            continue
        text = re.split(r"\s{2,}#|\s+#\s", text)[0].strip().removesuffix("&").strip()
        if re.match(r"widget-factory [\w-]+: ", text):
            continue  # an error message shown as output, not a command
        commands.append(text)
    return commands


CASES = [(path.name, command) for path in DOCS for command in _commands(path)]


def test_the_readme_shows_the_two_commands_and_many_more() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "make run" in readme and "make test" in readme
    assert len([c for name, c in CASES if name == "README.md"]) >= 20


@pytest.mark.parametrize(("doc", "command"), CASES, ids=[f"{d}: {c}" for d, c in CASES])
def test_documented_command_parses(doc: str, command: str) -> None:
    argv = shlex.split(command)[1:]
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse refuses it
        pytest.fail(f"{doc}: `{command}` does not parse (exit {exc.code})")
    assert getattr(args, "handler", None) is not None, command
