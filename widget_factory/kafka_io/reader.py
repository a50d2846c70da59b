"""Bounded reads without a consumer group: read what a topic holds now, then stop.

Restores, audits and tests use it. Reading that keeps going as topics grow is
:mod:`widget_factory.kafka_io.follower`; the machine-status view is
:mod:`widget_factory.kafka_io.status`.

``read_to_end`` assigns every partition from the beginning and stops once each is read
up to the high watermark that the fetch responses report. That watermark is exact on
every broker (ListOffsets, by contrast, under-reports on the embedded one), so "the end"
here is the true end at the time of reading.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator, Sequence

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)

from widget_factory.errors import BrokerUnavailable
from widget_factory.kafka_io.settings import KafkaSettings

__all__ = ["read_to_end", "topic_partitions", "TopicReader"]


def topic_partitions(
    consumer: Consumer, topics: Sequence[str], timeout: float = 10.0
) -> list[TopicPartition]:
    """Every partition of ``topics`` (missing topics are skipped)."""
    metadata = consumer.list_topics(timeout=timeout)
    partitions: list[TopicPartition] = []
    for topic in topics:
        info = metadata.topics.get(topic)
        if info is None or info.error is not None:
            continue
        partitions.extend(TopicPartition(topic, p) for p in sorted(info.partitions))
    return partitions


class TopicReader:
    """A group-less reader of ``topics`` from the beginning (or given offsets)."""

    def __init__(
        self,
        settings: KafkaSettings,
        topics: Sequence[str],
        *,
        client_id: str = "widget-factory-reader",
    ) -> None:
        config = settings.consumer_config(
            f"widget-factory-reader-{uuid.uuid4().hex[:8]}",
            **{"client.id": client_id, "enable.partition.eof": True},
        )
        self.consumer = Consumer(config)
        try:
            self.partitions = topic_partitions(self.consumer, topics)
        except Exception as exc:  # noqa: BLE001 - librdkafka raises KafkaException subclasses
            self.consumer.close()
            raise BrokerUnavailable(
                f"cannot read {', '.join(topics)} from {settings.bootstrap_servers}: {exc}"
            ) from None
        for tp in self.partitions:
            tp.offset = OFFSET_BEGINNING
        self.consumer.assign(self.partitions)
        self._eof: set[tuple[str, int]] = set()

    def read(self, batch: int = 5000, timeout: float = 0.5) -> list[Message]:
        """The next records (partition EOF markers are absorbed, errors raised)."""
        records = []
        for message in self.consumer.consume(batch, timeout):
            error = message.error()
            if error is None:
                self._eof.discard((str(message.topic()), int(message.partition() or 0)))
                records.append(message)
            elif error.code() == KafkaError._PARTITION_EOF:
                self._eof.add((str(message.topic()), int(message.partition() or 0)))
        return records

    def at_end(self) -> bool:
        """Every partition has reported EOF at its high watermark since its last record."""
        return len(self._eof) >= len(self.partitions)

    def close(self) -> None:
        self.consumer.close()


_PATIENCE_S = 120.0
"""How long a bounded read waits for a broker that does not answer before giving up: a
paused broker comes back, and a service restarting at that moment (its restore reads)
must not die of it (drills pause the broker for 30 s on a busy machine)."""


def _open_reader(
    settings: KafkaSettings, topics: Sequence[str], client_id: str, patience: float
) -> TopicReader:
    """A :class:`TopicReader`, retried while the broker does not answer, up to ``patience``."""
    started = time.monotonic()
    while True:
        try:
            return TopicReader(settings, topics, client_id=client_id)
        except BrokerUnavailable:
            if time.monotonic() - started > patience:
                raise
            time.sleep(1.0)


def read_to_end(
    settings: KafkaSettings,
    topics: Sequence[str],
    *,
    idle_timeout: float = _PATIENCE_S,
    client_id: str = "widget-factory-reader",
) -> Iterator[Message]:
    """Every record of ``topics`` present now, partition by partition in offset order.

    A broker that does not answer (at the start or midway) is waited for, up to
    ``idle_timeout`` seconds without progress; then :class:`BrokerUnavailable`."""
    reader = _open_reader(settings, topics, client_id, idle_timeout)
    try:
        if not reader.partitions:
            return
        last_progress = time.monotonic()
        while not reader.at_end():
            records = reader.read()
            if records:
                last_progress = time.monotonic()
                yield from records
            elif time.monotonic() - last_progress > idle_timeout:
                raise BrokerUnavailable(
                    f"reading {', '.join(topics)} from {settings.bootstrap_servers} stalled for {idle_timeout:.0f} s"
                )
    finally:
        reader.close()


def _tails(consumer: Consumer, topics: Sequence[str], tail: int) -> list[TopicPartition]:
    """Where the last ``tail`` records of each non-empty partition of ``topics`` begin."""
    starts = []
    for tp in topic_partitions(consumer, topics):
        low, high = consumer.get_watermark_offsets(tp, timeout=10)
        if high > low:  # ListOffsets may under-report the end: reading from before it is fine
            starts.append(TopicPartition(tp.topic, tp.partition, max(low, high - tail)))
    return starts


def latest_event_time(
    settings: KafkaSettings, topics: Sequence[str], tail: int = 64
) -> float | None:
    """The latest record timestamp (simulated epoch seconds) in the last records of each
    partition of ``topics``, or None when they hold nothing.

    A factory restarted on a durable cluster continues its simulated time from here, so
    new events never land before the ones already written."""
    config = settings.consumer_config(
        f"widget-factory-reader-{uuid.uuid4().hex[:8]}", **{"enable.partition.eof": True}
    )
    consumer = Consumer(config)
    try:
        started = time.monotonic()
        while True:  # a broker that does not answer (paused) is waited for, up to a limit
            try:
                starts = _tails(consumer, topics, tail)
                break
            except KafkaException:
                if time.monotonic() - started > _PATIENCE_S:
                    raise
                time.sleep(1.0)
        if not starts:
            return None
        consumer.assign(starts)
        latest: float | None = None
        ended: set[tuple[str, int]] = set()
        deadline = time.monotonic() + 10
        while len(ended) < len(starts) and time.monotonic() < deadline:
            for message in consumer.consume(1000, 0.5):
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        ended.add((str(message.topic()), int(message.partition() or 0)))
                    continue
                kind, stamp = message.timestamp()
                if kind and stamp > 0:
                    seconds = stamp / 1000
                    latest = seconds if latest is None else max(latest, seconds)
        return latest
    finally:
        consumer.close()
