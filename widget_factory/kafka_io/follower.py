"""Follow topics live without joining a consumer group, knowing how far each partition
has been read.

One reader for everything that keeps reading as topics grow: ``tail``, the monitor,
the scenario worker and the command confirmations (which start where they choose:
beginning, end, or the last N records of each partition), and analytics, the dashboard
and the warehouse sink (whole topics from the beginning, or from offsets they kept).
No group, no commits (unless a ``group_id`` is given to publish progress for lag
tools), so a follower never disturbs the factory's consumers.

Bounded reads that stop at the end are :mod:`widget_factory.kafka_io.reader`; the
machine-status view that production and assembly keep is
:mod:`widget_factory.kafka_io.status`.

"The end" is found from fetch high watermarks (see :mod:`widget_factory.kafka_io.lag`),
never from ``auto.offset.reset=latest``, which re-reads old records on the embedded
broker. While it reads, the fetch responses keep the high watermarks exact: whether
records are still waiting (:meth:`TopicFollower.pending`), every partition's end
(:meth:`TopicFollower.ends`) and lag come at almost no cost.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)

from widget_factory.core.windows import PartitionProgress
from widget_factory.errors import BrokerUnavailable
from widget_factory.kafka_io.client import BrokerHealth
from widget_factory.kafka_io.lag import EndOffsetProbe
from widget_factory.kafka_io.offsets import OffsetTracker, commit
from widget_factory.kafka_io.settings import KafkaSettings

__all__ = ["Start", "TopicFollower"]

log = logging.getLogger(__name__)

Key = tuple[str, int]

Start = Literal["beginning", "end"] | int
"""Where to start reading a topic: its beginning, its end, or this many records before
the end of each partition."""


class TopicFollower:
    """Every partition of ``topics``, from the beginning, as they grow.

    ``start_offsets`` resumes partitions from given offsets (the rest start at the
    beginning). Topics that do not exist yet are picked up when they appear.
    ``group_id`` is only used to publish progress (commits) so that lag tools show the
    follower; positions are never restored from it. :meth:`from_starts` follows from
    chosen starts instead.
    """

    def __init__(
        self,
        settings: KafkaSettings,
        topics: Sequence[str],
        *,
        client_id: str,
        group_id: str | None = None,
        health: BrokerHealth | None = None,
        start_offsets: Mapping[Key, int] | None = None,
    ) -> None:
        self._setup(
            settings,
            topics,
            client_id=client_id,
            group_id=group_id or f"widget-factory-follower-{uuid.uuid4().hex[:8]}",
            health=health or BrokerHealth(client_id, settings.bootstrap_servers),
            partition_eof=False,
        )
        self._start.update(start_offsets or {})
        self._publish_progress = group_id is not None

    @classmethod
    def from_starts(
        cls,
        settings: KafkaSettings,
        starts: Mapping[str, Start],
        *,
        client_id: str = "widget-factory-watch",
        missing_ok: bool = True,
    ) -> TopicFollower:
        """Follow the topics of ``starts``, each from its start, assigned now. Topics that
        do not exist are skipped (``missing_ok``) or raise :class:`BrokerUnavailable`."""
        topics = list(starts)
        probe = EndOffsetProbe(settings, client_id=client_id + "-probe")
        try:
            partitions = probe.partitions(topics)
            found = {tp.topic for tp in partitions}
            missing = [t for t in topics if t not in found]
            if missing and not missing_ok:
                raise BrokerUnavailable(
                    f"no topic {', '.join(missing)} on {settings.bootstrap_servers}"
                )
            ends = probe.end_offsets(partitions) if partitions else {}
        finally:
            probe.close()
        assignment = []
        for tp in partitions:
            start = starts[tp.topic]
            if start == "beginning":
                offset = OFFSET_BEGINNING
            else:
                end = ends[(tp.topic, tp.partition)]
                back = 0 if start == "end" else int(start)
                offset = max(end.low, end.high - back)
            assignment.append(TopicPartition(tp.topic, tp.partition, offset))
        follower = cls.__new__(cls)
        follower._setup(
            settings,
            topics,
            client_id=client_id,
            group_id=f"widget-factory-watch-{uuid.uuid4().hex[:8]}",
            health=None,
            partition_eof=True,
        )
        follower._fixed = True
        follower.targets = {key: end.high for key, end in ends.items() if end.high > end.low}
        for tp in assignment:
            follower._add(tp.topic, tp.partition, tp.offset)
        follower.consumer.assign(assignment)
        return follower

    def _setup(
        self,
        settings: KafkaSettings,
        topics: Sequence[str],
        *,
        client_id: str,
        group_id: str,
        health: BrokerHealth | None,
        partition_eof: bool,
    ) -> None:
        self.topics = list(topics)
        self._start: dict[Key, int] = {}
        self.health = health
        overrides: dict[str, Any] = {"client.id": client_id, "enable.partition.eof": partition_eof}
        config = settings.consumer_config(group_id, **overrides)
        if health is not None:
            config["error_cb"] = health.on_error
        self.consumer = Consumer(config)
        self._publish_progress = False
        self._fixed = False
        """Assigned once (``from_starts``): topics appearing later are not picked up."""
        self.partitions: dict[Key, TopicPartition] = {}
        self.next_offset: dict[Key, int] = {}
        self.start_offsets: dict[Key, int] = {}
        """Where reading started, for partitions that started at a known offset."""
        self.newest: dict[Key, float] = {}
        self.last_record_at: dict[str, float] = {}
        self.read_count: dict[str, int] = dict.fromkeys(self.topics, 0)
        self._eof: set[Key] = set()
        self._tracker = OffsetTracker()
        self._last_assign_try = 0.0
        self.targets: dict[Key, int] = {}
        """The end of every non-empty partition when following began (``from_starts``):
        what :meth:`reached_targets` waits for."""
        self.records = 0

    # --- assignment --------------------------------------------------------------------

    def _add(self, topic: str, partition: int, start: int) -> None:
        key = (topic, partition)
        self.partitions[key] = TopicPartition(topic, partition, start)
        if start >= 0:
            self.next_offset[key] = start
            self.start_offsets[key] = start

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
                    self._add(topic, partition, self._start.get(key, OFFSET_BEGINNING))
                    added = True
        if added:
            self.consumer.assign(list(self.partitions.values()))

    def poll(self, max_records: int = 2000, timeout: float = 0.1) -> list[Message]:
        """Records that arrived since the last call (partition EOF markers and errors
        absorbed, progress noted)."""
        if not self._fixed:
            self._assign_new()
        if not self.partitions:
            time.sleep(timeout)
            return []
        out: list[Message] = []
        now = time.monotonic()
        for message in self.consumer.consume(max_records, timeout):
            error = message.error()
            topic, partition = str(message.topic()), int(message.partition() or 0)
            key = (topic, partition)
            if error is not None:
                if error.code() == KafkaError._PARTITION_EOF:
                    self._eof.add(key)
                continue
            self._eof.discard(key)
            offset = int(message.offset() or 0)
            self.next_offset[key] = offset + 1
            if self._publish_progress:
                self._tracker.consumed(topic, partition, offset)
            self.last_record_at[topic] = now
            self.read_count[topic] = self.read_count.get(topic, 0) + 1
            out.append(message)
        self.records += len(out)
        if out and self.health is not None:
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

    def ends(self, topics: Sequence[str] | None = None) -> dict[Key, int]:
        """End offsets (exact fetch high watermarks) of the partitions fetched so far."""
        wanted = set(topics) if topics is not None else None
        result: dict[Key, int] = {}
        for topic, partition in self.partitions:
            if wanted is not None and topic not in wanted:
                continue
            _low, high = self.consumer.get_watermark_offsets(
                TopicPartition(topic, partition), cached=True
            )
            if high >= 0:
                result[(topic, partition)] = high
        return result

    def ended_partitions(self) -> frozenset[Key]:
        """Partitions read to their end, with nothing new fetched since."""
        return frozenset(self._eof)

    def at_end(self) -> bool:
        """Every partition has reported EOF at the end it had when last fetched, since its
        last record (followers from :meth:`from_starts`, which ask for EOF markers)."""
        return len(self._eof) >= len(self.partitions)

    def reached_targets(self) -> bool:
        """Every partition has been read up to the end it had when following began
        (:attr:`targets`), whatever arrived since. Unlike :meth:`at_end`, this holds
        on topics that grow on every fetch (telemetry at a paced fetch wait was never
        at its end in every partition at once)."""
        for key, target in self.targets.items():
            if key not in self._eof and self.next_offset.get(key, -1) < target:
                return False
        return True

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
