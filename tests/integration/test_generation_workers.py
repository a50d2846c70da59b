"""Generation scaled out against a real broker: ``components --workers 2`` makes exactly
the stream one process makes for the same seed, and a whole factory run with its
producers as two workers each keeps every invariant of the audit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import run_cli, run_virtual
from tests.integration.services import config_without_kanban
from widget_factory.kafka_io.broker import EmbeddedBroker
from widget_factory.kafka_io.reader import read_to_end
from widget_factory.kafka_io.settings import KafkaSettings
from widget_factory.schemas import ComponentProduced, decode_as

pytestmark = pytest.mark.integration

SEED_AND_START = ("--seed", "42", "--start", "2026-01-01T00:00:00+00:00")


def _components(bootstrap: str) -> list[tuple[str, str, str, str]]:
    settings = KafkaSettings(bootstrap, source="flag")
    events = [
        decode_as(m.value(), ComponentProduced)
        for m in read_to_end(settings, ["component-production"])
    ]
    return sorted(
        (e.component_id, e.event_id, e.machine_id, e.produced_at.isoformat()) for e in events
    )


def _components_alone(workers: int, config: Path) -> list[tuple[str, str, str, str]]:
    """Components alone (no assembly drains the stock): kanban off, machines flat out."""
    with EmbeddedBroker() as broker:
        result = run_cli(
            "components",
            "--config",
            str(config),
            "--bootstrap-servers",
            broker.bootstrap_servers,
            "--workers",
            str(workers),
            "--speed",
            "max",
            "--duration",
            "2h",
            *SEED_AND_START,
            timeout=180,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        if workers > 1:
            assert f"{workers} worker processes" in result.stderr
        return _components(broker.bootstrap_servers)


def test_two_workers_make_exactly_the_one_process_component_stream(tmp_path: Path) -> None:
    config = config_without_kanban(tmp_path)
    one = _components_alone(1, config)
    two = _components_alone(2, config)
    assert len(one) > 100
    assert two == one
    assert len({component_id for component_id, *_ in two}) == len(two)


def test_a_run_with_two_generation_workers_passes_the_audit(own_broker: EmbeddedBroker) -> None:
    bootstrap = own_broker.bootstrap_servers
    result = run_virtual(
        bootstrap, duration="3h", seed=42, extra=("--generation-workers", "2"), timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    components = _components(bootstrap)
    machines = {machine for _, _, machine, _ in components}
    assert len(machines) > 2  # both workers' machines produced
    audit = run_cli("audit", "--json", "--bootstrap-servers", bootstrap, timeout=120)
    assert audit.returncode in (0, 1), audit.stderr
    report = json.loads(audit.stdout)
    assert report["ok"], report["violations"]
