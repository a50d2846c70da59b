"""The ceiling: a bare producer sending pre-serialized records, and the walkthrough's floor.

``measure_raw`` uses confluent-kafka's ``Producer`` directly with the factory's producer
settings (``KafkaSettings.producer_config``: idempotence, acks=all, the same linger and
batch sizes), sending records of the size of a component event, keyed like them, with a
timestamp, to a topic of the bench's own with as many partitions as
``component-production``; no event is built, nothing is serialized. The rate counts
records acknowledged by the broker, over the wall time from the first send until the
last acknowledgement (``flush``).

``measure_blocking`` is the walkthrough's way: one send, then wait for its
acknowledgement, record after record.
"""

from __future__ import annotations

import contextlib
import random
import time
import uuid
from dataclasses import dataclass

from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import NewTopic

from widget_factory.core.ids import IdSource
from widget_factory.core.production import ComponentProduction
from widget_factory.factory_config import default_config
from widget_factory.kafka_io.settings import KafkaSettings
from widget_factory.kafka_io.topics import COMPONENT_PRODUCTION, TOPICS, connect_admin
from widget_factory.schemas import encode

__all__ = ["RawResult", "sample_records", "measure_raw", "measure_blocking"]

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
                        produce(topic, value, key, timestamp=timestamp)
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
