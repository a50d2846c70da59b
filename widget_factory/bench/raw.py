"""The broker's own limits, measured on the same broker as the factory.

The ceiling: a bare producer sending pre-serialized records, and the walkthrough's floor;
and the latency floor: how long one bare hop through the broker takes at the pace and
rate of the latency run.

``measure_raw`` uses confluent-kafka's ``Producer`` directly with the factory's producer
settings (``KafkaSettings.producer_config``: idempotence, acks=all, the same linger and
batch sizes), sending records of the size of a component event, keyed like them, with a
timestamp, to a topic of the bench's own with as many partitions as
``component-production``; no event is built, nothing is serialized. It calls
``produce()`` as the services do, with positional arguments
(``kafka_io.client.ANY_PARTITION``), so the ceiling and the services pay the same call. The rate counts
records acknowledged by the broker, over the wall time from the first send until the
last acknowledgement (``flush``).

``measure_blocking`` is the walkthrough's way: one send, then wait for its
acknowledgement, record after record.

``measure_bare_hop`` sends component-sized records at a steady rate with the factory's
producer settings at a given pace (``linger.ms``) and reads them back with one reader at
the same pace (``fetch.wait.max.ms``), both in the bench process: the time from each send
to its arrival is what the broker and the two clients cost a hop when no service does
any work. Every hop of the latency run contains at least one such hop.
"""

from __future__ import annotations

import contextlib
import random
import struct
import threading
import time
import uuid
from dataclasses import dataclass

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import NewTopic

from widget_factory.core.ids import IdSource
from widget_factory.core.production import ComponentProduction
from widget_factory.factory_config import default_config
from widget_factory.kafka_io.client import ANY_PARTITION
from widget_factory.kafka_io.settings import KafkaSettings
from widget_factory.kafka_io.topics import COMPONENT_PRODUCTION, TOPICS, connect_admin
from widget_factory.schemas import encode

__all__ = ["RawResult", "sample_records", "measure_raw", "measure_blocking", "measure_bare_hop"]

_SAMPLE = 1000
"""Distinct records cycled through by the raw producer."""


@dataclass(frozen=True)
class RawResult:
    records: int
    seconds: float
    record_bytes: int

    @property
    def per_s(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else 0.0


def sample_records(count: int = _SAMPLE) -> list[tuple[bytes, bytes, int]]:
    """``(key, value, timestamp ms)`` of real component events of the reference factory:
    raw sends exactly these bytes, so its records are the size of the factory's."""
    rng = random.Random(0)
    production = ComponentProduction(default_config(), rng, IdSource(rng), 1_767_225_600.0)
    events = []
    while len(events) < count:
        events += production.produce_until(production.next_time() + 3600, limit=count)
    return [
        (e.component_id.encode(), encode(e), int(e.produced_at.timestamp() * 1000))
        for e in events[:count]
    ]


@contextlib.contextmanager
def _scratch_topic(settings: KafkaSettings, prefix: str):  # type: ignore[no-untyped-def]
    """A topic of the bench's own, deleted afterwards (the broker frees its records)."""
    admin, _ = connect_admin(settings)
    name = f"widget-factory-bench-{prefix}-{uuid.uuid4().hex[:8]}"
    partitions = next(t.partitions for t in TOPICS if t.name == COMPONENT_PRODUCTION)
    admin.create_topics([NewTopic(name, partitions, 1)])[name].result(30)
    try:
        yield name
    finally:
        with contextlib.suppress(KafkaException):
            admin.delete_topics([name])[name].result(30)


def measure_raw(settings: KafkaSettings, seconds: float) -> RawResult:
    """Records per second a bare producer gets acknowledged (see the module docstring)."""
    records = sample_records()
    with _scratch_topic(settings, "raw") as topic:
        producer = Producer(settings.producer_config(**{"client.id": "bench-raw"}))
        produce = producer.produce
        poll = producer.poll
        sent = 0
        started = time.perf_counter()
        deadline = started + seconds
        while time.perf_counter() < deadline:
            for key, value, timestamp in records:
                while True:
                    try:
                        produce(topic, value, key, ANY_PARTITION, None, None, timestamp)
                        break
                    except BufferError:
                        poll(0.005)
            sent += len(records)
            poll(0)
        left = producer.flush(60)
        elapsed = time.perf_counter() - started
    size = sum(len(v) for _, v, _ in records) // len(records)
    return RawResult(sent - left, elapsed, size)


def measure_blocking(settings: KafkaSettings, seconds: float) -> RawResult:
    """The walkthrough's one blocking send per record: send, wait for the ack, repeat."""
    records = sample_records(200)
    with _scratch_topic(settings, "blocking") as topic:
        producer = Producer(settings.producer_config(**{"client.id": "bench-blocking"}))
        sent = 0
        started = time.perf_counter()
        deadline = started + seconds
        while time.perf_counter() < deadline:
            key, value, timestamp = records[sent % len(records)]
            producer.produce(topic, value, key, timestamp=timestamp)
            producer.flush(10)
            sent += 1
        elapsed = time.perf_counter() - started
    size = sum(len(v) for _, v, _ in records) // len(records)
    return RawResult(sent, elapsed, size)


_SENT_AT = "sent_at"
"""Header carrying the wall time of the send (a big-endian double)."""


def measure_bare_hop(
    settings: KafkaSettings, *, rate: float, pace_ms: int, seconds: float, skip_s: float = 1.0
) -> list[float]:
    """Seconds from send to arrival of each record of a steady stream (see the module
    docstring), those sent in the first ``skip_s`` seconds left out."""
    records = sample_records(200)
    arrivals: list[float] = []
    with _scratch_topic(settings, "hop") as topic:
        producer = Producer(
            settings.producer_config(**{"client.id": "bench-hop", "linger.ms": pace_ms})
        )
        reader = Consumer(
            settings.consumer_config(
                None, **{"client.id": "bench-hop-reader", "fetch.wait.max.ms": pace_ms}
            )
        )
        partitions = len(reader.list_topics(topic, timeout=30).topics[topic].partitions)
        reader.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
        # both clients connected and past their first requests (producer id, offsets)
        # before the clock starts: a bare hop, not a start-up
        producer.produce(topic, b"warm-up", b"warm-up")
        producer.flush(30)
        warm_until = time.monotonic() + 30
        while time.monotonic() < warm_until:
            message = reader.poll(0.1)
            if message is not None and message.error() is None:
                break
        sending, done = threading.Event(), threading.Event()
        sending.set()

        def read() -> None:
            while not done.is_set() and (sending.is_set() or len(arrivals) < sent):
                message = reader.poll(0.05)
                if message is None or message.error() is not None:
                    continue
                now = time.time()
                for name, value in message.headers() or ():
                    if name == _SENT_AT and value is not None:
                        arrivals.append(now - struct.unpack(">d", value)[0])

        sent = 0
        reading = threading.Thread(target=read, name="bench-hop-reader", daemon=True)
        reading.start()
        started = time.monotonic()
        try:
            while (elapsed := time.monotonic() - started) < seconds:
                due = int(elapsed * rate) + 1
                while sent < due:
                    key, value, _ = records[sent % len(records)]
                    producer.produce(
                        topic, value, key, headers=[(_SENT_AT, struct.pack(">d", time.time()))]
                    )
                    sent += 1
                producer.poll(0)
                time.sleep(max(0.0, (sent / rate) - (time.monotonic() - started)))
            producer.flush(30)
            sending.clear()
            reading.join(timeout=30)  # every record read, or 30 s
        finally:
            sending.clear()
            done.set()
            reading.join()
            reader.close()
    skipped = int(skip_s * rate)
    return arrivals[skipped:]
