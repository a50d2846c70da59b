"""Machine status, shared through Kafka: follow ``machine-telemetry`` without a group.

Production and assembly read every telemetry partition from a little before its end,
so they learn each machine's latest status at start and every change after it. A
broken machine then really stops its output. No group, no commits: followers never
affect the topic's consumers.

The services that follow telemetry consume it, so a report they cannot read is
dead-lettered by each of them (never skipped in silence). Records from before a
follower's start are re-read only to learn the latest statuses (a restart re-reads the
same ones): an unreadable one there is counted and logged, not dead-lettered again.
Walkthrough-shaped reports (naive times, no envelope) are read and counted in
``upgrades``.
"""

from __future__ import annotations

import logging
import uuid

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Message, TopicPartition

from widget_factory.compat import ReadUpgrades
from widget_factory.kafka_io.client import BrokerHealth
from widget_factory.kafka_io.dead_letters import DeadLetters
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

_PREFETCH = {"queued.max.messages.kbytes": 2_048, "fetch.max.bytes": 2 * 1024 * 1024}
"""What a follower prefetches, unless ``-X`` says otherwise: 2 MiB, some 5,000 reports,
against the 8 MiB of a service's main consumer. At unlimited speed telemetry outruns
every reader, so a follower's queue stays full: up to 6 MiB less prefetched telemetry
in assembly and in component production, which read status in time anyway."""


class StatusFollower:
    """``whole_history``: read every partition from its beginning, not from a little
    before its end (component production needs every report of its run, in order)."""

    def __init__(
        self,
        settings: KafkaSettings,
        *,
        client_id: str,
        health: BrokerHealth,
        dead_letters: DeadLetters | None = None,
        upgrades: ReadUpgrades | None = None,
        from_time: float | None = None,
        whole_history: bool = False,
    ) -> None:
        """``from_time`` (simulated epoch seconds): read every report from that time on,
        instead of the latest few (a lockstep run must see every change in order)."""
        prefetch = {k: v for k, v in _PREFETCH.items() if k not in settings.extra}
        config = settings.consumer_config(
            f"widget-factory-status-{uuid.uuid4().hex[:8]}",
            **{"client.id": client_id, "enable.partition.eof": False, **prefetch},
        )
        config["error_cb"] = health.on_error
        self._consumer = Consumer(config)
        self._assigned = False
        self._from_time = from_time
        self._whole_history = whole_history
        self.latest: dict[str, MachineStatus] = {}
        self._dead_letters = dead_letters
        self._upgrades = upgrades
        self._live_from: dict[int, int] = {}
        """Per partition, the end offset at start: records from there on are read live."""
        self.unreadable = 0
        """Unreadable reports re-read from before the start (not dead-lettered again)."""

    def _assign(self) -> None:
        metadata = self._consumer.list_topics(MACHINE_TELEMETRY, timeout=5)
        topic = metadata.topics.get(MACHINE_TELEMETRY)
        if topic is None or topic.error is not None:
            return
        if self._from_time is not None:
            wanted = [
                TopicPartition(MACHINE_TELEMETRY, p, int(self._from_time * 1000))
                for p in sorted(topic.partitions)
            ]
            found = self._consumer.offsets_for_times(wanted, timeout=5)
            # No record at or after the time yet (-1): from the beginning, not the end,
            # which would skip whatever is written before the first fetch.
            self._consumer.assign(
                [
                    TopicPartition(
                        tp.topic, tp.partition, tp.offset if tp.offset >= 0 else OFFSET_BEGINNING
                    )
                    for tp in found
                ]
            )
            self._assigned = True
            return
        partitions = []
        for partition in topic.partitions:
            low, high = self._consumer.get_watermark_offsets(
                TopicPartition(MACHINE_TELEMETRY, partition), timeout=5
            )
            offset = low if self._whole_history else max(low, high - _REWIND)
            partitions.append(TopicPartition(MACHINE_TELEMETRY, partition, offset))
            self._live_from[partition] = high
        self._consumer.assign(partitions)
        self._assigned = True

    def poll(self, max_records: int = 1000, timeout: float = 0.0) -> list[StatusUpdate]:
        """Status reports that arrived since the last call; with none there, wait up to
        ``timeout`` seconds for the first (it returns as soon as one comes)."""
        if not self._assigned:
            try:
                self._assign()
            except KafkaException as exc:
                log.debug("telemetry not readable yet: %s", exc)
                return []
            if not self._assigned:
                return []
        updates: list[StatusUpdate] = []
        messages = self._consumer.consume(max_records, 0)
        if not messages and timeout > 0:
            first = self._consumer.poll(timeout)  # (consume would wait out its timeout)
            if first is not None:
                messages = [first, *self._consumer.consume(max_records - 1, 0)]
        for message in messages:
            if message.error() is not None:
                continue
            try:
                report = decode_as(
                    message.value() or b"",
                    MachineTelemetry,
                    topic=MACHINE_TELEMETRY,
                    upgrades=self._upgrades,
                )
            except SchemaError as exc:
                self._unreadable(message, str(exc))
                continue
            self.latest[report.machine_id] = report.status
            updates.append((report.machine_id, report.status, report.timestamp.timestamp()))
        return updates

    def unread(self, timeout_s: float = 2.0) -> int | None:
        """Telemetry records written but not read yet, or None when the broker does not
        answer within ``timeout_s`` (paused, cut off): then silence proves nothing."""
        try:
            if not self._assigned:  # no telemetry topic yet: nothing to read, if it answers
                self._consumer.list_topics(MACHINE_TELEMETRY, timeout=timeout_s)
                return 0
            assignment = self._consumer.assignment()
            positions = {tp.partition: tp.offset for tp in self._consumer.position(assignment)}
            unread = 0
            for tp in assignment:
                low, high = self._consumer.get_watermark_offsets(
                    tp, timeout=timeout_s, cached=False
                )
                position = positions.get(tp.partition, -1)
                unread += max(0, high - (position if position >= 0 else low))
        except KafkaException:
            return None
        return unread

    def _unreadable(self, message: Message, error: str) -> None:
        partition, offset = int(message.partition() or 0), int(message.offset() or 0)
        if self._dead_letters is not None and offset >= self._live_from.get(partition, 0):
            self._dead_letters.route(message, error)
            return
        self.unreadable += 1
        log.warning(
            "unreadable telemetry %s[%d]@%d, read again from before this start (not "
            "dead-lettered again): %s",
            MACHINE_TELEMETRY,
            partition,
            offset,
            error,
        )

    def close(self) -> None:
        self._consumer.close()
