"""The core stays pure: every module of ``widget_factory.core``, found by walking the
package (a new module is checked without anyone adding it here).

Two checks: importing the whole core loads no Kafka client, no broker I/O and no web
stack; and the source of each module (its syntax tree, so comments and strings do not
count) names no forbidden import, no ``os.environ`` and no wall-clock read. Time comes
in through an injected clock, configuration through arguments.
"""

from __future__ import annotations

import ast
import importlib.util
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import widget_factory.core

CORE_MODULES = sorted(
    f"widget_factory.core.{info.name}"
    for info in pkgutil.iter_modules(widget_factory.core.__path__)
    if not info.ispkg
)

FORBIDDEN_IMPORTS = (
    "confluent_kafka",
    "starlette",
    "uvicorn",
    "widget_factory.kafka_io",
    "widget_factory.dashboard",
)
"""Modules the core never imports (nor anything under them)."""

FORBIDDEN_NAMES = {
    "os.environ": "environment",
    "os.environb": "environment",
    "os.getenv": "environment",
    "os.putenv": "environment",
    "time.time": "wall clock",
    "time.time_ns": "wall clock",
    "time.monotonic": "wall clock",
    "time.monotonic_ns": "wall clock",
    "time.perf_counter": "wall clock",
    "time.perf_counter_ns": "wall clock",
    "datetime.datetime.now": "wall clock",
    "datetime.datetime.utcnow": "wall clock",
    "datetime.datetime.today": "wall clock",
    "datetime.date.today": "wall clock",
}
"""Fully qualified names the core never reads (called or passed along)."""

KNOWN_EXCEPTIONS: set[tuple[str, str]] = set()
"""Reads still present, each with its way out (none now: ``SimClock`` takes the wall clock
as an argument). The test below fails when an entry is no longer needed."""


def _source(module: str) -> tuple[Path, ast.Module]:
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin is not None, module
    path = Path(spec.origin)
    return path, ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _dotted(node: ast.expr) -> str | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


def violations(module: str) -> list[tuple[int, str, str]]:
    """(line, name, why) of every forbidden import or read in ``module``'s source."""
    path, tree = _source(module)
    found: list[tuple[int, str, str]] = []
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                head = alias.name.split(".")[0]
                aliases[alias.asname or head] = alias.name if alias.asname else head
                if alias.name.startswith(FORBIDDEN_IMPORTS):
                    found.append((node.lineno, alias.name, "import"))
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.startswith(FORBIDDEN_IMPORTS):
                found.append((node.lineno, node.module, "import"))
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                aliases[alias.asname or alias.name] = full
                if full.startswith(FORBIDDEN_IMPORTS):
                    found.append((node.lineno, full, "import"))
                elif full in FORBIDDEN_NAMES:
                    found.append((node.lineno, full, FORBIDDEN_NAMES[full]))
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        dotted = _dotted(node)
        if dotted is None:
            continue
        head, _, rest = dotted.partition(".")
        resolved = aliases.get(head, head) + (f".{rest}" if rest else "")
        if resolved in FORBIDDEN_NAMES:
            found.append((node.lineno, resolved, FORBIDDEN_NAMES[resolved]))
    return sorted(set(found))


def test_the_core_is_found_by_walking_the_package() -> None:
    assert len(CORE_MODULES) >= 16
    assert "widget_factory.core.analytics_windows" in CORE_MODULES
    assert "widget_factory.core.scenario_stats" in CORE_MODULES


@pytest.mark.parametrize("module", CORE_MODULES)
def test_core_module_reads_no_environment_clock_or_io(module: str) -> None:
    bad = [
        f"line {line}: {name} ({why})"
        for line, name, why in violations(module)
        if (module, name) not in KNOWN_EXCEPTIONS
    ]
    assert not bad, f"{module}: " + "; ".join(bad)


def test_known_exceptions_are_still_needed() -> None:
    for module, name in KNOWN_EXCEPTIONS:
        assert any(found == name for _line, found, _why in violations(module)), (
            f"{module} no longer uses {name}: remove it from KNOWN_EXCEPTIONS"
        )


def test_the_checker_sees_what_it_forbids(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "impure_probe"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "bad.py").write_text(
        "import os\n"
        "import time as t\n"
        "from datetime import datetime, date\n"
        "from confluent_kafka import Consumer\n"
        "import uvicorn\n"
        "def f(clock=t.monotonic):\n"
        "    return datetime.now(), date.today(), os.environ['X'], t.time()\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    names = {name for _line, name, _why in violations("impure_probe.bad")}
    assert names == {
        "confluent_kafka",
        "confluent_kafka.Consumer",
        "uvicorn",
        "time.monotonic",
        "time.time",
        "datetime.datetime.now",
        "datetime.date.today",
        "os.environ",
    }


def test_importing_the_whole_core_loads_no_kafka_client_or_web_stack() -> None:
    code = (
        "import importlib, sys\n"
        f"for name in {CORE_MODULES!r}:\n"
        "    importlib.import_module(name)\n"
        "loaded = [m for m in sys.modules if m.startswith("
        "('confluent_kafka', 'widget_factory.kafka_io', 'starlette', 'uvicorn'))]\n"
        "assert not loaded, loaded\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
