"""Kanban in a whole factory run: stock never passes a ceiling, machines at the ceiling
report ``idle``, and every invariant of the audit holds (7 included)."""

from __future__ import annotations

from collections import defaultdict

from tests.conftest import run_cli
from tests.integration.services import audit
from widget_factory.core.kanban import kanban_limits
from widget_factory.factory_config import default_config
from widget_factory.kafka_io.broker import EmbeddedBroker
from widget_factory.kafka_io.reader import read_to_end
from widget_factory.kafka_io.settings import KafkaSettings
from widget_factory.schemas import (
    ComponentProduced,
    FactoryCommand,
    MachineStatus,
    MachineTelemetry,
    WidgetAssembled,
    decode_as,
)


def _read(settings: KafkaSettings, topic: str, kind: type) -> list:
    return [decode_as(m.value() or b"", kind) for m in read_to_end(settings, [topic])]


def test_a_kanban_day_keeps_stock_under_the_ceilings(own_broker: EmbeddedBroker) -> None:
    bootstrap = own_broker.bootstrap_servers
    # Two inspector processes: not a lockstep run, which is reproducible and so runs
    # without kanban (widgets are read in arrival order, not event time).
    result = run_cli(
        "run", "--bootstrap-servers", bootstrap, "--speed", "max", "--duration", "12h",
        "--seed", "7", "--inspectors", "2", timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert "idle: " in result.stderr and "stock at its ceiling" in result.stderr
    report = audit(bootstrap)
    assert report["ok"], report["violations"]
    settings = KafkaSettings(bootstrap, source="flag")
    made = _read(settings, "component-production", ComponentProduced)
    widgets = _read(settings, "widget-assembly", WidgetAssembled)
    assert widgets, "the stations built nothing"
    # stock by simulated time: made up to t minus used in widgets completed up to t
    moves: defaultdict[str, list[tuple[float, int]]] = defaultdict(list)
    kind = {c.component_id: c.component_type for c in made}
    for c in made:
        moves[c.component_type].append((c.produced_at.timestamp(), 1))
    for w in widgets:
        for component_id in w.component_ids:
            moves[kind[component_id]].append((w.assembly_completed_at.timestamp(), -1))
    limits = kanban_limits(default_config())
    for component_type, limit in limits.items():
        level = peak = 0
        for _t, change in sorted(moves[component_type], key=lambda m: (m[0], m[1])):
            level += change
            peak = max(peak, level)
        assert peak <= limit.ceiling, (component_type, peak, limit)
    # machines at their ceiling reported idle, told so by kanban commands
    reports = _read(settings, "machine-telemetry", MachineTelemetry)
    assert any(r.status is MachineStatus.IDLE for r in reports)
    commands = _read(settings, "factory-commands", FactoryCommand)
    assert {c.command for c in commands} == {"kanban_hold", "kanban_release"}
