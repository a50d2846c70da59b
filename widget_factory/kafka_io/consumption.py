"""Component consumption, for kanban: follow ``widget-assembly`` without a group.

The component producer counts its stock as what it made minus what widgets consumed
(core/kanban.py). It reads every ``widget-assembly`` partition from its end when it
starts (earlier widgets used components made before it) or, if the topic does not
exist yet, from its beginning once it does (everything in it came later). No group, no
commits: the topic's own consumers are never affected.
"""

from __future__ import annotations

import logging
import time
import uuid

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, TopicPartition

from widget_factory.kafka_io.client import BrokerHealth
from widget_factory.kafka_io.settings import KafkaSettings
from widget_factory.kafka_io.topics import WIDGET_ASSEMBLY
from widget_factory.schemas import SchemaError, WidgetAssembled, decode_as

__all__ = ["ConsumptionFollower", "AssemblyLead"]

log = logging.getLogger(__name__)


class ConsumptionFollower:
    def __init__(self, settings: KafkaSettings, *, client_id: str, health: BrokerHealth) -> None:
        config = settings.consumer_config(
            f"widget-factory-consumption-{uuid.uuid4().hex[:8]}",
            **{"client.id": client_id, "enable.partition.eof": False},
        )
        config["error_cb"] = health.on_error
        self._consumer = Consumer(config)
        self._assigned = False
        self._missing_at_start: bool | None = None
        self.latest = float("-inf")
        """Simulated time of the latest widget completion read (how far assembly got)."""

    def _assign(self) -> None:
        metadata = self._consumer.list_topics(WIDGET_ASSEMBLY, timeout=5)
        topic = metadata.topics.get(WIDGET_ASSEMBLY)
        missing = topic is None or topic.error is not None or not topic.partitions
        if self._missing_at_start is None:
            self._missing_at_start = missing
        if missing or topic is None:
            return
        partitions = []
        for partition in topic.partitions:
            if self._missing_at_start:
                offset = OFFSET_BEGINNING
            else:
                _low, offset = self._consumer.get_watermark_offsets(
                    TopicPartition(WIDGET_ASSEMBLY, partition), timeout=5
                )
            partitions.append(TopicPartition(WIDGET_ASSEMBLY, partition, offset))
        self._consumer.assign(partitions)
        self._assigned = True

    def start(self) -> None:
        """Note where the topic ends now (call before producing the first component)."""
        try:
            self._assign()
        except KafkaException as exc:
            log.debug("widget-assembly not readable yet: %s", exc)

    def poll(self, max_records: int = 1000) -> list[str]:
        """Ids of the components in widgets assembled since the last call."""
        if not self._assigned:
            self.start()
            if not self._assigned:
                return []
        consumed: list[str] = []
        for message in self._consumer.consume(max_records, 0):
            if message.error() is not None:
                continue
            try:
                widget = decode_as(message.value() or b"", WidgetAssembled)
            except SchemaError:
                continue  # the topic's own consumers dead-letter it
            consumed.extend(widget.component_ids)
            self.latest = max(self.latest, widget.assembly_completed_at.timestamp())
        return consumed

    def close(self) -> None:
        self._consumer.close()


class AssemblyLead:
    """Virtual time with kanban: how far a producer may run ahead of assembly.

    At ``--speed max`` nothing else ties telemetry to the rest of the factory: it would
    report a whole run in seconds, before the components service sends its first
    ``kanban_hold``, and never report ``idle``. It keeps within ``lead_s`` simulated
    seconds of the latest widget read (components keeps within half of that, so
    telemetry stays ahead of the production that waits for it); when no new widget comes
    for ``stall_s`` wall seconds (assembly starved or without orders) it moves on by
    another lead, as components does."""

    def __init__(
        self, follower: ConsumptionFollower, start: float, lead_s: float, stall_s: float
    ) -> None:
        self.follower = follower
        self._base = start
        self._lead_s = lead_s
        self._stall_s = stall_s
        self._stalled_since: float | None = None

    def bound(self, reached: float) -> float:
        """The simulated time not to pass, given the time ``reached`` so far."""
        self.follower.poll()
        bound = max(self.follower.latest, self._base) + self._lead_s
        if reached < bound:
            self._stalled_since = None
        elif self._stalled_since is None:
            self._stalled_since = time.monotonic()
        elif time.monotonic() - self._stalled_since > self._stall_s:
            self._base = reached  # assembly completes nothing: move on
            self._stalled_since = None
        return bound
