"""The tools against a real embedded broker with real data: tail, groups, lag, the
commands to a running factory, and the monitor."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from confluent_kafka import Consumer, TopicPartition

from tests.conftest import ROOT, run_cli, run_virtual
from tests.patience import ceiling
from tests.samples import T0
from widget_factory import schemas as s
from widget_factory.kafka_io.broker import EmbeddedBroker
from widget_factory.kafka_io.client import EventProducer
from widget_factory.kafka_io.reader import read_to_end
from widget_factory.kafka_io.settings import KafkaSettings
from widget_factory.kafka_io.topics import TopicSpec, create_topics

pytestmark = pytest.mark.integration


def _settings(broker: EmbeddedBroker) -> KafkaSettings:
    return KafkaSettings(broker.bootstrap_servers, source="flag")


def _order(n: int, quantity: int = 3) -> s.ProductionOrder:
    return s.ProductionOrder(
        event_id=str(uuid.uuid4()),
        order_id=f"ORDER_{n:08X}",
        widget_type="basic_widget",
        quantity=quantity,
        priority=2,
        created_at=T0,
    )


def _send(settings: KafkaSettings, topic: str, events: list[s.ProductionOrder]) -> None:
    producer = EventProducer(settings, client_id="test")
    for event in events:
        producer.send(topic, event)
    assert producer.flush(10) == 0 and producer.failed == 0


# --- tail --------------------------------------------------------------------------------


def test_tail_prints_readable_lines_raw_json_and_stops_where_asked(
    own_broker: EmbeddedBroker,
) -> None:
    settings = _settings(own_broker)
    create_topics(settings)
    orders = [_order(i) for i in range(5)]
    _send(settings, "production-orders", orders)
    producer = EventProducer(settings, client_id="test")
    producer.send_raw("production-orders", b"k", b"{not json", partition=0)
    assert producer.flush(10) == 0
    b = own_broker.bootstrap_servers

    everything = run_cli(
        "tail", "production-orders", "--from-beginning", "--exit", "--bootstrap-servers", b
    )
    assert everything.returncode == 0, everything.stderr
    lines = everything.stdout.splitlines()
    assert len(lines) == 6
    printed = sorted(line for line in lines if "  order  " in line)
    assert printed == sorted(
        f"2026-11-25 08:00:00  order      {o.order_id}: 3x basic_widget, priority 2" for o in orders
    )
    assert [line for line in lines if "unreadable record (not valid JSON" in line][0].startswith(
        "production-orders[0]@"
    )

    two = run_cli(
        "tail", "production-orders", "--from-beginning", "--max", "2", "--bootstrap-servers", b
    )
    assert two.returncode == 0 and len(two.stdout.splitlines()) == 2

    raw = run_cli(
        "tail",
        "production-orders",
        "--from-beginning",
        "--exit",
        "--json",
        "--bootstrap-servers",
        b,
    )
    values = raw.stdout.splitlines()
    assert sorted(values) == sorted([s.encode(o).decode() for o in orders] + ["{not json"])

    missing = run_cli("tail", "no-such-topic", "--bootstrap-servers", b)
    assert missing.returncode == 2
    assert "no topic 'no-such-topic'" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1


def test_tail_without_from_beginning_shows_only_new_events(own_broker: EmbeddedBroker) -> None:
    """Old records sit in one batch, where the embedded broker's ListOffsets under-reports
    the end: starting from "latest" would print some of them again."""
    settings = _settings(own_broker)
    create_topics(settings)
    old = [_order(i) for i in range(50)]
    _send(settings, "production-orders", old)
    tail = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "widget_factory",
            "tail",
            "production-orders",
            "--max",
            "3",
            "--bootstrap-servers",
            own_broker.bootstrap_servers,
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        new_ids = set()
        deadline = time.monotonic() + ceiling(30)
        n = 1000
        while tail.poll() is None and time.monotonic() < deadline:
            order = _order(n)
            new_ids.add(order.order_id)
            _send(settings, "production-orders", [order])
            n += 1
            time.sleep(0.3)
        out, err = tail.communicate(timeout=ceiling(10))
    finally:
        if tail.poll() is None:
            tail.kill()
    assert tail.returncode == 0, err
    printed = re.findall(r"ORDER_[0-9A-F]{8}", out)
    assert len(printed) == 3
    assert set(printed) <= new_ids


def test_tail_ordered_merges_the_partitions_by_event_time(own_broker: EmbeddedBroker) -> None:
    """Each partition holds every third minute, written one partition after the other:
    read as fetched they come partition by partition; --ordered prints them by time."""
    settings = _settings(own_broker)
    create_topics(settings)
    orders = [
        s.ProductionOrder(
            event_id=str(uuid.uuid4()),
            order_id=f"ORDER_{i:08X}",
            widget_type="basic_widget",
            quantity=1 + i,
            priority=2,
            created_at=T0 + timedelta(minutes=i),
        )
        for i in range(30)
    ]
    producer = EventProducer(settings, client_id="test")
    for partition in (2, 1, 0):
        for order in orders[partition::3]:
            producer.send_raw(
                "production-orders",
                order.kafka_key.encode(),
                s.encode(order),
                int(order.created_at.timestamp() * 1000),
                partition=partition,
            )
    assert producer.flush(10) == 0 and producer.failed == 0
    b = own_broker.bootstrap_servers
    in_time_order = [o.order_id for o in orders]

    merged = run_cli(
        "tail", "production-orders", "--from-beginning", "--ordered", "--exit",
        "--bootstrap-servers", b,
    )  # fmt: skip
    assert merged.returncode == 0, merged.stderr
    assert re.findall(r"ORDER_[0-9A-F]{8}", merged.stdout) == in_time_order
    times = [line[:19] for line in merged.stdout.splitlines()]
    assert times == sorted(times) and len(times) == 30

    first = run_cli(
        "tail", "production-orders", "--from-beginning", "--ordered", "--max", "7", "--json",
        "--bootstrap-servers", b,
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    assert [json.loads(line)["order_id"] for line in first.stdout.splitlines()] == (
        in_time_order[:7]
    )

    # without --ordered: the same records, each partition in its own order
    fetched = run_cli(
        "tail", "production-orders", "--from-beginning", "--exit", "--bootstrap-servers", b
    )
    ids = re.findall(r"ORDER_[0-9A-F]{8}", fetched.stdout)
    assert sorted(ids) == sorted(in_time_order)
    for partition in range(3):
        mine = [o.order_id for o in orders[partition::3]]
        assert [i for i in ids if i in mine] == mine


# --- groups and lag ----------------------------------------------------------------------


def _commit(bootstrap: str, group: str, offsets: dict[tuple[str, int], int]) -> None:
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False}
    )
    consumer.commit(
        offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()], asynchronous=False
    )
    consumer.close()


def test_lag_counts_exactly_what_was_produced_and_committed(own_broker: EmbeddedBroker) -> None:
    settings = _settings(own_broker)
    topic = "lag-test"
    create_topics(settings, topics=[TopicSpec(topic, 3, 3_600_000, "k", "v")])
    produced = {0: 40, 1: 35, 2: 25}
    producer = EventProducer(settings, client_id="test", **{"linger.ms": 50})
    for partition, count in produced.items():
        for i in range(count):  # batched: the embedded broker's ListOffsets under-reports these
            producer.send_raw(topic, f"{i}".encode(), b"{}", partition=partition)
    assert producer.flush(10) == 0
    b = own_broker.bootstrap_servers
    group = "lag-test-group"
    _commit(b, group, {(topic, 0): 30, (topic, 1): 35})

    result = run_cli("lag", "--group", group, "--json", "--bootstrap-servers", b)
    assert result.returncode == 0, result.stderr
    [report] = json.loads(result.stdout)
    rows = {p["partition"]: p for p in report["partitions"]}
    assert {p: (r["committed"], r["end"], r["lag"]) for p, r in rows.items()} == {
        0: (30, 40, 10),
        1: (35, 35, 0),
        2: (None, 25, 25),
    }
    assert all(r["end_exact"] for r in rows.values())
    assert report["total_lag"] == 35

    text = run_cli("lag", "--group", group, "--bootstrap-servers", b)
    assert re.search(r"lag-test\s+0\s+30\s+40\s+10", text.stdout), text.stdout
    assert re.search(r"TOTAL\s+35", text.stdout)
    assert "fetch high watermarks (exact)" in text.stdout

    _commit(b, group, {(topic, 0): 40, (topic, 2): 20})
    again = json.loads(run_cli("lag", "--group", group, "--json", "--bootstrap-servers", b).stdout)
    assert again[0]["total_lag"] == 5

    groups = run_cli("groups", "--json", "--bootstrap-servers", b)
    assert groups.returncode == 0, groups.stderr
    listed = {g["group"]: g for g in json.loads(groups.stdout)}
    assert listed[group]["topics"] == [topic]
    assert listed[group]["total_lag"] == 5

    unknown = run_cli("lag", "--group", "nobody-here", "--bootstrap-servers", b)
    assert unknown.returncode == 2
    assert "no consumer group 'nobody-here'" in unknown.stderr
    assert f"groups: {group}" in unknown.stderr


# --- commands to a running factory -------------------------------------------------------


def test_bad_commands_exit_2_with_one_line() -> None:
    cases = {
        ("order", "mega_widget", "5"): "unknown widget type 'mega_widget'",
        ("order", "basic_widget", "0"): "quantity 0: an order needs at least 1 unit",
        ("order", "basic_widget", "-4"): "quantity -4",
        ("order", "basic_widget", "5000"): "at most 1000 units per order",
        ("order", "basic_widget", "lots"): "expected a whole number of units",
        ("order", "basic", "2", "--priority", "500"): "priority 500",
        ("stop-machine", "FRAME_MACHINE_99"): "unknown machine 'FRAME_MACHINE_99'",
        ("anomaly", "@makes:unobtainium"): "no machine makes 'unobtainium'",
        ("start-machine", "pcb_assembler_01"): "did you mean PCB_ASSEMBLER_01?",
    }
    for args, message in cases.items():
        result = run_cli(*args, "--bootstrap-servers", "127.0.0.1:1")
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr, (args, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_order_and_machine_commands_reach_their_topics(own_broker: EmbeddedBroker) -> None:
    settings = _settings(own_broker)
    create_topics(settings)
    b = own_broker.bootstrap_servers
    ordered = run_cli("order", "premium", "7", "--priority", "4", "--bootstrap-servers", b)
    assert ordered.returncode == 0, ordered.stderr
    assert "Ordered 7x premium_widget as ORDER_" in ordered.stdout
    [record] = list(read_to_end(settings, ["production-orders"]))
    order = s.decode_as(record.value(), s.ProductionOrder)
    assert (order.widget_type, order.quantity, order.priority) == ("premium_widget", 7, 4)
    assert order.order_id in ordered.stdout
    assert abs((order.created_at - datetime.now(UTC)).total_seconds()) < 60  # no telemetry: now

    stopped = run_cli("stop-machine", "@makes:circuit_board", "--bootstrap-servers", b)
    assert stopped.returncode == 0, stopped.stderr
    commands = [
        s.decode_as(m.value(), s.FactoryCommand)
        for m in read_to_end(settings, ["factory-commands"])
    ]
    assert [(c.command, c.target_id) for c in commands] == [
        ("stop_machine", "PCB_ASSEMBLER_01"),
        ("stop_machine", "PCB_ASSEMBLER_02"),
    ]
    for command in commands:  # wall clock: the telemetry service ignores stale commands
        assert abs((command.issued_at - datetime.now(UTC)).total_seconds()) < 60


def test_machine_commands_take_effect_in_a_running_telemetry_service(
    own_broker: EmbeddedBroker,
) -> None:
    settings = _settings(own_broker)
    create_topics(settings)
    b = own_broker.bootstrap_servers
    telemetry = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "widget_factory",
            "telemetry",
            "--speed",
            "600",
            "--bootstrap-servers",
            b,
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        stop = run_cli("stop-machine", "FRAME_MACHINE_01", "--wait", "--bootstrap-servers", b)
        assert stop.returncode == 0, stop.stdout + stop.stderr
        assert "FRAME_MACHINE_01 is shutdown" in stop.stdout
        start = run_cli("start-machine", "FRAME_MACHINE_01", "--wait", "--bootstrap-servers", b)
        assert start.returncode == 0, start.stdout + start.stderr
        assert re.search(r"FRAME_MACHINE_01 is (idle|running)", start.stdout)
        anomaly = run_cli("anomaly", "PCB_ASSEMBLER_02", "--wait", "--bootstrap-servers", b)
        assert "PCB_ASSEMBLER_02 is error" in anomaly.stdout
        # The order's creation time is the factory's simulated time, from its telemetry.
        ordered = run_cli("order", "basic_widget", "1", "--bootstrap-servers", b)
        assert "created simulated " in ordered.stdout
    finally:
        telemetry.send_signal(signal.SIGTERM)
        telemetry.wait(ceiling(15))


# --- a whole run: monitor, groups and lag against the audit -------------------------------


@pytest.fixture(scope="module")
def finished_run() -> Iterator[tuple[EmbeddedBroker, dict]]:
    """A drained virtual six hours of the whole factory, and its audit."""
    with EmbeddedBroker() as broker:
        b = broker.bootstrap_servers
        run = run_virtual(b, duration="6h", seed=1, timeout=120)
        assert run.returncode == 0, run.stderr[-3000:]
        audit = run_cli("audit", "--json", "--bootstrap-servers", b)
        assert audit.returncode == 0, audit.stdout[-2000:]
        yield broker, json.loads(audit.stdout)


def test_monitor_once_shows_what_the_audit_counts(
    finished_run: tuple[EmbeddedBroker, dict],
) -> None:
    broker, audit = finished_run
    result = run_cli(
        "monitor",
        "--once",
        "--width",
        "200",
        "--bootstrap-servers",
        broker.bootstrap_servers,
        env={"NO_COLOR": "1"},
    )
    assert result.returncode == 0, result.stderr
    screen = result.stdout
    for machine in ("FRAME_MACHINE_01", "SENSOR_CALIB_01", "ASSEMBLY_STATION_C"):
        assert re.search(rf"{machine}\s+(running|idle|error|maintenance|shutdown)", screen)
    stock = audit["stock"]
    components = {
        "metal_frame",
        "plastic_housing",
        "circuit_board",
        "battery",
        "display_screen",
        "sensor",
        "motor",
    }
    for sku, units in stock.items():
        if sku in components:
            assert re.search(rf"│ {sku}\s+{units} │", screen), (sku, units)
    counts = audit["counts"]
    assert re.search(rf"all\s+\d+%\s+{counts['widgets_inspected']}\b", screen)
    assert re.search(r"quality-control\s+0\b", screen)
    assert re.search(rf"widget-assembly\s+0\.0\s+{counts['widgets_assembled']}\b", screen)


def test_live_monitor_refreshes_and_ends(finished_run: tuple[EmbeddedBroker, dict]) -> None:
    broker, _audit = finished_run
    result = run_cli(
        "monitor",
        "--duration",
        "2.5",
        "--interval",
        "0.5",
        "--width",
        "160",
        "--bootstrap-servers",
        broker.bootstrap_servers,
        env={"NO_COLOR": "1", "TERM": "dumb"},
    )
    assert result.returncode == 0, result.stderr
    assert "Consumer lag" in result.stdout and "ASSEMBLY_STATION_A" in result.stdout


def test_groups_and_lag_of_a_drained_factory(finished_run: tuple[EmbeddedBroker, dict]) -> None:
    broker, audit = finished_run
    b = broker.bootstrap_servers
    groups = run_cli("groups", "--bootstrap-servers", b)
    assert groups.returncode == 0, groups.stderr
    for group in ("assembly-stations", "quality-control", "inventory"):
        assert re.search(rf"^{group}\s+\S+\s+\S+\s+0\s", groups.stdout, re.MULTILINE), groups.stdout
    lag = run_cli("lag", "--group", "quality-control", "--json", "--bootstrap-servers", b)
    [report] = json.loads(lag.stdout)
    # Every widget assembled was inspected and committed: END sums to the widget count.
    assert sum(p["end"] for p in report["partitions"]) == audit["counts"]["widgets_assembled"]
    assert all(p["committed"] == p["end"] for p in report["partitions"])
    assert report["total_lag"] == 0


def test_environment_gives_the_bootstrap_servers(finished_run: tuple[EmbeddedBroker, dict]) -> None:
    broker, _audit = finished_run
    result = run_cli(
        "tail",
        "factory-alerts",
        "--from-beginning",
        "--exit",
        env={**os.environ, "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers},
    )
    assert result.returncode == 0, result.stderr
    assert "  alert      CRITICAL " in result.stdout  # the seeded six hours had breakdowns
