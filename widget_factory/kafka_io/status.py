"""Machine status, shared through Kafka: follow ``machine-telemetry`` without a group.

Production and assembly read every telemetry partition from a little before its end,
so they learn each machine's latest status at start and every change after it. A
broken machine then really stops its output. No group, no commits: followers never
affect the topic's consumers.
"""

from __future__ import annotations

import logging
import uuid

from confluent_kafka import Consumer, KafkaException, TopicPartition

from widget_factory.kafka_io.client import BrokerHealth
from widget_factory.kafka_io.settings import KafkaSettings
from widget_factory.kafka_io.topics import MACHINE_TELEMETRY
from widget_factory.schemas import MachineStatus, MachineTelemetry, SchemaError, decode_as

__all__ = ["StatusFollower", "StatusUpdate"]

log = logging.getLogger(__name__)

StatusUpdate = tuple[str, MachineStatus, float]
"""(machine id, status, simulated time of the report)."""

_REWIND = 64
"""Records re-read per partition at start: enough to hold every machine's latest report
(ListOffsets may under-report the end on some brokers; starting earlier is harmless)."""


class StatusFollower:
    """``whole_history``: read every partition from its beginning, not from a little
    before its end (component production needs every report of its run, in order)."""

    def __init__(
        self,
        settings: KafkaSettings,
        *,
        client_id: str,
        health: BrokerHealth,
        whole_history: bool = False,
    ) -> None:
        self._whole_history = whole_history
        config = settings.consumer_config(
            f"widget-factory-status-{uuid.uuid4().hex[:8]}",
            **{"client.id": client_id, "enable.partition.eof": False},
        )
        config["error_cb"] = health.on_error
        self._consumer = Consumer(config)
        self._assigned = False
        self.latest: dict[str, MachineStatus] = {}

    def _assign(self) -> None:
        metadata = self._consumer.list_topics(MACHINE_TELEMETRY, timeout=5)
        topic = metadata.topics.get(MACHINE_TELEMETRY)
        if topic is None or topic.error is not None:
            return
        partitions = []
        for partition in topic.partitions:
            low, high = self._consumer.get_watermark_offsets(
                TopicPartition(MACHINE_TELEMETRY, partition), timeout=5
            )
            offset = low if self._whole_history else max(low, high - _REWIND)
            partitions.append(TopicPartition(MACHINE_TELEMETRY, partition, offset))
        self._consumer.assign(partitions)
        self._assigned = True

    def poll(self, max_records: int = 1000) -> list[StatusUpdate]:
        """Status reports that arrived since the last call (never blocks long)."""
        if not self._assigned:
            try:
                self._assign()
            except KafkaException as exc:
                log.debug("telemetry not readable yet: %s", exc)
                return []
            if not self._assigned:
                return []
        updates: list[StatusUpdate] = []
        for message in self._consumer.consume(max_records, 0):
            if message.error() is not None:
                continue
            try:
                report = decode_as(message.value() or b"", MachineTelemetry)
            except SchemaError:
                continue  # the telemetry topic's own consumers dead-letter it
            self.latest[report.machine_id] = report.status
            updates.append((report.machine_id, report.status, report.timestamp.timestamp()))
        return updates

    def close(self) -> None:
        self._consumer.close()
