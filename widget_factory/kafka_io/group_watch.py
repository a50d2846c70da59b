"""A group member that notices when part of its group's input is read by nobody, and rejoins.

A consumer group is supposed to re-settle by itself: when a member dies, the coordinator
expires it and hands its partitions to the others. Part of a group's input can still go
unread with every member alive: a member whose own assignment went missing (lost in a
broker pause, an assign/unassign slip, a rebalance callback that failed) while the
coordinator still counts those partitions as its. The other members read their share
to the end and drain, the orphaned records wait forever (widgets never inspected, stock
never counted), and nothing in the logs says so.

:class:`GroupWatch` looks, every few seconds, at the partitions of its subscription
that this member does not hold (by the consumer's own assignment): one whose committed
offset stays behind its end and does not move for :data:`ORPHAN_AFTER_S` makes this
member leave and rejoin the group, so the coordinator assigns every partition again and
the member that lost its assignment gets it back applied. The member that can tell its
own assignment went missing (the group gave it partitions its consumer no longer holds)
rejoins after :data:`ORPHAN_AFTER_S`; the others wait :data:`PEER_PATIENCE` times as
long, so that normally one member leaves, not all of them at once. That matters on the
embedded broker: a group whose leader leaves while a join round is forming keeps the
departed member as its leader and never forms again (tansu 0.6; docs/embedded-broker.md).
A slow peer is not mistaken
for a missing one: every service here commits at least every second or two while it
reads, and a rejoin costs one rebalance (a few seconds), never a record. A member that
stays in the group without reading at all (its process frozen between polls) is not
evicted by a rejoin, on the embedded broker as on Kafka, until its
``max.poll.interval.ms``: the watch then keeps saying so, waiting twice as long before
each new attempt.

It also tells a draining service whether the group's input is really all read
(:meth:`GroupWatch.all_read`): ``at_end`` alone looks only at this member's partitions.

End offsets of partitions not held come from ListOffsets, which the embedded broker
under-reports by at most its last batch (docs/embedded-broker.md): an orphan whose
reader stopped inside the very last batch goes unnoticed until more records arrive.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import KW_ONLY, dataclass, field

from confluent_kafka import Consumer, KafkaException, TopicPartition

from widget_factory.kafka_io.client import BrokerHealth
from widget_factory.kafka_io.reader import topic_partitions
from widget_factory.kafka_io.settings import KafkaSettings

__all__ = [
    "GroupWatch",
    "RejoinBackoff",
    "UnreadPartitions",
    "watched_consumer",
    "ORPHAN_AFTER_S",
    "CHECK_EVERY_S",
    "PEER_PATIENCE",
]

log = logging.getLogger(__name__)

Callback = Callable[[Consumer, list[TopicPartition]], None]
Key = tuple[str, int]

CHECK_EVERY_S = 5.0
"""How often the partitions not held are looked at (a few broker requests each time)."""

ORPHAN_AFTER_S = 30.0
"""A partition not held here, behind its end, whose committed offset has not moved for
this long (and no rebalance for as long) is read by nobody: rejoin the group. Five
times the embedded broker's session timeout, well past a dead member's expiry."""

PEER_PATIENCE = 3.0
"""A member that holds everything the group gave it waits this many times longer before
rejoining over a partition held elsewhere: the member that lost it goes first."""

_REQUEST_TIMEOUT_S = 2.0


def _names(partitions: Sequence[TopicPartition]) -> str:
    return ", ".join(f"{tp.topic}[{tp.partition}]" for tp in partitions) or "nothing"


class UnreadPartitions:
    """Partitions held by other members (or nobody) that stay behind their end: since
    when each one's committed offset has not moved. No Kafka here, for unit tests."""

    def __init__(self, after: float) -> None:
        self.after = after
        self._since: dict[Key, tuple[int, float]] = {}

    def clear(self) -> None:
        self._since.clear()

    def update(self, behind: dict[Key, int], now: float, after: float | None = None) -> list[Key]:
        """``behind``: committed offset of each partition behind its end, now. Returns
        those whose committed offset has not moved for ``after`` seconds (default
        :attr:`after`)."""
        after = self.after if after is None else after
        for key, committed in behind.items():
            seen = self._since.get(key)
            if seen is None or seen[0] != committed:
                self._since[key] = (committed, now)
        for key in set(self._since) - set(behind):
            del self._since[key]
        return sorted(k for k, (_, since) in self._since.items() if now - since >= after)


@dataclass
class RejoinBackoff:
    """How soon a rejoin may follow the last change of membership. No Kafka here.

    A rejoin that did not end the orphaning (a member that stays in the group without
    reading, which no rejoin evicts; or a join round slower than :attr:`after`, as on a
    loaded machine where every member's watch sees the whole input unread mid-round)
    must not be repeated at once: each one restarts the round, so members that rejoin
    every few seconds keep the group from ever settling. The wait doubles with each
    rejoin in a row, up to 16x, and starts over only once nothing has been stuck for
    twice the current wait."""

    after: float
    in_a_row: int = 0

    def wait(self) -> float:
        return self.after * 2 ** min(self.in_a_row, 4)

    def allows(self, now: float, changed: float, *, stuck: bool) -> bool:
        """``changed``: when membership last changed. True when a rejoin is due now
        (and counts it)."""
        since = now - changed
        if not stuck:
            if since >= 2 * self.wait():
                self.in_a_row = 0
            return False
        if since < self.wait():
            return False
        self.in_a_row += 1
        return True


@dataclass(eq=False)
class GroupWatch:
    """Subscribes ``consumer`` to ``topics`` and keeps the group's input read.

    Call :meth:`check` from the service loop (cheap between checks). The rebalance
    callbacks given here are the service's own; they run as before, wrapped so the
    watch knows the assignment and when it last changed."""

    consumer: Consumer
    topics: Sequence[str]
    _: KW_ONLY
    name: str
    """Names the member in the log (its client id)."""
    on_assign: Callback | None = None
    on_revoke: Callback | None = None
    on_lost: Callback | None = None
    orphan_after: float = ORPHAN_AFTER_S
    check_every: float = CHECK_EVERY_S
    clock: Callable[[], float] = time.monotonic
    held: set[Key] = field(default_factory=set, init=False)
    """What the consumer holds (its own assignment), as of the last check."""
    given: set[Key] = field(default_factory=set, init=False)
    """What the group gave this member, by the rebalance callbacks."""
    rejoins: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        self.topics = list(self.topics)
        self._changed = self.clock()
        self._checked = self.clock()
        self._unread = UnreadPartitions(self.orphan_after)
        self._backoff = RejoinBackoff(self.orphan_after)
        self._all_read: tuple[float, bool] = (float("-inf"), False)
        self.subscribe()

    # --- membership ----------------------------------------------------------------------

    def subscribe(self) -> None:
        self.consumer.subscribe(
            list(self.topics), on_assign=self._assigned, on_revoke=self._revoked, on_lost=self._lost
        )

    def _assigned(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._changed = self.clock()
        self.given = {(tp.topic, tp.partition) for tp in partitions}
        self.held = set(self.given)
        self._unread.clear()
        log.info("%s: the group gave this member %s", self.name, _names(partitions))
        if self.on_assign is not None:
            self.on_assign(consumer, partitions)

    def _taken_away(self, partitions: list[TopicPartition]) -> None:
        """Revoked or lost: neither given to this member nor held by it any more."""
        self._changed = self.clock()
        gone = {(tp.topic, tp.partition) for tp in partitions}
        self.given -= gone
        self.held -= gone

    def _revoked(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._taken_away(partitions)
        if self.on_revoke is not None:
            self.on_revoke(consumer, partitions)

    def _lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._taken_away(partitions)
        log.warning(
            "%s: lost %s (the group session expired); rejoining", self.name, _names(partitions)
        )
        # The partitions are gone; librdkafka rejoins by itself. The service's own
        # handler (or, without one, revoke's) drops their bookkeeping without commits.
        handler = self.on_lost or self.on_revoke
        if handler is not None:
            handler(consumer, partitions)

    def rejoin(self, reason: str) -> None:
        """Leave the group and join again: the coordinator re-assigns every partition."""
        self.rejoins += 1
        log.warning("%s: %s; leaving and rejoining the group", self.name, reason)
        self._changed = self.clock()
        self._unread.clear()
        self.held = set()
        self.given = set()
        self.consumer.unsubscribe()  # the service's revoke handler commits what it holds
        self.subscribe()

    # --- the watch -----------------------------------------------------------------------

    def _unheld_lag(self) -> dict[Key, int]:
        """Partitions of the subscription not held here and behind their end, with
        their committed offset. What is held is the consumer's own assignment, not what
        the callbacks said: a member whose assignment went missing is one of the cases."""
        self.held = {(tp.topic, tp.partition) for tp in self.consumer.assignment()}
        everything = topic_partitions(self.consumer, self.topics, timeout=_REQUEST_TIMEOUT_S)
        others = [tp for tp in everything if (tp.topic, tp.partition) not in self.held]
        if not others:
            return {}
        behind: dict[Key, int] = {}
        for tp in self.consumer.committed(others, timeout=_REQUEST_TIMEOUT_S):
            _low, high = self.consumer.get_watermark_offsets(
                TopicPartition(tp.topic, tp.partition), timeout=_REQUEST_TIMEOUT_S
            )
            committed = max(tp.offset, 0)
            if high > committed:
                behind[(tp.topic, tp.partition)] = tp.offset
        return behind

    def check(self) -> bool:
        """Look at the partitions not held (every :attr:`check_every` seconds); rejoin
        when one has gone unread too long. True when it rejoined."""
        now = self.clock()
        if now - self._checked < self.check_every:
            return False
        self._checked = now
        try:
            behind = self._unheld_lag()
        except KafkaException as exc:  # the broker is away: nothing to conclude
            log.debug("%s: group watch skipped: %s", self.name, exc)
            return False
        own_loss = bool(self.given - self.held)
        after = self.orphan_after * (1.0 if own_loss else PEER_PATIENCE)
        stuck = self._unread.update(behind, now, after)
        if not self._backoff.allows(now, self._changed, stuck=bool(stuck)):
            return False
        shown = ", ".join(f"{topic}[{partition}]" for topic, partition in stuck)
        self.rejoin(
            f"{shown} unread by any member for {after:.0f} s (this member holds "
            f"{len(self.held)} of the {len(self.given)} partitions the group gave it)"
        )
        return True

    def all_read(self, max_age: float = 1.0) -> bool:
        """True when no partition held elsewhere is behind its end (a draining member
        then knows the whole group input is read, not only its own share)."""
        now = self.clock()
        at, answer = self._all_read
        if now - at < max_age:
            return answer
        try:
            answer = not self._unheld_lag()
        except KafkaException:
            answer = False
        self._all_read = (now, answer)
        return answer


def watched_consumer(
    settings: KafkaSettings,
    group_id: str,
    topics: Sequence[str],
    *,
    client_id: str,
    health: BrokerHealth,
    on_assign: Callback | None = None,
    on_revoke: Callback | None = None,
    on_lost: Callback | None = None,
) -> GroupWatch:
    """A consumer in ``group_id`` that commits only when told to (as
    :func:`~widget_factory.kafka_io.client.make_consumer`), subscribed under a watch."""
    config = settings.consumer_config(group_id, **{"client.id": client_id})
    config["error_cb"] = health.on_error
    return GroupWatch(
        Consumer(config),
        topics,
        name=client_id,
        on_assign=on_assign,
        on_revoke=on_revoke,
        on_lost=on_lost,
    )
