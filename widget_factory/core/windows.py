"""Event-time tumbling windows: bounds, percentiles and how far each input has progressed.

Pure: no Kafka, no clock. Times are simulated epoch seconds (floats).

A window ``[start, end)`` of an aggregate *closes* when the **watermark** of the inputs
it depends on passes ``end``. The watermark of an input topic is its *frontier* (the
event time up to which it is believed complete, see :func:`topic_frontier`) minus the
**lateness bound**: an event may arrive up to that much simulated time behind the
newest event of its partition and still be counted. An event whose window has already
closed is *late*: it is counted as such and left out of the closed window (aggregates
that carry state forward, like stock levels, still take it into account from then on).

Why a frontier per partition and not one "max event time seen": a consumer reading a
backlog (or a factory running in virtual time, where producers are hours ahead) gets
whole batches of one partition before the next. Taking the *minimum* over partitions
that still have data to deliver keeps those batches from making each other late.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "window_start",
    "window_bounds",
    "windows_between",
    "split_interval",
    "percentile",
    "PartitionProgress",
    "HOLD",
    "topic_frontier",
]


def window_start(t: float, size: float) -> float:
    """Start of the tumbling window of ``size`` seconds that holds ``t`` (aligned to the epoch)."""
    return math.floor(t / size) * size


def window_bounds(t: float, size: float) -> tuple[float, float]:
    start = window_start(t, size)
    return start, start + size


def windows_between(first_start: float, until: float, size: float) -> list[float]:
    """Starts of the windows from ``first_start`` whose end is at or before ``until``."""
    starts: list[float] = []
    start = first_start
    while start + size <= until:
        starts.append(start)
        start += size
    return starts


def split_interval(begin: float, end: float, size: float) -> list[tuple[float, float]]:
    """``[begin, end)`` cut at window boundaries: (window start, seconds in it) pairs."""
    parts: list[tuple[float, float]] = []
    t = begin
    while t < end:
        start = window_start(t, size)
        stop = min(end, start + size)
        if stop > t:
            parts.append((start, stop - t))
        t = stop
    return parts


def percentile(values: Iterable[float], q: float) -> float | None:
    """The nearest-rank percentile: the smallest value with at least ``q`` of the values
    at or below it (``q`` in 0..1). ``p95`` of 1..20 is 19; of 1..10 it is 10. None when empty."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True)
class PartitionProgress:
    """What a reader knows of one input partition.

    ``newest``: the largest event time read from it (None if nothing read yet);
    ``pending``: records are known to be waiting beyond what was read (its position is
    below the high watermark).
    """

    newest: float | None
    pending: bool


class _Hold:
    def __repr__(self) -> str:
        return "HOLD"


HOLD = _Hold()
"""The frontier of a topic with records waiting in a partition not read yet: hold everything."""


def topic_frontier(
    partitions: Sequence[PartitionProgress], quiet: bool, *, hold_empty: bool = False
) -> float | None | _Hold:
    """How far in event time a topic is complete, as far as a reader can tell.

    - None: the topic has no data at all; it constrains nothing.
    - :data:`HOLD`: a partition has data waiting and none of it has been read yet; or
      ``hold_empty`` (the topic's producer is known to be part of the run) and the topic
      or one of its partitions has no data read yet: its first records may still be on
      their way (a reader's view of a partition's end lags the broker's, and in virtual
      time the other producers are simulated hours ahead meanwhile).
    - otherwise the smallest ``newest`` among partitions that have data, since a
      partition is read in order and its next record is not older than its newest
      (up to the lateness bound). When the topic is ``quiet`` (every partition read to
      its end and nothing new for a while), everything it will send is newer than what
      it sent: the frontier is the largest ``newest``.
    """
    seen = [p.newest for p in partitions if p.newest is not None]
    if any(p.pending and p.newest is None for p in partitions):
        return HOLD
    if hold_empty and (not partitions or len(seen) < len(partitions)):
        return HOLD
    if not seen:
        return None
    if quiet:
        return max(seen)
    return min(seen)
