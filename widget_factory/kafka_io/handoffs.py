"""Handoffs between assembly processes: the internal topic ``assembly-handoffs``.

A scaled-out assembly process forwards each component or order that belongs to a
station of another process (its home, see :mod:`widget_factory.core.routing`) as the
original record's bytes, keyed by the home station's id, into that station's partition.
Each station process reads its own partition(s) by manual assignment - no group, so a
rebalance never moves a station's inbox - and drops records keyed for other stations
(with more stations than partitions, stations share one).

``Forwarder`` keeps every forwarded record until the broker has acknowledged it, and
sends again any that failed: :meth:`Forwarder.settle` returns only once all are stored.
The assembly service calls it before writing the changelog record that moves its input
positions past the forwarded records, so a crash leaves at worst a duplicate in an
inbox, never a record that is neither forwarded nor re-readable.

In virtual time (``--speed max``) each process also sends every other station a
*progress* record after its forwards: how far it has read each of its group partitions
(position, high watermark, event time reached). A station's clock then waits for every
component partition, wherever it is read, as the single process waits for its own; and
a draining station knows when every partition is read to its end with all its handoffs
already in its inbox (records to one partition keep their order).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Iterable

import msgspec
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, TopicPartition

from widget_factory.kafka_io.client import BrokerHealth, EventProducer
from widget_factory.kafka_io.settings import KafkaSettings
from widget_factory.kafka_io.topics import ASSEMBLY_HANDOFFS

__all__ = [
    "Forwarder",
    "HandoffInbox",
    "handoff_partitions",
    "Progress",
    "PROGRESS_HEADER",
    "encode_progress",
    "decode_progress",
    "is_progress",
]

log = logging.getLogger(__name__)

Headers = list[tuple[str, bytes]]

PROGRESS_HEADER = ("kind", b"progress")

Progress = dict[str, tuple[int, int, float | None]]
"""``topic:partition`` -> (next offset read, high watermark seen, event time reached)."""

_progress_encoder = msgspec.json.Encoder()
_progress_decoder = msgspec.json.Decoder(Progress)


def encode_progress(progress: Progress) -> bytes:
    return _progress_encoder.encode(progress)


def decode_progress(value: bytes) -> Progress:
    return _progress_decoder.decode(value)


def is_progress(message: Message) -> bool:
    return any(tuple(header) == PROGRESS_HEADER for header in message.headers() or [])


def handoff_partitions(consumer: Consumer, timeout: float = 10.0) -> int:
    """How many partitions ``assembly-handoffs`` has (every process must agree)."""
    deadline = time.monotonic() + timeout
    while True:
        topic = consumer.list_topics(ASSEMBLY_HANDOFFS, timeout=timeout).topics.get(
            ASSEMBLY_HANDOFFS
        )
        if topic is not None and topic.error is None and topic.partitions:
            return len(topic.partitions)
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"topic {ASSEMBLY_HANDOFFS} is missing; run `widget-factory setup` first"
            )
        time.sleep(0.2)


class Forwarder:
    """Sends records to other stations' inboxes; :meth:`settle` waits until all are stored."""

    def __init__(
        self,
        producer: EventProducer,
        partition_of: Callable[[str], int],
        on_stalled: Callable[[], bool] = lambda: False,
    ) -> None:
        self._producer = producer
        self._partition_of = partition_of
        self._on_stalled = on_stalled
        self._outstanding: dict[int, tuple[str, bytes | None, int, Headers]] = {}
        self._failed: list[int] = []
        self._seq = 0
        self.forwarded = 0
        self.by_station: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._outstanding)

    def forward(self, station_id: str, message: Message) -> None:
        """Queue ``message`` (a component or an order) for ``station_id``'s inbox."""
        topic, partition, offset = message.topic(), message.partition(), message.offset()
        headers: Headers = [
            ("source.topic", str(topic).encode()),
            ("source.partition", str(partition).encode()),
            ("source.offset", str(offset).encode()),
        ]
        ts_type, ts = message.timestamp()
        self._seq += 1
        self._outstanding[self._seq] = (
            station_id,
            message.value(),
            ts if ts_type and ts > 0 else 0,
            headers,
        )
        self._send(self._seq)
        self.forwarded += 1
        self.by_station[station_id] = self.by_station.get(station_id, 0) + 1

    def _send(self, seq: int) -> None:
        station_id, value, timestamp, headers = self._outstanding[seq]

        def on_delivery(error: KafkaError | None, message: Message) -> None:
            self._producer.count_delivery(error, message)
            if error is None:
                self._outstanding.pop(seq, None)
            else:
                self._failed.append(seq)

        self._producer.send_raw(
            ASSEMBLY_HANDOFFS,
            station_id.encode(),
            value,
            timestamp,
            partition=self._partition_of(station_id),
            headers=headers,
            on_delivery=on_delivery,
        )

    def send_progress(self, station_id: str, progress: Progress) -> None:
        """Tell ``station_id`` how far this process has read (after its forwards)."""
        self._producer.send_raw(
            ASSEMBLY_HANDOFFS,
            station_id.encode(),
            encode_progress(progress),
            partition=self._partition_of(station_id),
            headers=[PROGRESS_HEADER],
        )

    def settle(self) -> bool:
        """Wait until every forwarded record is acknowledged, re-sending failures.

        False when ``on_stalled`` (asked while waiting) says to give up: the caller must
        then not record the positions of what it forwarded."""
        while self._outstanding:
            self._producer.flush(1.0)
            failed, self._failed = self._failed, []
            for seq in failed:
                if seq in self._outstanding:
                    log.warning("re-sending a handoff the broker did not store")
                    self._send(seq)
            if self._outstanding and self._on_stalled():
                return False
        return True


class HandoffInbox:
    """Reads this process's stations' partitions of ``assembly-handoffs``.

    ``positions`` maps partition -> next offset to read, as the process's changelog
    recorded it; partitions without one are read from the beginning.
    """

    def __init__(
        self,
        settings: KafkaSettings,
        stations: Iterable[str],
        partition_of: Callable[[str, int], int],
        positions: dict[int, int],
        *,
        health: BrokerHealth,
        client_id: str = "assembly-handoffs",
    ) -> None:
        config = settings.consumer_config(
            f"widget-factory-handoffs-{uuid.uuid4().hex[:8]}",
            **{"client.id": client_id, "enable.partition.eof": False},
        )
        config["error_cb"] = health.on_error
        self._consumer = Consumer(config)
        self.partitions_total = handoff_partitions(self._consumer)
        self.stations = frozenset(s.encode() for s in stations)
        wanted = sorted({partition_of(s, self.partitions_total) for s in stations})
        self.assignment = [
            TopicPartition(ASSEMBLY_HANDOFFS, p, positions.get(p, OFFSET_BEGINNING)) for p in wanted
        ]
        self._consumer.assign(self.assignment)
        self._next: dict[int, int] = {p: o for p, o in positions.items() if p in wanted}
        self.skipped = 0

    @property
    def partitions(self) -> list[int]:
        return [tp.partition for tp in self.assignment]

    def poll(self, max_records: int = 1000) -> list[Message]:
        """New records of this process's partitions (for any station: the caller records
        every position, and checks :meth:`is_ours` before acting on one)."""
        records = []
        for message in self._consumer.consume(max_records, 0):
            if message.error() is not None:
                continue
            self._next[int(message.partition() or 0)] = int(message.offset() or 0) + 1
            records.append(message)
        return records

    def is_ours(self, message: Message) -> bool:
        ours = message.key() in self.stations
        if not ours:
            self.skipped += 1
        return ours

    def at_end(self) -> bool:
        """Every partition read up to its high watermark (from fetch responses)."""
        for tp in self.assignment:
            _low, high = self._consumer.get_watermark_offsets(tp, cached=True)
            if high < 0:
                return False
            if high > 0 and self._next.get(tp.partition, 0) < high:
                return False
        return True

    def close(self) -> None:
        self._consumer.close()
