"""Late and out-of-order delivery, on purpose: each machine's edge gateway after a blip.

A real factory's machines do not write to Kafka themselves: an edge gateway on the line
does, and when its network blips it buffers, then sends the backlog once it is back -
late, and not in the order the records were made. ``--late-fraction F --max-delay D``
makes the producers (telemetry and component production) deliver their records that
way, so a pipeline under test meets the disorder it will meet in a plant.

:class:`EdgeGateway` decides it, per target (machine or station), from a generator of
that target's own (so the decisions do not depend on how targets interleave, nor on how
machines are dealt between worker processes):

- the target's link alternates up-time and *outages*. An outage lasts between a quarter
  of ``D`` and ``D``; up-times are exponential, with the mean that makes outages cover
  the fraction ``F`` of the time, so about ``F`` of the records fall in one;
- a record made during an outage is held and sent after the reconnect, at a random time
  before its outage's start plus ``D``: the backlog leaves in shuffled order, every
  record less than ``D`` after its event time. Other records are sent at once;
- the record itself is never touched: event time, key and value stay as made. Only the
  order of sending changes (and, at a paced speed, the moment).

A bounded run has a calm end: no outage begins unless everything it holds is sent
before ``last_release_by`` (the producers pass the run's end minus one telemetry
interval). Each target's last records are then on time, so a consumer that knows a
machine's final report has said everything still may (core/lockstep.py).

What a consumer may rely on: a record is sent less than ``D`` after its event time, and
records are sent in order of their release time. A consumer that has read a record of
event time ``t`` from a partition has therefore read everything of that partition made
up to ``t - D``: holding a watermark ``D`` behind the newest event time read (not the
usual newest) keeps event-time processing exact (``--max-delay`` on every service of a
run does that; the analytics service's own lateness bound does it for its windows).

The answer key: one :class:`OutageSummary` per target per outage that held anything
(how many records, first and last event time, largest and mean delay), published on
``factory-ground-truth`` as a ``delay_truth`` record (:func:`delay_truth`).

Pure: no Kafka, no wall clock. Times are simulated epoch seconds.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, Literal, TypeVar

from widget_factory.core.clock import to_datetime
from widget_factory.core.ids import event_id_from
from widget_factory.schemas import DelayTruth

__all__ = [
    "EdgeGateway",
    "OutageSummary",
    "check_late_fraction",
    "delay_truth",
    "MIN_OUTAGE_SHARE",
]

T = TypeVar("T")

MIN_OUTAGE_SHARE = 0.25
"""An outage lasts between this share of the maximum delay and all of it."""

Topic = Literal["machine-telemetry", "component-production"]
TargetType = Literal["machine", "station"]


def check_late_fraction(fraction: float, max_delay_s: float) -> str | None:
    """Why ``--late-fraction``/``--max-delay`` cannot be used (None: they can)."""
    if not (math.isfinite(fraction) and 0.0 <= fraction < 1.0):
        return f"--late-fraction {fraction:g}: must be at least 0 and below 1"
    if not (math.isfinite(max_delay_s) and max_delay_s >= 0.0):
        return f"--max-delay {max_delay_s:g}: must be a finite duration"
    if fraction > 0.0 and max_delay_s <= 0.0:
        return f"--late-fraction {fraction:g} needs --max-delay D (how late a record may be sent)"
    return None


@dataclass
class OutageSummary:
    """What one outage of one target's link held (see the module docstring)."""

    target_id: str
    started_at: float
    reconnected_at: float
    records_delayed: int = 0
    first_event_at: float = math.inf
    last_event_at: float = -math.inf
    last_released_at: float = -math.inf
    max_delay_s: float = 0.0
    total_delay_s: float = 0.0

    @property
    def mean_delay_s(self) -> float:
        return self.total_delay_s / self.records_delayed if self.records_delayed else 0.0

    def hold(self, at: float, release: float) -> None:
        delay = release - at
        self.records_delayed += 1
        self.first_event_at = min(self.first_event_at, at)
        self.last_event_at = max(self.last_event_at, at)
        self.last_released_at = max(self.last_released_at, release)
        self.max_delay_s = max(self.max_delay_s, delay)
        self.total_delay_s += delay


@dataclass
class _Link:
    rng: random.Random
    next_start: float
    outage: OutageSummary | None = None
    closed: list[OutageSummary] = field(default_factory=list)


class EdgeGateway(Generic[T]):
    """Holds records and lets them go at their release time (module docstring).

    ``rng_for(target_id)`` gives each target its generator; ``start`` is the run's
    simulated start. :meth:`send` takes the records in the order they are made;
    :meth:`release` gives back those whose time has come, in release order."""

    def __init__(
        self,
        late_fraction: float,
        max_delay_s: float,
        rng_for: Callable[[str], random.Random],
        start: float,
        *,
        last_release_by: float = math.inf,
    ) -> None:
        problem = check_late_fraction(late_fraction, max_delay_s)
        if problem is not None:
            raise ValueError(problem)
        self.late_fraction = late_fraction
        self.max_delay_s = max_delay_s
        self._rng_for = rng_for
        self._start = start
        self._last_release_by = last_release_by
        mean_outage = max_delay_s * (1.0 + MIN_OUTAGE_SHARE) / 2.0
        self._mean_up = (
            math.inf
            if late_fraction <= 0.0
            else mean_outage * (1.0 - late_fraction) / late_fraction
        )
        self._links: dict[str, _Link] = {}
        self._queue: list[tuple[float, int, T]] = []
        self._seq = itertools.count()
        self.sent = 0
        self.delayed = 0

    # --- the outage schedule ------------------------------------------------------------

    def _link(self, target_id: str) -> _Link:
        link = self._links.get(target_id)
        if link is None:
            rng = self._rng_for(target_id)
            link = _Link(rng, self._next_start(rng, self._start))
            self._links[target_id] = link
        return link

    def _next_start(self, rng: random.Random, after: float) -> float:
        if self._mean_up == math.inf:
            return math.inf
        begins = after + rng.expovariate(1.0 / self._mean_up)
        if begins + self.max_delay_s > self._last_release_by:
            return math.inf  # the calm end of a bounded run
        return begins

    def _outage_at(self, target_id: str, link: _Link, at: float) -> OutageSummary | None:
        """The outage covering ``at`` on the target's link, if any (moving the schedule
        on past outages that ended before it)."""
        while True:
            outage = link.outage
            if outage is not None:
                if at < outage.reconnected_at:
                    return outage if at >= outage.started_at else None
                if outage.records_delayed:
                    link.closed.append(outage)
                link.outage = None
                link.next_start = self._next_start(link.rng, outage.reconnected_at)
            if at < link.next_start:
                return None
            begins = link.next_start
            length = link.rng.uniform(MIN_OUTAGE_SHARE, 1.0) * self.max_delay_s
            link.outage = OutageSummary(target_id, begins, begins + length)

    # --- records ------------------------------------------------------------------------

    def send(self, target_id: str, at: float, item: T) -> float:
        """A record of ``target_id`` made at ``at``: queued for its release time, which
        is returned (``at`` itself unless an outage holds it)."""
        link = self._link(target_id)
        outage = self._outage_at(target_id, link, at)
        release = at
        if outage is not None:
            latest = outage.started_at + self.max_delay_s
            release = outage.reconnected_at + link.rng.random() * (latest - outage.reconnected_at)
            # strictly less than max_delay_s late, whatever the rounding
            release = min(release, math.nextafter(at + self.max_delay_s, -math.inf))
            outage.hold(at, release)
            self.delayed += 1
        heapq.heappush(self._queue, (release, next(self._seq), item))
        self.sent += 1
        return release

    def next_release(self) -> float:
        """Release time of the first record still held (math.inf: none)."""
        return self._queue[0][0] if self._queue else math.inf

    def release(self, until: float) -> list[T]:
        """Records due by ``until``, in release order (ties: in the order made)."""
        out: list[T] = []
        queue = self._queue
        while queue and queue[0][0] <= until:
            out.append(heapq.heappop(queue)[2])
        return out

    def flush(self) -> list[T]:
        """Everything still held, in release order (the producer is stopping)."""
        return self.release(math.inf)

    def __len__(self) -> int:
        return len(self._queue)

    # --- the answer key -----------------------------------------------------------------

    def summaries(self, until: float) -> list[OutageSummary]:
        """Outages that held something and whose records are all released by ``until``
        (each given once, by target, then start). ``until``: every record made up to it
        has been sent here (the time :meth:`release` was called with)."""
        done: list[OutageSummary] = []
        for target_id in sorted(self._links):
            link = self._links[target_id]
            outage = link.outage
            if outage is not None and outage.reconnected_at <= until:
                # nothing made from the reconnect on can fall in it any more
                if outage.records_delayed:
                    link.closed.append(outage)
                link.outage = None
                link.next_start = self._next_start(link.rng, outage.reconnected_at)
            ready = [o for o in link.closed if o.last_released_at <= until]
            if ready:
                link.closed = [o for o in link.closed if o.last_released_at > until]
                done += ready
        return done

    def close(self) -> list[OutageSummary]:
        """Every outage not yet summarised (the producer is stopping: all is sent)."""
        done: list[OutageSummary] = []
        for target_id in sorted(self._links):
            link = self._links[target_id]
            if link.outage is not None and link.outage.records_delayed:
                link.closed.append(link.outage)
            link.outage = None
            done += link.closed
            link.closed = []
        return done


def delay_truth(summary: OutageSummary, topic: Topic, target_type: TargetType) -> DelayTruth:
    """The answer key's record of one outage (ids derived from target, topic and start)."""
    outage_id = event_id_from("outage", topic, summary.target_id, f"{summary.started_at:.3f}")
    return DelayTruth(
        event_id=event_id_from("delay_truth", outage_id),
        outage_id=outage_id,
        target_id=summary.target_id,
        target_type=target_type,
        topic=topic,
        started_at=to_datetime(summary.started_at),
        reconnected_at=to_datetime(summary.reconnected_at),
        records_delayed=summary.records_delayed,
        first_event_at=to_datetime(summary.first_event_at),
        last_event_at=to_datetime(summary.last_event_at),
        last_released_at=to_datetime(summary.last_released_at),
        max_delay_s=round(summary.max_delay_s, 3),
        mean_delay_s=round(summary.mean_delay_s, 3),
    )
