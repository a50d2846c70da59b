"""Follow whole topics from the beginning, without joining a group, knowing how far each
partition has been read.

Analytics, the dashboard and the warehouse sink read every partition of their topics
(analytics recomputes from the retained history instead of restoring state) and need,
per partition, whether records are still waiting and (analytics) the newest event time
read, which the caller reports with ``observe``. "Waiting" compares the position with
the high watermark of the fetch responses (exact on every broker, unlike ListOffsets on
the embedded one).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Message, TopicPartition

from widget_factory.core.windows import PartitionProgress
from widget_factory.kafka_io.client import BrokerHealth
from widget_factory.kafka_io.offsets import OffsetTracker, commit
from widget_factory.kafka_io.settings import KafkaSettings

__all__ = ["TopicFollower"]

log = logging.getLogger(__name__)

_Key = tuple[str, int]


class TopicFollower:
    """Every partition of ``topics``, from the beginning, as they grow.

    ``start_offsets`` resumes partitions from given offsets (the rest start at the
    beginning). ``group_id`` is only used to publish progress (commits) so that lag tools show the
    follower; positions are never restored from it.
    """

    def __init__(
        self,
        settings: KafkaSettings,
        topics: Sequence[str],
        *,
        client_id: str,
        group_id: str | None = None,
        health: BrokerHealth | None = None,
        start_offsets: Mapping[tuple[str, int], int] | None = None,
    ) -> None:
        self.topics = list(topics)
        self._start = dict(start_offsets or {})
        self.health = health or BrokerHealth(client_id, settings.bootstrap_servers)
        overrides: dict[str, Any] = {"client.id": client_id, "enable.partition.eof": False}
        config = settings.consumer_config(
            group_id or f"widget-factory-follower-{uuid.uuid4().hex[:8]}", **overrides
        )
        config["error_cb"] = self.health.on_error
        self.consumer = Consumer(config)
        self._publish_progress = group_id is not None
        self.partitions: dict[_Key, TopicPartition] = {}
        self.next_offset: dict[_Key, int] = {}
        self.newest: dict[_Key, float] = {}
        self.last_record_at: dict[str, float] = {}
        self._tracker = OffsetTracker()
        self._last_assign_try = 0.0
        self.records = 0

    # --- assignment --------------------------------------------------------------------

    def _assign_new(self) -> None:
        """Assign partitions of our topics not assigned yet (topics may appear later)."""
        if len(self.partitions) and time.monotonic() - self._last_assign_try < 5.0:
            return
        self._last_assign_try = time.monotonic()
        try:
            metadata = self.consumer.list_topics(timeout=5)
        except KafkaException as exc:
            log.debug("metadata not available yet: %s", exc)
            return
        added = False
        for topic in self.topics:
            info = metadata.topics.get(topic)
            if info is None or info.error is not None:
                continue
            for partition in info.partitions:
                key = (topic, partition)
                if key not in self.partitions:
                    start = self._start.get(key, OFFSET_BEGINNING)
                    self.partitions[key] = TopicPartition(topic, partition, start)
                    if start >= 0:
                        self.next_offset[key] = start
                    added = True
        if added:
            self.consumer.assign(list(self.partitions.values()))

    def poll(self, max_records: int = 2000, timeout: float = 0.1) -> list[Message]:
        """Records that arrived since the last call (errors skipped, progress noted)."""
        self._assign_new()
        if not self.partitions:
            time.sleep(timeout)
            return []
        out: list[Message] = []
        now = time.monotonic()
        for message in self.consumer.consume(max_records, timeout):
            if message.error() is not None:
                continue
            topic, partition = str(message.topic()), int(message.partition() or 0)
            offset = int(message.offset() or 0)
            key = (topic, partition)
            self.next_offset[key] = offset + 1
            self._tracker.consumed(topic, partition, offset)
            self.last_record_at[topic] = now
            out.append(message)
        self.records += len(out)
        if out:
            self.health.on_traffic()
        return out

    # --- progress ----------------------------------------------------------------------

    def observe(self, message: Message, event_time: float) -> None:
        """Note the event time of a record read (the caller decoded it: record timestamps
        are not relied on, since a producer may not have set them)."""
        key = (str(message.topic()), int(message.partition() or 0))
        if event_time > self.newest.get(key, float("-inf")):
            self.newest[key] = event_time

    def high_watermark(self, topic: str, partition: int) -> int:
        """The partition's end from the last fetch response; -1 when none came yet."""
        tp = self.partitions.get((topic, partition))
        if tp is None:
            return -1
        _low, high = self.consumer.get_watermark_offsets(tp, cached=True)
        return int(high) if high >= 0 else -1

    def pending(self, topic: str, partition: int) -> bool:
        high = self.high_watermark(topic, partition)
        if high < 0:
            return True
        return self.next_offset.get((topic, partition), 0) < high

    def progress(self, topic: str) -> list[PartitionProgress]:
        return [
            PartitionProgress(self.newest.get(key), self.pending(*key))
            for key in self.partitions
            if key[0] == topic
        ]

    def assigned(self, topic: str) -> bool:
        return any(key[0] == topic for key in self.partitions)

    def caught_up(self, topic: str) -> bool:
        keys = [key for key in self.partitions if key[0] == topic]
        return bool(keys) and not any(self.pending(*key) for key in keys)

    def quiet(self, topic: str, idle_s: float) -> bool:
        """Read to its end, and no record for ``idle_s`` wall seconds."""
        last = self.last_record_at.get(topic)
        idle = last is None or time.monotonic() - last >= idle_s
        return idle and self.caught_up(topic)

    def lag(self, topic: str) -> int:
        total = 0
        for key in self.partitions:
            if key[0] == topic:
                high = self.high_watermark(*key)
                if high > 0:
                    total += max(0, high - self.next_offset.get(key, 0))
        return total

    def commit(self) -> None:
        """Publish progress under the group id (for lag tools), when one was given."""
        if self._publish_progress:
            commit(self.consumer, self._tracker)

    def close(self) -> None:
        try:
            self.commit()
        finally:
            self.consumer.close()
