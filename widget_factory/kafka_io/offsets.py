"""Which input offsets are safe to commit: only those whose effects are recorded.

A consumed record is "open" until the service has durably written what it caused (or
knows it caused nothing). The committable offset of a partition is the lowest open
offset, or one past the highest consumed: a crash then re-reads at most the open
records, so nothing is lost; consumers downstream drop the duplicates by ``event_id``.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Iterable

from confluent_kafka import Consumer, KafkaException, TopicPartition

from widget_factory.kafka_io.cluster_identity import cluster_was_replaced

__all__ = [
    "OffsetTracker",
    "commit",
    "at_end",
    "assignment_ends",
    "assignment_positions",
    "has_records",
]

Key = tuple[str, int]

_REFRESH_S = 10.0


class OffsetTracker:
    def __init__(self) -> None:
        self._consumed: dict[Key, int] = {}
        self._open: dict[Key, list[int]] = {}
        self._closed: dict[Key, set[int]] = {}
        self._committed: dict[Key, int] = {}
        self.refreshed = time.monotonic()

    def consumed(self, topic: str, partition: int, offset: int, *, open_: bool = False) -> None:
        key = (topic, partition)
        if offset + 1 > self._consumed.get(key, -1):
            self._consumed[key] = offset + 1
        if open_:
            heapq.heappush(self._open.setdefault(key, []), offset)

    def close(self, topic: str, partition: int, offset: int) -> None:
        """The open record at ``offset`` is now safely recorded."""
        self._closed.setdefault((topic, partition), set()).add(offset)

    def committable(self) -> dict[Key, int]:
        result: dict[Key, int] = {}
        for key, next_offset in self._consumed.items():
            heap = self._open.get(key)
            closed = self._closed.get(key)
            while heap and closed and heap[0] in closed:
                closed.discard(heapq.heappop(heap))
            result[key] = heap[0] if heap else next_offset
        return result

    def pending_commits(self) -> list[TopicPartition]:
        """Partitions whose committable offset moved since the last ``mark_committed``."""
        return [
            TopicPartition(topic, partition, offset)
            for (topic, partition), offset in self.committable().items()
            if self._committed.get((topic, partition)) != offset
        ]

    def has_pending(self) -> bool:
        """Anything to commit: a moved offset, or the periodic resend is due (see
        :func:`commit`). False for an idle service, which then flushes and sends nothing."""
        if time.monotonic() - self.refreshed > _REFRESH_S:
            return bool(self._consumed)
        return bool(self.pending_commits())

    def reset_committed(self) -> None:
        """Forget what was committed, so every partition is committed again."""
        self._committed.clear()

    def mark_committed(self, partitions: Iterable[TopicPartition]) -> None:
        for tp in partitions:
            self._committed[(tp.topic, tp.partition)] = tp.offset

    def forget(self, partitions: Iterable[TopicPartition]) -> None:
        """Partitions revoked in a rebalance: their bookkeeping goes with them."""
        for tp in partitions:
            key = (tp.topic, tp.partition)
            for table in (self._consumed, self._open, self._closed, self._committed):
                table.pop(key, None)


def commit(consumer: Consumer, tracker: OffsetTracker, *, sync: bool = False) -> int:
    """Commit what the tracker allows; returns how many partitions moved.

    Asynchronous by default: a commit never blocks the service (a synchronous one waits
    without limit for a broker that does not answer). A lost asynchronous commit is
    harmless - offsets only move forward, and every ``_REFRESH_S`` all are sent again.
    ``sync`` is for rebalances, where the next owner must see the offsets. Nothing is
    committed to a cluster that replaced the one the records came from."""
    if cluster_was_replaced():
        return 0
    now = time.monotonic()
    if now - tracker.refreshed > _REFRESH_S:
        tracker.refreshed = now
        tracker.reset_committed()
    pending = tracker.pending_commits()
    if not pending:
        return 0
    try:
        if sync:
            consumer.commit(offsets=pending, asynchronous=False)
        else:
            consumer.commit(offsets=pending, asynchronous=True)
    except KafkaException:
        return 0
    tracker.mark_committed(pending)
    return len(pending)


def at_end(consumer: Consumer) -> bool:
    """True when every assigned partition has been read up to its high watermark, as
    reported by the fetch responses (exact, unlike ListOffsets on some brokers).

    A partition that yielded no record since its assignment has no position yet; its
    committed offset (where reading started) stands in for it."""
    assignment = consumer.assignment()
    if not assignment:
        return False
    positions = consumer.position(assignment)
    unknown = [TopicPartition(tp.topic, tp.partition) for tp in positions if tp.offset < 0]
    started: dict[tuple[str, int], int] = {}
    if unknown:
        try:
            for tp in consumer.committed(unknown, timeout=5):
                started[(tp.topic, tp.partition)] = tp.offset
        except KafkaException:
            return False
    for tp in positions:
        low, high = consumer.get_watermark_offsets(tp, cached=True)
        if high < 0:
            return False
        offset = tp.offset if tp.offset >= 0 else started.get((tp.topic, tp.partition), -1)
        if offset < 0:
            if high > max(low, 0):
                return False
            continue
        if offset < high:
            return False
    return True


def assignment_ends(consumer: Consumer) -> dict[tuple[str, int], tuple[int, int]]:
    """(low, high) watermarks of the assignment as the latest fetch responses reported
    them: no request to the broker, so cheap enough for every loop."""
    return {
        (tp.topic, tp.partition): consumer.get_watermark_offsets(tp, cached=True)
        for tp in consumer.assignment()
    }


def assignment_positions(consumer: Consumer) -> dict[tuple[str, int], int]:
    """The next offset to read of each assigned partition (negative: none read yet)."""
    assignment = consumer.assignment()
    return {
        (tp.topic, tp.partition): tp.offset
        for tp in (consumer.position(assignment) if assignment else [])
    }


def has_records(consumer: Consumer, topic: str, timeout: float = 10.0) -> bool:
    """True when any partition of ``topic`` has ever been written to (asks the broker)."""
    for partition in consumer.list_topics(topic, timeout=timeout).topics[topic].partitions:
        _low, high = consumer.get_watermark_offsets(
            TopicPartition(topic, partition), timeout=timeout
        )
        if high > 0:
            return True
    return False
