"""Fault drills against a real broker: each reports what it injected and what the audit found.

- a soak that SIGKILLs and restarts every service during a run, then audits;
- poison records on every input topic: dead-lettered with their bytes and origin, nothing
  valid lost around them;
- the broker paused (SIGSTOP) for 30 s: every service recovers by itself;
- a graceful stop of each service: within 5 s, flushed and committed.
"""

from __future__ import annotations

import random
import signal
import time

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from tests.conftest import run_cli
from tests.integration.services import CONSUMERS, PRODUCERS, Factory, audit, wait_for
from widget_factory.kafka_io.broker import EmbeddedBroker
from widget_factory.kafka_io.reader import TopicReader, read_to_end
from widget_factory.kafka_io.settings import KafkaSettings

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _setup(bootstrap: str) -> KafkaSettings:
    result = run_cli("setup", "--bootstrap-servers", bootstrap)
    assert result.returncode == 0, result.stderr
    return KafkaSettings(bootstrap, source="flag")


def _count(settings: KafkaSettings, topic: str) -> int:
    """Records on ``topic``, not counting the poison this module injects."""
    return sum(
        1 for m in read_to_end(settings, [topic]) if not (m.key() or b"").startswith(b"poison")
    )


def _report(title: str, injected: object, report: dict) -> None:
    print(
        f"\n[{title}] injected: {injected}\n"
        f"[{title}] audit: ok={report['ok']} counts={report['counts']} "
        f"duplicates dropped={report['duplicates_dropped']} violations={report['violations']}"
    )


def test_soak_sigkill_every_service_twice_then_audit(own_broker: EmbeddedBroker) -> None:
    settings = _setup(own_broker.bootstrap_servers)
    factory = Factory(own_broker.bootstrap_servers, speed="600")
    factory.start()
    kills: list[str] = []
    try:
        assert wait_for(lambda: _count(settings, "quality-control") > 3, 40), (
            "the factory did not start"
        )
        victims = [*CONSUMERS, *PRODUCERS] * 2
        random.Random(5).shuffle(victims)
        for victim in victims:
            time.sleep(3)
            factory[victim].kill()
            kills.append(victim)
            time.sleep(0.3)
            factory[victim].start()
        time.sleep(5)
        factory.drain(timeout=120)
    finally:
        factory.stop()
    report = audit(own_broker.bootstrap_servers)
    _report("soak", {"SIGKILL then restart": kills}, report)
    assert report["ok"], report["violations"]
    assert report["counts"]["widgets_assembled"] > 0
    assert report["counts"]["widgets_inspected"] == report["counts"]["widgets_assembled"]
    restored = factory["assembly"].output().count("Restored from the changelog")
    assert restored >= 1, "a restarted assembly must restore its stations from the changelog"


POISON: dict[str, bytes] = {
    "not json": b"\x00\xff this is not JSON",
    "wrong types": b'{"event_type":"component_produced","event_id":"6f1b9e52-5d3a-4c1e-9a57-0c2f3b8e7d41","schema_version":1,"component_id":42}',
    "missing fields": b'{"event_type":"quality_check","event_id":"6f1b9e52-5d3a-4c1e-9a57-0c2f3b8e7d42","schema_version":1}',
    "unknown enum value": b'{"event_type":"factory_command","event_id":"6f1b9e52-5d3a-4c1e-9a57-0c2f3b8e7d43","schema_version":1,"command":"self_destruct","target_id":"X","issued_at":"2026-01-01T00:00:00Z"}',
    "oversized": b'{"event_type":"component_produced","pad":"' + b"x" * 70_000 + b'"}',
    "wrong schema version": b'{"event_type":"production_order","event_id":"6f1b9e52-5d3a-4c1e-9a57-0c2f3b8e7d44","schema_version":2,"order_id":"O","widget_type":"basic_widget","quantity":1,"priority":1,"created_at":"2026-01-01T00:00:00Z"}',
}

INPUTS = {
    "component-production": ("assembly", "inventory"),
    "widget-assembly": ("quality", "inventory"),
    "quality-control": ("inventory",),
    "production-orders": ("assembly",),
    "factory-commands": ("telemetry",),
}


def _inject(bootstrap: str, topics: list[str], tag: str) -> int:
    producer = Producer(
        {"bootstrap.servers": bootstrap, "enable.idempotence": True, "message.max.bytes": 2_000_000}
    )
    sent = 0
    for topic in topics:
        for kind, value in POISON.items():
            producer.produce(
                topic, value, key=f"poison-{tag}-{kind}".encode(), headers=[("origin", b"test")]
            )
            sent += 1
    assert producer.flush(10) == 0
    return sent


def test_poison_records_on_every_input_are_dead_lettered(own_broker: EmbeddedBroker) -> None:
    bootstrap = own_broker.bootstrap_servers
    settings = _setup(bootstrap)
    # production-orders gets its poison during the run: before it, an empty topic is
    # what tells assembly to publish the opening orders
    before = _inject(bootstrap, [t for t in INPUTS if t != "production-orders"], "before")
    factory = Factory(bootstrap, speed="600")
    factory.start()
    try:
        assert wait_for(lambda: _count(settings, "quality-control") > 3, 40)
        during = _inject(bootstrap, list(INPUTS), "during")
        assert wait_for(lambda: _count(settings, "quality-control") > 10, 40)
        factory.drain()
    finally:
        factory.stop()
    expected = {
        (topic, service): POISON.keys().__len__() * (2 if topic != "production-orders" else 1)
        for topic, services in INPUTS.items()
        for service in services
    }
    found: dict[tuple[str, str], int] = {}
    for message in read_to_end(settings, ["factory-deadletter"]):
        headers = {k: v.decode() for k, v in message.headers() or []}
        key = (headers["source.topic"], headers["service"])
        found[key] = found.get(key, 0) + 1
        assert headers["origin"] == "test"  # original headers kept
        assert message.key().decode().startswith("poison-")
        kind = message.key().decode().split("-", 2)[2]
        assert message.value() == POISON[kind], "the original bytes, untouched"
        assert int(headers["source.offset"]) >= 0 and int(headers["source.partition"]) >= 0
        assert headers["error"]
    report = audit(bootstrap)
    _report(
        "poison",
        {"records before the run": before, "during": during, "per kind": list(POISON)},
        report,
    )
    assert found == expected
    assert report["ok"], report["violations"]
    for service in ("assembly", "quality", "inventory", "telemetry"):
        warnings = factory[service].output().count("dead-lettered")
        assert warnings == sum(n for (_, s), n in expected.items() if s == service), service


def test_broker_paused_for_30_seconds_everything_recovers(own_broker: EmbeddedBroker) -> None:
    settings = _setup(own_broker.bootstrap_servers)
    factory = Factory(own_broker.bootstrap_servers, speed="600")
    factory.start()
    try:
        assert wait_for(lambda: _count(settings, "quality-control") > 3, 40)
        before = _count(settings, "component-production")
        own_broker.pause()
        time.sleep(30)
        own_broker.resume()
        assert wait_for(lambda: _count(settings, "component-production") > before + 50, 60)
        assert wait_for(lambda: _count(settings, "quality-control") > 10, 60)
        time.sleep(3)
        factory.drain(timeout=120)
    finally:
        own_broker.resume()
        factory.stop()
    components_log = factory["components"].output()
    sent = int(components_log.split("Component production stopped: ")[1].split(" ")[0])
    report = audit(own_broker.bootstrap_servers)
    _report("broker pause", "SIGSTOP 30 s, SIGCONT", report)
    assert report["ok"], report["violations"]
    assert report["counts"]["components_produced"] == sent, "every component sent reached the topic"
    assert "undelivered" not in components_log
    noticed = [
        name
        for name, s in factory.services.items()
        if "has not acknowledged anything" in s.output()
    ]
    assert "components" in noticed and "telemetry" in noticed, noticed
    assert all(s.starts == 1 for s in factory.services.values()), "nobody needed a restart"


def _exact_ends(settings: KafkaSettings, topic: str) -> dict[int, int]:
    reader = TopicReader(settings, [topic])
    ends = {tp.partition: 0 for tp in reader.partitions}
    try:
        while not reader.at_end():
            for message in reader.read():
                ends[message.partition()] = message.offset() + 1
    finally:
        reader.close()
    return ends


def _lag(settings: KafkaSettings, group: str, topics: list[str]) -> int:
    consumer = Consumer({"bootstrap.servers": settings.bootstrap_servers, "group.id": group})
    try:
        total = 0
        for topic in topics:
            ends = _exact_ends(settings, topic)
            committed = consumer.committed([TopicPartition(topic, p) for p in ends], timeout=10)
            for tp in committed:
                total += ends[tp.partition] - max(tp.offset, 0)
        return total
    finally:
        consumer.close()


def test_graceful_stop_of_each_service_within_5_seconds(own_broker: EmbeddedBroker) -> None:
    settings = _setup(own_broker.bootstrap_servers)
    factory = Factory(own_broker.bootstrap_servers, speed="600")
    factory.start()
    timings: dict[str, float] = {}
    try:
        assert wait_for(lambda: _count(settings, "quality-control") > 3, 40)
        for name in (*PRODUCERS, *CONSUMERS):
            if name in CONSUMERS:
                time.sleep(2)  # let it consume what its upstream wrote before stopping
            started = time.monotonic()
            factory[name].signal(signal.SIGTERM)
            assert factory[name].wait(10) == 0, factory[name].output()[-2000:]
            timings[name] = time.monotonic() - started
    finally:
        factory.stop()
    print(
        f"\n[graceful stop] seconds to exit after SIGTERM: { {k: round(v, 2) for k, v in timings.items()} }"
    )
    assert max(timings.values()) < 5.0, timings
    assert _lag(settings, "quality-control", ["widget-assembly"]) == 0
    assert (
        _lag(settings, "inventory", ["component-production", "widget-assembly", "quality-control"])
        == 0
    )
    report = audit(own_broker.bootstrap_servers)
    _report("graceful stop", "SIGTERM to each service in pipeline order", report)
    # assembly stopped with builds in progress: their components are in stock, none lost
    assert report["ok"], report["violations"]


def test_a_broker_that_never_returns_still_lets_services_exit(own_broker: EmbeddedBroker) -> None:
    settings = _setup(own_broker.bootstrap_servers)
    factory = Factory(own_broker.bootstrap_servers, speed="600")
    factory.start()
    try:
        assert wait_for(lambda: _count(settings, "inventory-updates") > 3, 40)
        own_broker.pause()
        time.sleep(12)
        started = time.monotonic()
        for service in factory.services.values():
            service.signal(signal.SIGINT)
        codes = {name: s.wait(15) for name, s in factory.services.items()}
        elapsed = time.monotonic() - started
    finally:
        own_broker.resume()
        factory.stop()
    print(f"\n[broker gone] all services exited {elapsed:.1f} s after Ctrl-C: {codes}")
    assert elapsed < 8, elapsed
    assert set(codes.values()) == {0}
    said = [n for n, s in factory.services.items() if "has not acknowledged anything" in s.output()]
    assert "components" in said and "telemetry" in said
