"""The foundation against a real embedded broker: topics, a round trip, clear failures."""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest
from confluent_kafka import Consumer
from confluent_kafka.admin import AdminClient

from tests.conftest import ROOT, run_cli
from tests.patience import ceiling
from tests.samples import sample_events
from widget_factory import schemas as s
from widget_factory.errors import BrokerLaunchError, BrokerUnavailable
from widget_factory.kafka_io.broker import EmbeddedBroker, free_port
from widget_factory.kafka_io.client import EventProducer, timestamp_ms
from widget_factory.kafka_io.settings import KafkaSettings
from widget_factory.kafka_io.topics import TOPICS, TopicSpec, create_topics

pytestmark = pytest.mark.integration


def test_setup_creates_every_topic_then_says_they_exist(own_broker: EmbeddedBroker) -> None:
    first = run_cli("setup", "--bootstrap-servers", own_broker.bootstrap_servers)
    assert first.returncode == 0, first.stderr
    assert f"{len(TOPICS)} created, 0 already existed" in first.stdout
    metadata = AdminClient({"bootstrap.servers": own_broker.bootstrap_servers}).list_topics(
        timeout=ceiling(10)
    )
    for spec in TOPICS:
        assert len(metadata.topics[spec.name].partitions) == spec.partitions, spec.name
    second = run_cli("setup", "--bootstrap-servers", own_broker.bootstrap_servers)
    assert second.returncode == 0, second.stderr
    assert f"0 created, {len(TOPICS)} already existed" in second.stdout


def test_partitions_flag_overrides_every_topic(own_broker: EmbeddedBroker) -> None:
    result = run_cli(
        "setup", "--partitions", "2", env={"KAFKA_BOOTSTRAP_SERVERS": own_broker.bootstrap_servers}
    )
    assert result.returncode == 0, result.stderr
    metadata = AdminClient({"bootstrap.servers": own_broker.bootstrap_servers}).list_topics(
        timeout=ceiling(10)
    )
    assert {len(metadata.topics[spec.name].partitions) for spec in TOPICS} == {2}


def test_replication_factor_larger_than_the_cluster_is_refused(kafka: KafkaSettings) -> None:
    result = run_cli(
        "setup", "--replication-factor", "3", "--bootstrap-servers", kafka.bootstrap_servers
    )
    assert result.returncode == 2
    assert "larger than the cluster" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_every_event_type_round_trips_through_the_broker(kafka: KafkaSettings, unique: str) -> None:
    topic = f"roundtrip-{unique}"
    create_topics(kafka, topics=[TopicSpec(topic, 3, 60_000, "key", "any")])
    events = sample_events()
    producer = EventProducer(kafka, client_id="test")
    for event in events:
        producer.send(topic, event)
    assert producer.flush(10) == 0
    assert producer.delivered == len(events) and producer.failed == 0

    consumer = Consumer(kafka.consumer_config(f"g-{unique}"))
    consumer.subscribe([topic])
    received = {}
    deadline = time.monotonic() + 30
    while len(received) < len(events) and time.monotonic() < deadline:
        for message in consumer.consume(100, 0.5):
            assert message.error() is None
            event = s.decode(message.value())
            received[event.event_id] = (event, message)
    consumer.close()
    assert len(received) == len(events)
    for event in events:
        got, message = received[event.event_id]
        assert got == event
        assert message.key() == event.kafka_key.encode()
        assert message.timestamp()[1] == timestamp_ms(event)


def test_unreachable_broker_fails_fast_with_one_line() -> None:
    port = free_port()  # nobody listens there
    started = time.monotonic()
    result = run_cli("setup", "--bootstrap-servers", f"127.0.0.1:{port}")
    assert time.monotonic() - started < ceiling(12)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert f"127.0.0.1:{port}" in lines[0] and "No available brokers" in lines[0]
    assert "Traceback" not in result.stderr


def test_unreachable_default_broker_says_how_to_start_one() -> None:
    port = free_port()
    settings = KafkaSettings(f"127.0.0.1:{port}", source="default")
    with pytest.raises(BrokerUnavailable, match="widget-factory broker"):
        create_topics(settings)


def test_broker_command_listens_and_stops_on_sigterm() -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "widget_factory", "broker", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=ROOT,
    )
    try:
        assert process.stdout is not None
        lines = []
        deadline = time.monotonic() + ceiling(15)
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            lines.append(line)
            if f"listening on 127.0.0.1:{port}" in line:
                break
        assert any(f"127.0.0.1:{port}" in line for line in lines), lines
        settings = KafkaSettings(f"127.0.0.1:{port}", source="flag")
        assert create_topics(settings, topics=[TOPICS[0]])[0][1] == "created"
        process.send_signal(signal.SIGTERM)
        assert process.wait(ceiling(10)) == 0
    finally:
        process.kill()


def test_broker_on_a_taken_port_is_a_clear_error(broker: EmbeddedBroker) -> None:
    with pytest.raises(BrokerLaunchError, match="already in use"):
        EmbeddedBroker(broker.port).start()
    result = run_cli("broker", "--port", str(broker.port))
    assert result.returncode == 2
    assert "already in use" in result.stderr


def test_setup_script_runs_setup(own_broker: EmbeddedBroker) -> None:
    result = subprocess.run(
        ["./setup_factory.sh", "--bootstrap-servers", own_broker.bootstrap_servers],
        cwd=ROOT / "widget_factory",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert f"{len(TOPICS)} created" in result.stdout
