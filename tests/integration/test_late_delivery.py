"""Late and out-of-order delivery on purpose: records sent late by the producers' edge
gateways change nothing downstream once every consumer allows for the delay.

Two lockstep runs of one seed and start: one with ``--late-fraction 0.2 --max-delay 5m``
and one with ``--max-delay 5m`` alone (nothing late; the same analytics lateness bound
of 5 minutes). The delayed run's telemetry and components really arrive out of order,
its answer key says which were late, and everything made from them - widgets, quality
checks, the inventory ledger and the analytics windows on ``factory-metrics`` - is
identical, byte for byte.

The compared runs take only the opening orders (no random ones): a random order's ids
come from the generator that also numbers the widgets, drawn as the order publisher
runs ahead of the stations, so in some runs widget ids depend on timing, with or without
late delivery (seed 11, 2 h: 2 runs in 14 on a loaded machine). Left out, the opening
orders still give 2 hours of work, and every run of the seed is the same.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from pathlib import Path

from tests.conftest import run_drained
from widget_factory.kafka_io.broker import EmbeddedBroker
from widget_factory.kafka_io.reader import read_to_end
from widget_factory.kafka_io.settings import KafkaSettings
from widget_factory.kafka_io.topics import (
    COMPONENT_PRODUCTION,
    FACTORY_GROUND_TRUTH,
    FACTORY_METRICS,
    INVENTORY_UPDATES,
    MACHINE_TELEMETRY,
    QUALITY_CONTROL,
    WIDGET_ASSEMBLY,
)
from widget_factory.schemas import DelayTruth, decode

START = "2026-01-01T00:00:00+00:00"
SAME = (WIDGET_ASSEMBLY, QUALITY_CONTROL, INVENTORY_UPDATES, FACTORY_METRICS)
DELAYED = (MACHINE_TELEMETRY, COMPONENT_PRODUCTION)


def _topics(bootstrap: str) -> dict[str, dict[int, list[tuple[int, bytes, bytes]]]]:
    """Per topic, per partition: (timestamp, key, value) in offset order."""
    settings = KafkaSettings(bootstrap, source="flag")
    topics: dict[str, dict[int, list[tuple[int, bytes, bytes]]]] = {}
    for topic in (*SAME, *DELAYED, FACTORY_GROUND_TRUTH):
        partitions: dict[int, list[tuple[int, bytes, bytes]]] = defaultdict(list)
        for m in read_to_end(settings, [topic]):
            partitions[int(m.partition() or 0)].append(
                (m.timestamp()[1], m.key() or b"", m.value() or b"")
            )
        topics[topic] = dict(partitions)
    return topics


FACTORY = Path(__file__).resolve().parents[2] / "widget_factory" / "factory.toml"


def _opening_orders_only(folder: Path) -> str:
    """The reference factory without random orders (see the module docstring)."""
    text = FACTORY.read_text(encoding="utf-8")
    assert "\norder_interval_s = 600 " in text
    path = folder / "opening-orders-only.toml"
    path.write_text(text.replace("\norder_interval_s = 600 ", "\norder_interval_s = 1e9 "))
    return str(path)


def _run(*late: str) -> dict[str, dict[int, list[tuple[int, bytes, bytes]]]]:
    with EmbeddedBroker() as broker:
        run_drained(
            broker.bootstrap_servers,
            duration="2h",
            seed=11,
            extra=("--start", START, "--no-dashboard", *late),
        )
        return _topics(broker.bootstrap_servers)


def _out_of_order(partitions: dict[int, list[tuple[int, bytes, bytes]]]) -> int:
    """Records whose timestamp (their event time) is earlier than one sent before them."""
    count = 0
    for records in partitions.values():
        newest = -1
        for timestamp, _key, _value in records:
            if timestamp < newest:
                count += 1
            newest = max(newest, timestamp)
    return count


def test_late_records_leave_every_window_as_it_was(tmp_path: Path) -> None:
    config = ("--config", _opening_orders_only(tmp_path))
    on_time = _run(*config, "--max-delay", "5m")
    late = _run(*config, "--late-fraction", "0.2", "--max-delay", "5m")

    for topic in DELAYED:
        # the same records, now out of order
        assert _out_of_order(on_time[topic]) == 0, topic
        assert _out_of_order(late[topic]) > 0, topic
        assert sorted(r for p in late[topic].values() for r in p) == sorted(
            r for p in on_time[topic].values() for r in p
        ), topic

    truths = [decode(value) for p in late[FACTORY_GROUND_TRUTH].values() for _t, _k, value in p]
    outages = [t for t in truths if isinstance(t, DelayTruth)]
    assert {o.topic for o in outages} == set(DELAYED)
    assert all(0 < o.max_delay_s < 300 for o in outages)
    held = sum(o.records_delayed for o in outages if o.topic == MACHINE_TELEMETRY)
    reports = sum(len(p) for p in late[MACHINE_TELEMETRY].values())
    assert 0.1 < held / reports < 0.3, (held, reports)
    assert not any(
        isinstance(decode(v), DelayTruth)
        for p in on_time[FACTORY_GROUND_TRUTH].values()
        for _t, _k, v in p
    )

    assert sum(len(p) for p in late[FACTORY_METRICS].values()) > 100
    for topic in SAME:
        assert late[topic] == on_time[topic], topic  # partitions, order, bytes


def test_each_delay_is_as_the_answer_key_says() -> None:
    """Every telemetry report sent behind a newer one of its machine falls inside an
    outage the answer key lists for that machine."""
    late = _run("--late-fraction", "0.3", "--max-delay", "2m")
    outages = defaultdict(list)
    for p in late[FACTORY_GROUND_TRUTH].values():
        for _t, _k, value in p:
            record = decode(value)
            if isinstance(record, DelayTruth) and record.topic == MACHINE_TELEMETRY:
                outages[record.target_id].append(
                    (record.first_event_at.timestamp(), record.last_event_at.timestamp())
                )
    assert outages
    checked = 0
    for records in late[MACHINE_TELEMETRY].values():
        newest: dict[bytes, int] = {}
        for timestamp, key, _value in records:
            if timestamp < newest.get(key, -1):
                at = timestamp / 1000
                machine = key.decode()
                assert any(
                    first - 0.001 <= at <= last + 0.001 for first, last in outages[machine]
                ), (
                    machine,
                    datetime.fromtimestamp(at),
                )
                checked += 1
            newest[key] = max(newest.get(key, -1), timestamp)
    assert checked > 0
