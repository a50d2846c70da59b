"""A producer whose queue is full does not hold a stopping service hostage.

No broker listens at the address below, so nothing is ever delivered and a queue of ten
records is full after ten sends: the state a paused or cut-off broker leaves a busy
producer in. Before a stop the producer waits for room (it would wait forever here, so
those tests stop it from the wait itself); once the service is stopping, it drops and
counts what does not fit.
"""

from __future__ import annotations

import logging
from typing import NamedTuple

import pytest

from widget_factory.kafka_io.client import EventProducer
from widget_factory.kafka_io.settings import KafkaSettings
from widget_factory.kafka_io.shutdown import Shutdown

NOWHERE = KafkaSettings(bootstrap_servers="127.0.0.1:1")
QUEUE = 10


class Record(NamedTuple):
    """An encoded record as the generators hand it to the producer (core/fast_encode.py)."""

    key: bytes
    value: bytes
    timestamp_ms: int


def _records(count: int) -> list[Record]:
    return [Record(f"k{n}".encode(), b"{}", 1_700_000_000_000 + n) for n in range(count)]


class StopAfter:
    """``stopping`` for a producer: False for the first ``waits`` questions, then True
    (the stop arrives while the producer waits for room)."""

    def __init__(self, waits: int) -> None:
        self.waits = waits
        self.asked = 0

    def __call__(self) -> bool:
        self.asked += 1
        return self.asked > self.waits


def _producer(stopping: StopAfter) -> EventProducer:
    return EventProducer(
        NOWHERE,
        client_id="test-stop",
        stopping=stopping,
        report_successes=False,
        **{"queue.buffering.max.messages": QUEUE, "linger.ms": 0},
    )


def test_a_full_queue_waits_for_room_until_the_stop_then_drops_the_rest() -> None:
    stopping = StopAfter(waits=3)
    producer = _producer(stopping)
    try:
        producer.send_encoded("machine-telemetry", _records(25))
        assert producer.dropped == 25 - QUEUE  # the first ten wait in the queue
        assert stopping.asked > stopping.waits  # it waited for room before the stop came
        assert producer.sent == 25
        assert producer.delivered == 0  # dropped and queued records are not delivered
    finally:
        producer.flush(0)


@pytest.mark.parametrize("way", ["send_raw with headers", "send_raw to a partition"])
def test_every_way_of_sending_drops_once_stopping(way: str) -> None:
    producer = _producer(StopAfter(waits=0))
    try:
        for n in range(QUEUE + 4):
            if way == "send_raw with headers":
                producer.send_raw(
                    "factory-deadletter", b"k", b"v", headers=[("n", str(n).encode())]
                )
            else:
                producer.send_raw("factory-deadletter", b"k", b"v", partition=0)
        assert producer.dropped == 4
    finally:
        producer.flush(0)


def test_a_stop_says_how_many_records_it_dropped(caplog: pytest.LogCaptureFixture) -> None:
    producer = _producer(StopAfter(waits=0))
    try:
        producer.send_encoded("machine-telemetry", _records(QUEUE + 7))
        with caplog.at_level(logging.WARNING):
            Shutdown("telemetry", budget=0.2).flush(producer)
    finally:
        producer.flush(0)
    said = [r.getMessage() for r in caplog.records if "dropped" in r.getMessage()]
    assert any("telemetry: 7 records dropped" in line for line in said), said
