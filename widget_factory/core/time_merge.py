"""Merge records of several partitions into one stream in event-time order.

Kafka orders records only within a partition; a reader of a whole topic gets its
partitions' records interleaved as the fetches come back, so a later event of one
partition may be printed before an earlier one of another. :class:`TimeMerge` holds
each partition's records in their own order and releases the earliest head only when
every partition has told what comes next: it has a record waiting, or it has been read
to its end for now ("quiet"). A quiet partition does not hold the others back, so a
record that arrives on it later, with an older time, comes after newer ones: the price
of following live.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Collection, Hashable, Iterable
from typing import Generic, TypeVar

__all__ = ["TimeMerge"]

T = TypeVar("T")


class TimeMerge(Generic[T]):
    def __init__(self, sources: Iterable[Hashable]) -> None:
        self._waiting: dict[Hashable, deque[tuple[int, T]]] = {s: deque() for s in sources}
        self._last: dict[Hashable, int] = {}

    def add(self, source: Hashable, time_ms: int | None, item: T) -> None:
        """One record of ``source``, in that source's order. ``time_ms`` None (a record
        without a time) keeps it right after the source's previous record."""
        if time_ms is None:
            time_ms = self._last.get(source, -(2**63))
        self._last[source] = time_ms
        self._waiting.setdefault(source, deque()).append((time_ms, item))

    def release(self, quiet: Collection[Hashable], limit: int | None = None) -> list[T]:
        """The records that can go out now, earliest first (ties: the sources' order).

        ``quiet``: sources read to their end for now; every other source must have a
        record waiting before anything is released. At most ``limit`` records.
        """
        out: list[T] = []
        while limit is None or len(out) < limit:
            heads = []
            for source, queue in self._waiting.items():
                if queue:
                    heads.append((queue[0][0], source))
                elif source not in quiet:
                    return out  # this source may still bring an earlier record
            if not heads:
                return out
            _time, source = min(heads, key=lambda head: head[0])
            out.append(self._waiting[source].popleft()[1])
        return out

    def __len__(self) -> int:
        return sum(len(queue) for queue in self._waiting.values())
