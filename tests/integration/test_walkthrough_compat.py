"""Walkthrough-shaped producers beside ours: their records are read, built, inspected,
booked and audited; what truly cannot be read is dead-lettered, and an unreadable record
without its dead letter makes the audit inconclusive (exit 3), never a hollow pass."""

from __future__ import annotations

import json
import re
import signal
from datetime import datetime

import pytest
from confluent_kafka import Producer

from tests import walkthrough_shapes as w
from tests.conftest import run_cli
from tests.integration.services import Factory, Service, wait_for
from widget_factory.kafka_io.broker import EmbeddedBroker
from widget_factory.kafka_io.reader import read_to_end
from widget_factory.kafka_io.settings import KafkaSettings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

BASIC = ("metal_frame", "plastic_housing", "circuit_board")


def _setup(bootstrap: str) -> KafkaSettings:
    result = run_cli("setup", "--bootstrap-servers", bootstrap)
    assert result.returncode == 0, result.stderr
    return KafkaSettings(bootstrap, source="flag")


def _send(bootstrap: str, records: list[tuple[str, str, bytes]]) -> None:
    """(topic, key, value) records, keyed by their ids as the walkthrough does."""
    producer = Producer({"bootstrap.servers": bootstrap})
    for topic, key, value in records:
        producer.produce(topic, value, key=key.encode())
    assert producer.flush(10) == 0


def _components(kits: int, tag: str, at: datetime | None = None) -> list[tuple[str, str, bytes]]:
    """Walkthrough-shaped components for ``kits`` basic widgets, naive wall-clock times."""
    records = []
    for kit in range(kits):
        for n, component_type in enumerate(BASIC):
            document = w.component(component_type, f"{tag}{kit:02x}{n:02x}", at or datetime.now())
            records.append(("component-production", document["component_id"], w.value(document)))
    return records


def _audit(bootstrap: str) -> tuple[int, dict]:
    result = run_cli("audit", "--json", "--bootstrap-servers", bootstrap, timeout=120)
    assert result.returncode in (0, 1, 3), result.stderr
    return result.returncode, json.loads(result.stdout)


def _dead_letters(settings: KafkaSettings) -> list[dict[str, str]]:
    return [
        {k: v.decode() for k, v in m.headers() or []}
        for m in read_to_end(settings, ["factory-deadletter"])
    ]


def test_a_factory_mixing_walkthrough_producers_with_ours_runs_end_to_end(
    own_broker: EmbeddedBroker,
) -> None:
    bootstrap = own_broker.bootstrap_servers
    settings = _setup(bootstrap)
    early = _components(4, "c0de")
    telemetry = w.telemetry("FRAME_MACHINE_01", datetime.now())
    _send(bootstrap, [*early, ("machine-telemetry", "FRAME_MACHINE_01", w.value(telemetry))])
    factory = Factory(bootstrap, speed="600")
    factory.start()
    try:
        assert wait_for(
            lambda: sum(1 for _ in read_to_end(settings, ["quality-control"])) > 3, 60
        ), "the factory did not start"
        # The walkthrough's components say FRAME_MACHINE_01 made them, a machine the
        # factory's own telemetry reports too, and the audit judges every component by
        # its machine's status at its time (invariant 7). Made while the factory runs,
        # they fall inside the factory's status history, which may say the machine is
        # down just then; so the walkthrough says, as its telemetry producer would, that
        # the machine was running when it made them.
        made_at = datetime.now()
        late = _components(2, "feed", made_at)
        reading = w.telemetry("PLASTIC_MOLD_01", datetime.now())
        _send(
            bootstrap,
            [
                ("machine-telemetry", "FRAME_MACHINE_01", w.value(w.telemetry(at=made_at))),
                *late,
                ("machine-telemetry", "PLASTIC_MOLD_01", w.value(reading)),
                ("machine-telemetry", "BROKEN_01", b"\x00\xff not a reading"),
            ],
        )
        assert wait_for(
            lambda: (
                sum(d.get("source.topic") == "machine-telemetry" for d in _dead_letters(settings))
                >= 2
            ),
            60,
        ), "unreadable telemetry was not dead-lettered by its readers"
        factory.drain(timeout=120)
    finally:
        factory.stop()

    ours = {key for _topic, key, _value in (*early, *late)}
    built = [
        json.loads(m.value())
        for m in read_to_end(settings, ["widget-assembly"])
        if ours & set(json.loads(m.value())["component_ids"])
    ]
    assert built, "no widget was assembled from the walkthrough's components"
    checked = {
        json.loads(m.value())["widget_id"] for m in read_to_end(settings, ["quality-control"])
    }
    assert {widget["widget_id"] for widget in built} <= checked
    booked = {
        json.loads(m.value())["item_id"]
        for m in read_to_end(settings, ["inventory-updates"])
        if json.loads(m.value())["reason"] == "production"
    }
    assert ours <= booked, "inventory did not book every walkthrough component"

    status, report = _audit(bootstrap)
    assert status == 0 and report["status"] == "passed", (report["violations"], report["counts"])
    assert report["upgraded_records"]["records"] >= len(ours)
    assert report["counts"]["components_produced"] >= len(ours)
    telemetry_dead = {
        d["service"] for d in _dead_letters(settings) if d["source.topic"] == "machine-telemetry"
    }
    assert telemetry_dead == {"components", "assembly"}
    for name in ("assembly", "inventory"):
        output = factory[name].output()
        assert (
            "component-production: reading walkthrough-shaped events (no envelope: event_id "
            "derived; naive times read as UTC)" in output
        ), output[-2000:]
        assert "walkthrough-shaped records upgraded" in output, output[-2000:]
        assert "Expected `datetime` with a timezone component" not in output


def test_the_audit_is_inconclusive_until_an_unreadable_record_has_its_dead_letter(
    own_broker: EmbeddedBroker,
) -> None:
    bootstrap = own_broker.bootstrap_servers
    settings = _setup(bootstrap)
    _send(bootstrap, [("component-production", "garbage", b"\x00\xff not an event")])
    status, report = _audit(bootstrap)
    assert status == 3 and report["status"] == "inconclusive" and report["ok"] is False
    [missing] = report["unaccounted_unreadable"]
    assert missing["topic"] == "component-production" and missing["offset"] == 0
    assert "not valid JSON" in missing["error"]
    text = run_cli("audit", "--bootstrap-servers", bootstrap, timeout=120)
    assert text.returncode == 3
    assert f"no dead letter: component-production[{missing['partition']}]@0" in text.stdout
    assert "Audit inconclusive" in text.stdout and "Audit passed" not in text.stdout

    # the walkthrough's records of one failed widget, and its quality check without a type
    components = _components(1, "beef")
    ids = [key for _topic, key, _value in components]
    widget = w.widget("basic_widget", "0000beef", ids, datetime.now())
    check = w.quality_check(widget["widget_id"], datetime.now(), passed=False)
    _send(
        bootstrap,
        [
            *components,
            ("widget-assembly", widget["widget_id"], w.value(widget)),
            ("quality-control", widget["widget_id"], w.value(check)),
        ],
    )
    inventory = Service("inventory", ["--bootstrap-servers", bootstrap, "--speed", "600"])
    inventory.start()
    try:
        assert wait_for(
            lambda: sum(1 for _ in read_to_end(settings, ["inventory-updates"])) >= 8, 60
        ), inventory.output()[-3000:]
        assert wait_for(lambda: len(_dead_letters(settings)) >= 1, 30), inventory.output()[-3000:]
    finally:
        inventory.signal(signal.SIGTERM)
        assert inventory.wait(30) == 0, inventory.output()[-3000:]
    output = inventory.output()
    assert "widget_type taken from widget_id" in output, output[-3000:]
    assert "walkthrough-shaped records upgraded" in output

    status, report = _audit(bootstrap)
    assert status == 0 and report["status"] == "passed", (report["violations"], report["counts"])
    assert report["unreadable_records"] == 1 and report["unaccounted_unreadable"] == []
    assert report["counts"]["components_produced"] == 3
    assert report["counts"]["widgets_failed"] == 1
    assert report["upgraded_records"]["records"] == 5


def test_a_walkthrough_reading_from_the_past_does_not_restart_a_stopped_machine(
    own_broker: EmbeddedBroker,
) -> None:
    """The walkthrough stamps its readings with the wall clock; beside a factory at 600x
    that is the simulated past. Its "running" for a machine stopped now must not set the
    machine producing again: the later, stopped status stands."""
    bootstrap = own_broker.bootstrap_servers
    _setup(bootstrap)
    common = ["--bootstrap-servers", bootstrap, "--speed", "600", "--seed", "3"]
    telemetry = Service("telemetry", list(common))
    components = Service("components", list(common))
    telemetry.start()
    components.start()
    try:
        assert wait_for(lambda: "Component produced" in components.output(), 60), (
            components.output()[-3000:]
        )
        assert (
            run_cli("stop-machine", "PCB_ASSEMBLER_01", "--bootstrap-servers", bootstrap).returncode
            == 0
        )
        stopped = r"PCB_ASSEMBLER_01 is in shutdown at ([0-9-]+ [0-9:]+)"
        assert wait_for(lambda: re.search(stopped, components.output()), 60), components.output()[
            -3000:
        ]
        reading = w.telemetry("PCB_ASSEMBLER_01", datetime.now())
        _send(bootstrap, [("machine-telemetry", "PCB_ASSEMBLER_01", w.value(reading))])
        assert wait_for(
            lambda: "machine-telemetry: reading walkthrough-shaped events" in components.output(),
            60,
        ), components.output()[-3000:]
        assert (
            run_cli(
                "start-machine", "PCB_ASSEMBLER_01", "--bootstrap-servers", bootstrap
            ).returncode
            == 0
        )
        resumed = r"PCB_ASSEMBLER_01 is \w+ again at ([0-9-]+ [0-9:]+)"
        assert wait_for(lambda: re.search(resumed, components.output()), 60), components.output()[
            -3000:
        ]
    finally:
        for service in (components, telemetry):
            service.signal(signal.SIGTERM)
        for service in (components, telemetry):
            assert service.wait(30) == 0, service.output()[-3000:]
    output = components.output()
    match = re.search(stopped, output)
    assert match is not None
    # the only return to production is the one the start-machine command made
    assert all(at > match.group(1) for at in re.findall(resumed, output)), output[-3000:]
    assert "1 status reports older than their machine's status not applied" in output
    status, report = _audit(bootstrap)
    assert [v for v in report["violations"] if v["invariant"] == 7] == [], report["violations"]
