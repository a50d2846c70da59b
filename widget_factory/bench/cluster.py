"""A clean cluster for each bench phase.

With no broker given, every phase gets a fresh embedded broker (it starts in
milliseconds and keeps everything in memory, so a phase's records are freed with it).
With a broker given, the phases share it: the bench deletes the factory's topics and
consumer groups and creates them afresh before each phase, so every factory run and its
audit see only their own records. It refuses to do so on a cluster whose factory topics
already hold records unless told it may (``--reset``).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator

from confluent_kafka import KafkaException, TopicPartition

from widget_factory.errors import UsageError
from widget_factory.kafka_io.broker import EmbeddedBroker
from widget_factory.kafka_io.lag import FACTORY_GROUPS
from widget_factory.kafka_io.settings import KafkaSettings
from widget_factory.kafka_io.topics import TOPICS, connect_admin, create_topics

__all__ = ["BenchCluster", "reset_factory"]

log = logging.getLogger(__name__)


def _records_present(settings: KafkaSettings) -> list[str]:
    """Factory topics that hold records (ends from ListOffsets: approximate, but never 0
    for a topic with records)."""
    from confluent_kafka import Consumer

    admin, metadata = connect_admin(settings)
    consumer = Consumer(settings.consumer_config(None, **{"enable.partition.eof": False}))
    try:
        busy = []
        for spec in TOPICS:
            topic = metadata.topics.get(spec.name)
            if topic is None or topic.error is not None:
                continue
            for partition in topic.partitions:
                _low, high = consumer.get_watermark_offsets(
                    TopicPartition(spec.name, partition), timeout=5
                )
                if high > 0:
                    busy.append(spec.name)
                    break
        return busy
    finally:
        consumer.close()


def reset_factory(settings: KafkaSettings, timeout: float = 60.0) -> None:
    """Delete the factory's topics and consumer groups, then create the topics again."""
    admin, metadata = connect_admin(settings)
    existing = [spec.name for spec in TOPICS if spec.name in metadata.topics]
    if existing:
        for future in admin.delete_topics(existing, operation_timeout=30).values():
            with contextlib.suppress(KafkaException):
                future.result()
    groups = list(FACTORY_GROUPS)
    with contextlib.suppress(KafkaException, ValueError):
        for future in admin.delete_consumer_groups(groups, request_timeout=30).values():
            with contextlib.suppress(KafkaException):
                future.result()
    deadline = time.monotonic() + timeout
    while True:  # a deleted topic may take a moment to go (Apache Kafka deletes lazily)
        outcomes = create_topics(settings)
        if all(outcome != "failed" for _name, outcome, _detail in outcomes):
            return
        if time.monotonic() > deadline:
            failed = ", ".join(f"{n} ({d})" for n, o, d in outcomes if o == "failed")
            raise UsageError(f"could not recreate the factory's topics: {failed}")
        time.sleep(0.5)


class BenchCluster:
    """Hands out settings for a clean cluster, phase by phase (see the module docstring)."""

    def __init__(self, given: KafkaSettings | None, *, reset: bool = False) -> None:
        self.given = given
        self.broker_pid: int | None = None
        """The embedded broker's process during a phase (None with a given broker)."""
        if given is not None:
            busy = _records_present(given)
            if busy and not reset:
                raise UsageError(
                    f"{given.bootstrap_servers} already holds factory records (in "
                    f"{', '.join(busy)}); the bench deletes and recreates the factory's "
                    "topics and groups before each phase: pass --reset to allow that, or "
                    "leave out --bootstrap-servers to use a fresh embedded broker"
                )

    @property
    def description(self) -> str:
        if self.given is None:
            return "a fresh embedded broker (tansu, in memory) per phase, on this machine"
        return f"Kafka at {self.given.bootstrap_servers} (factory topics reset before each phase)"

    @contextlib.contextmanager
    def phase(self) -> Iterator[KafkaSettings]:
        """Settings for a cluster holding the factory's topics and nothing else."""
        if self.given is not None:
            reset_factory(self.given)
            yield self.given
            return
        with EmbeddedBroker() as broker:
            settings = KafkaSettings(broker.bootstrap_servers, source="flag")
            create_topics(settings)
            self.broker_pid = broker.pid
            try:
                yield settings
            finally:
                self.broker_pid = None
