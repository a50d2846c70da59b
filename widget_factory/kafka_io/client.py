"""Producer and consumer helpers: batching, idempotence, broker health, clear broker errors.

Producers never block per record: ``send`` hands the record to librdkafka's queue and
serves delivery callbacks with ``poll(0)``; ``flush`` is for commit points and exit.
Consumers read in batches and never auto-commit: services commit what they have safely
recorded. Records a service cannot read go to
:mod:`widget_factory.kafka_io.dead_letters`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from widget_factory.core.fast_encode import EncodedRecord
from widget_factory.kafka_io.cluster_identity import ClusterWatch, is_suspicious
from widget_factory.kafka_io.log_folding import LogFolder
from widget_factory.kafka_io.settings import KafkaSettings
from widget_factory.schemas import Event, encode

__all__ = [
    "EventProducer",
    "make_consumer",
    "consume_available",
    "timestamp_ms",
    "BrokerHealth",
    "ANY_PARTITION",
]

log = logging.getLogger(__name__)

DeliveryCallback = Callable[[KafkaError | None, Message], None]

ANY_PARTITION = -1
"""librdkafka's ``RD_KAFKA_PARTITION_UA``: the configured partitioner chooses (by key).

The hot paths call ``Producer.produce`` with positional arguments only, in its order
``(topic, value, key, partition, callback, on_delivery, timestamp)`` (``on_delivery`` is
the alias of ``callback``, so None there): confluent-kafka parses keyword arguments
through a dict on every call, which made a third of the call's cost (1.55 µs against
0.96 µs per record, measured with librdkafka 2.16)."""


def timestamp_ms(event: Event) -> int:
    """The record timestamp of an event: its simulated time in epoch milliseconds."""
    return int(event.occurred_at.timestamp() * 1000)


class BrokerHealth:
    """Turns librdkafka's error callbacks into one clear log line per outage, not a flood.

    ``down_since`` is set while every broker is unreachable; services show it and keep
    going, since librdkafka reconnects by itself with backoff.
    """

    STALL_S = 10.0
    """Records unacknowledged this long mean the broker is not answering (paused, cut off)."""

    def __init__(self, name: str, bootstrap: str, *, cluster: ClusterWatch | None = None) -> None:
        self.name = name
        self.bootstrap = bootstrap
        self.down_since: float | None = None
        self.fatal: KafkaError | None = None
        self.unresponsive = False
        self.cluster = cluster
        """Watches the cluster id: :meth:`check` raises ``ClusterReplaced`` through it."""
        self._folder = LogFolder(log)
        self._fatal_checked = False
        self._unanswered = False
        """Set by :meth:`unanswered` until :meth:`answered`."""

    @classmethod
    def watching(cls, name: str, settings: KafkaSettings) -> BrokerHealth:
        """Health for a service's clients that also watches for a replaced cluster."""
        return cls(name, settings.bootstrap_servers, cluster=ClusterWatch(settings, name).start())

    @property
    def cluster_replaced(self) -> bool:
        """True once the watched cluster was seen replaced (:meth:`check` then raises)."""
        return self.cluster is not None and self.cluster.replaced

    def on_error(self, error: KafkaError) -> None:
        code = error.code()
        if self.cluster is not None and is_suspicious(error):
            self.cluster.suspect()
        if error.fatal():
            self.fatal = error
            self._folder.log(
                logging.ERROR, f"fatal:{code}", f"{self.name}: fatal Kafka error: {error.str()}"
            )
        elif code == KafkaError._ALL_BROKERS_DOWN:
            if self.down_since is None:
                self.down_since = time.monotonic()
                log.warning(
                    "%s: lost the Kafka broker at %s; retrying with backoff (Ctrl-C to stop)",
                    self.name,
                    self.bootstrap,
                )
        elif code in (KafkaError._TRANSPORT, KafkaError._TIMED_OUT, KafkaError._RESOLVE):
            log.debug("%s: %s", self.name, error.str())
        else:
            self._folder.log(logging.WARNING, str(code), f"{self.name}: Kafka: {error.str()}")

    def check(self, producer: EventProducer | None = None) -> None:
        """Say once when the broker stops acknowledging records, and when it is back;
        raise ``ClusterReplaced`` when the cluster is not the one the service started with."""
        self._folder.flush()
        if self.cluster is not None:
            if self.fatal is not None and not self._fatal_checked:
                self._fatal_checked = True
                self.cluster.settle(5.0)  # a fatal client error: is it a new cluster?
            self.cluster.check()
        if producer is None:
            return
        stalled = producer.stalled_for()
        if stalled >= self.STALL_S and not self.unresponsive:
            self._say_unresponsive(stalled, len(producer))
        elif stalled == 0.0 and self.unresponsive and not self._unanswered:
            self.unresponsive = False
            self.on_traffic()

    def unanswered(self, silent_s: float) -> None:
        """A query went unanswered after ``silent_s`` seconds without a record read or
        acknowledged: the same word as for a stalled producer, for a service that has
        nothing to send meanwhile (production waiting on the telemetry it cannot read).
        :meth:`answered` ends it."""
        if not self.unresponsive:
            self._unanswered = True
            self._say_unresponsive(silent_s, 0)

    def answered(self) -> None:
        """Records arrive again after :meth:`unanswered`."""
        if self._unanswered:
            self._unanswered = False
            self.unresponsive = False
            self.on_traffic()

    def _say_unresponsive(self, silent_s: float, waiting: int) -> None:
        self.unresponsive = True
        if self.down_since is None:
            self.down_since = time.monotonic() - silent_s
        log.warning(
            "%s: the Kafka broker at %s has not acknowledged anything for %.0f s "
            "(%d records waiting); still retrying (Ctrl-C to stop)",
            self.name,
            self.bootstrap,
            silent_s,
            waiting,
        )

    def on_traffic(self) -> None:
        """Called when records flow again: reports the end of an outage."""
        if self.down_since is not None:
            log.warning(
                "%s: broker at %s is back after %.0f s",
                self.name,
                self.bootstrap,
                time.monotonic() - self.down_since,
            )
            self.down_since = None


def _never() -> bool:
    return False


class EventProducer:
    """An idempotent producer of factory events; counts deliveries and failures.

    ``report_successes=False`` asks librdkafka to report failed deliveries only
    (``delivery.report.only.error``): a producer that needs no per-record
    acknowledgement saves a Python callback and a message object per record (a tenth of
    a generator's time). Per-record ``on_delivery`` callbacks then fire for failures
    only; :attr:`delivered` and :meth:`stalled_for` are derived from the queue instead.
    """

    def __init__(
        self,
        settings: KafkaSettings,
        *,
        client_id: str,
        health: BrokerHealth | None = None,
        report_successes: bool = True,
        stopping: Callable[[], bool] | None = None,
        **overrides: Any,
    ) -> None:
        self.health = health or BrokerHealth(client_id, settings.bootstrap_servers)
        self._stopping = stopping or _never
        """True once the service is asked to stop: a full queue then drops instead of
        waiting for a broker that takes nothing (see :meth:`_produce_when_room`)."""
        self.dropped = 0
        """Records not queued because the queue was full while the service stopped."""
        config = settings.producer_config(**{"client.id": client_id, **overrides})
        config["error_cb"] = self.health.on_error
        if not report_successes:
            config["delivery.report.only.error"] = True
        self._producer = Producer(config)
        self._report_successes = report_successes
        self.sent = 0
        self._delivered = 0
        self.failed = 0
        self.last_error: KafkaError | None = None
        self._last_ack = time.monotonic()
        self._waiting_since = self._last_ack
        self._settled = 0
        """Records no longer in the queue (delivered or failed), as last seen."""

    @property
    def delivered(self) -> int:
        """Records the broker acknowledged."""
        if self._report_successes:
            return self._delivered
        return max(0, self.sent - self.failed - self.dropped - len(self._producer))

    def _on_delivery(self, error: KafkaError | None, message: Message) -> None:
        self._last_ack = time.monotonic()
        if error is None:
            self._delivered += 1
            return
        self.failed += 1
        self.last_error = error
        if self.failed == 1 or self.failed % 1000 == 0:
            log.error(
                "%s: %d record(s) could not be delivered (last: %s to %s)",
                self.health.name,
                self.failed,
                error.str(),
                message.topic(),
            )

    def send(
        self,
        topic: str,
        event: Event,
        *,
        headers: Sequence[tuple[str, bytes]] | None = None,
        on_delivery: DeliveryCallback | None = None,
    ) -> None:
        """Queue ``event`` on ``topic``, keyed and timestamped as the contract says."""
        key = event.kafka_key.encode()
        if headers:
            self.send_raw(
                topic,
                key,
                encode(event),
                timestamp_ms(event),
                headers=headers,
                on_delivery=on_delivery,
            )
            return
        if not len(self._producer):
            self._waiting_since = time.monotonic()
        self._produce(
            topic, encode(event), key, timestamp_ms(event), on_delivery or self._on_delivery
        )

    def send_all(self, topic: str, events: Sequence[Event]) -> None:
        """Queue every event of ``events`` on ``topic``, as :meth:`send` would one by one.

        The fast path for a batch (the producers' hot loop): one record costs the
        encoding and librdkafka's ``produce``, with no per-record Python overhead beyond.
        """
        if not events:
            return
        if not len(self._producer):
            self._waiting_since = time.monotonic()
        produce = self._producer.produce
        callback = self._on_delivery
        moment: datetime | None = None
        timestamp = 0
        for event in events:
            value = encode(event)
            key = event.kafka_key.encode()
            when = event.occurred_at
            if when is not moment:  # records of one window share its time: computed once
                moment = when
                timestamp = int(when.timestamp() * 1000)
            try:
                produce(topic, value, key, ANY_PARTITION, callback, None, timestamp)
            except BufferError:
                self._produce_when_room(topic, value, key, timestamp, callback)
        self.sent += len(events)

    def send_encoded(self, topic: str, records: Sequence[EncodedRecord]) -> None:
        """:meth:`send_all` for records the core encoded itself (core/fast_encode.py:
        the same key, value and timestamp ``send_all`` would give their events)."""
        if not records:
            return
        if not len(self._producer):
            self._waiting_since = time.monotonic()
        produce = self._producer.produce
        callback = self._on_delivery
        for record in records:
            value, key, timestamp = record.value, record.key, record.timestamp_ms
            try:
                produce(topic, value, key, ANY_PARTITION, callback, None, timestamp)
            except BufferError:
                self._produce_when_room(topic, value, key, timestamp, callback)
        self.sent += len(records)

    def _produce(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None,
        timestamp: int,
        callback: DeliveryCallback,
    ) -> None:
        try:
            self._producer.produce(topic, value, key, ANY_PARTITION, callback, None, timestamp)
        except BufferError:
            self._produce_when_room(topic, value, key, timestamp, callback)
        self.sent += 1

    def _produce_when_room(
        self,
        topic: str,
        value: bytes | None,
        key: bytes | None,
        timestamp: int,
        callback: DeliveryCallback,
    ) -> None:
        """librdkafka's queue is full: serve delivery callbacks until the record fits.

        A broker that takes nothing (paused, cut off) never makes room. A service asked
        to stop then must not wait for it: the record is dropped and counted, as the
        records its stop cannot flush are (kafka_io/shutdown.py), and the service's loop
        gets back to its stop. Its inputs are not committed past what was acknowledged,
        so a restart makes them again."""
        while not self._stopping():
            self._producer.poll(0.05)
            self.health.check(self)  # a broker that stopped answering is said here too
            try:
                self._producer.produce(topic, value, key, ANY_PARTITION, callback, None, timestamp)
                return
            except BufferError:
                continue
        self.dropped += 1

    def send_raw(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        timestamp: int = 0,
        *,
        partition: int | None = None,
        headers: Sequence[tuple[str, bytes]] | None = None,
        on_delivery: DeliveryCallback | None = None,
    ) -> None:
        """Queue pre-serialized bytes; waits (serving callbacks) only when the queue is full."""
        callback = on_delivery or self._on_delivery
        if not len(self._producer):
            self._waiting_since = time.monotonic()
        if not headers and partition is None:
            self._produce(topic, value, key, timestamp, callback)
            return
        kwargs: dict[str, Any] = {"on_delivery": callback}
        if timestamp:
            kwargs["timestamp"] = timestamp
        if headers:
            kwargs["headers"] = list(headers)
        if partition is not None:
            kwargs["partition"] = partition
        while True:
            try:
                self._producer.produce(topic, value, key, **kwargs)
                break
            except BufferError:
                if self._stopping():  # as in _produce_when_room
                    self.dropped += 1
                    break
                self._producer.poll(0.05)
                self.health.check(self)
        self.sent += 1

    def stalled_for(self) -> float:
        """Seconds the oldest waiting record has gone unacknowledged (0 when none wait)."""
        waiting = len(self._producer)
        if not waiting:
            return 0.0
        if not self._report_successes:
            settled = self.sent - waiting  # only grows: records acknowledged or failed
            if settled != self._settled:
                self._settled = settled
                self._last_ack = time.monotonic()
        return time.monotonic() - max(self._last_ack, self._waiting_since)

    def count_delivery(self, error: KafkaError | None, message: Message) -> None:
        """The default delivery bookkeeping, for callers that wrap their own callback."""
        self._on_delivery(error, message)

    def poll(self, timeout: float = 0.0) -> int:
        return int(self._producer.poll(timeout))

    def flush(self, timeout: float = 10.0) -> int:
        """Wait for outstanding deliveries; the number still undelivered."""
        return int(self._producer.flush(timeout))

    def __len__(self) -> int:
        return len(self._producer)

    @property
    def raw(self) -> Producer:
        return self._producer


def make_consumer(
    settings: KafkaSettings,
    group_id: str,
    topics: Sequence[str],
    *,
    client_id: str,
    health: BrokerHealth | None = None,
    on_assign: Callable[[Consumer, list[TopicPartition]], None] | None = None,
    on_revoke: Callable[[Consumer, list[TopicPartition]], None] | None = None,
    on_lost: Callable[[Consumer, list[TopicPartition]], None] | None = None,
    **overrides: Any,
) -> Consumer:
    """A subscribed consumer in ``group_id`` that commits only when told to."""
    health = health or BrokerHealth(client_id, settings.bootstrap_servers)
    config = settings.consumer_config(group_id, **{"client.id": client_id, **overrides})
    config["error_cb"] = health.on_error
    consumer = Consumer(config)
    kwargs: dict[str, Any] = {}
    if on_assign:
        kwargs["on_assign"] = on_assign
    if on_revoke:
        kwargs["on_revoke"] = on_revoke
    if on_lost:
        # Partitions lost (the session expired, e.g. the broker stopped answering): no
        # commit is possible, and a synchronous one would wait for the broker forever.
        kwargs["on_lost"] = on_lost
    consumer.subscribe(list(topics), **kwargs)
    return consumer


def consume_available(consumer: Consumer, max_records: int, timeout: float) -> list[Message]:
    """The records ready now (up to ``max_records``), waiting up to ``timeout`` seconds only
    when there are none.

    ``Consumer.consume(n, timeout)`` returns early only once it has ``n`` records, so a
    loop calling it with a large batch waits the whole timeout whenever fewer records
    than that arrive: a steady trickle (1,000 records a second) pays up to ``timeout`` on
    every hop. Here, ``poll`` returns the first record as soon as it arrives and the rest
    come without waiting.
    """
    if max_records <= 0:
        return []
    messages = consumer.consume(max_records, 0)
    if messages or timeout <= 0:
        return messages
    first = consumer.poll(timeout)
    if first is None:
        return []
    return [first, *consumer.consume(max_records - 1, 0)] if max_records > 1 else [first]


def raise_on_error(message: Message) -> None:
    """Partition EOF is routine; anything else from the consumer is worth an exception."""
    error = message.error()
    if error is not None and error.code() != KafkaError._PARTITION_EOF:
        raise KafkaException(error)
