"""Shared fixtures: one real embedded broker per test session, on a free port."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.patience import ceiling
from widget_factory.kafka_io.broker import EmbeddedBroker
from widget_factory.kafka_io.settings import KafkaSettings

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def broker() -> Iterator[EmbeddedBroker]:
    """A real tansu broker over a real socket, shared by the whole session."""
    with EmbeddedBroker() as running:
        yield running


@pytest.fixture(scope="session")
def kafka(broker: EmbeddedBroker) -> KafkaSettings:
    return KafkaSettings(broker.bootstrap_servers, source="flag")


@pytest.fixture
def own_broker() -> Iterator[EmbeddedBroker]:
    """A broker of the test's own (tansu starts in milliseconds): a clean cluster."""
    with EmbeddedBroker() as running:
        yield running


@pytest.fixture
def unique() -> str:
    """A short unique suffix for topic and group names."""
    return uuid.uuid4().hex[:8]


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``widget-factory ARGS`` in a subprocess, as a user would run it; ``timeout`` is
    the idle-machine figure, scaled by :func:`tests.patience.ceiling`."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "widget_factory", *args],
        capture_output=True,
        text=True,
        timeout=ceiling(timeout),
        env=full_env,
        cwd=cwd or ROOT,
    )


def run_virtual(
    bootstrap: str,
    *,
    duration: str = "3h",
    seed: int = 1,
    extra: tuple[str, ...] = (),
    timeout: float = 240,
) -> subprocess.CompletedProcess[str]:
    """A bounded factory run in virtual time (``--speed max``); the caller checks its end."""
    return run_cli(
        "run",
        "--bootstrap-servers",
        bootstrap,
        "--speed",
        "max",
        "--duration",
        duration,
        "--seed",
        str(seed),
        *extra,
        timeout=timeout,
    )


def run_drained(bootstrap: str, **options: Any) -> subprocess.CompletedProcess[str]:
    """A bounded factory run in virtual time that drains before it returns (must succeed);
    ``options`` are :func:`run_virtual`'s."""
    result = run_virtual(bootstrap, **options)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """pytest-timeout's limit (``timeout`` in pyproject.toml, an idle-machine figure)
    scaled like every other ceiling, for tests that do not set their own."""
    try:
        idle = float(config.getini("timeout") or 300)
    except ValueError:
        idle = 300.0
    limit = int(ceiling(idle))
    for item in items:
        if item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(limit))
