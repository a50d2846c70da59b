"""A group member that notices when part of its group's input is read by nobody, and rejoins.

A consumer group is supposed to re-settle by itself: when a member dies, the coordinator
expires it and hands its partitions to the others. Seen on the embedded broker: when
members are killed and the broker stops answering while the group is re-forming (its
clock then jumps by the pause, expiring every session at once), the group can come back
with a partition assigned to no live member and no further rebalance. The live members
hold their own partitions, read them to the end and drain happily, while the records of
the orphaned partition wait forever (widgets never inspected, stock never counted).

:class:`GroupWatch` looks, every few seconds, at the partitions of its subscription
that this member does not hold: one whose committed offset stays behind its end and
does not move for :data:`ORPHAN_AFTER_S` (no live member is reading it) makes this
member leave and rejoin the group, which makes the coordinator assign every partition
to the live members again. A member that holds nothing while records wait is the same
case. A slow peer is not mistaken for a missing one: every service here commits at
least every second or two while it reads, and a rejoin costs one rebalance (a few
seconds), never a record.

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

from confluent_kafka import Consumer, KafkaException, TopicPartition

from widget_factory.kafka_io.client import BrokerHealth
from widget_factory.kafka_io.reader import topic_partitions
from widget_factory.kafka_io.settings import KafkaSettings

__all__ = ["GroupWatch", "watched_consumer", "ORPHAN_AFTER_S", "CHECK_EVERY_S"]

log = logging.getLogger(__name__)

Callback = Callable[[Consumer, list[TopicPartition]], None]
Key = tuple[str, int]

CHECK_EVERY_S = 5.0
"""How often the partitions not held are looked at (a few broker requests each time)."""

ORPHAN_AFTER_S = 30.0
"""A partition not held here, behind its end, whose committed offset has not moved for
this long (and no rebalance for as long) is read by nobody: rejoin the group. Five
times the embedded broker's session timeout, well past a dead member's expiry."""

_REQUEST_TIMEOUT_S = 2.0


def _names(partitions: Sequence[TopicPartition]) -> str:
    return ", ".join(f"{tp.topic}[{tp.partition}]" for tp in partitions) or "nothing"


class GroupWatch:
    """Subscribes ``consumer`` to ``topics`` and keeps the group's input read.

    Call :meth:`check` from the service loop (cheap between checks). The rebalance
    callbacks given here are the service's own; they run as before, wrapped so the
    watch knows the assignment and when it last changed."""

    def __init__(
        self,
        consumer: Consumer,
        topics: Sequence[str],
        *,
        name: str,
        on_assign: Callback | None = None,
        on_revoke: Callback | None = None,
        on_lost: Callback | None = None,
        orphan_after: float = ORPHAN_AFTER_S,
        check_every: float = CHECK_EVERY_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.consumer = consumer
        self.topics = list(topics)
        self.name = name
        self._on_assign = on_assign
        self._on_revoke = on_revoke
        self._on_lost = on_lost
        self.orphan_after = orphan_after
        self.check_every = check_every
        self._clock = clock
        self.held: set[Key] = set()
        self.rejoins = 0
        self._changed = clock()
        self._checked = clock()
        self._behind: dict[Key, tuple[int, float]] = {}
        """Partitions not held and behind their end: committed offset, since when."""
        self._all_read: tuple[float, bool] = (float("-inf"), False)
        self.subscribe()

    # --- membership ----------------------------------------------------------------------

    def subscribe(self) -> None:
        self.consumer.subscribe(
            self.topics, on_assign=self._assigned, on_revoke=self._revoked, on_lost=self._lost
        )

    def _assigned(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._changed = self._clock()
        self.held = {(tp.topic, tp.partition) for tp in partitions}
        self._behind.clear()
        log.info("%s: the group gave this member %s", self.name, _names(partitions))
        if self._on_assign is not None:
            self._on_assign(consumer, partitions)

    def _revoked(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._changed = self._clock()
        self.held -= {(tp.topic, tp.partition) for tp in partitions}
        if self._on_revoke is not None:
            self._on_revoke(consumer, partitions)

    def _lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._changed = self._clock()
        self.held -= {(tp.topic, tp.partition) for tp in partitions}
        log.warning(
            "%s: lost %s (the group session expired); rejoining", self.name, _names(partitions)
        )
        # The partitions are gone; librdkafka rejoins by itself. The service's own
        # handler (or, without one, revoke's) drops their bookkeeping without commits.
        handler = self._on_lost or self._on_revoke
        if handler is not None:
            handler(consumer, partitions)

    def rejoin(self, reason: str) -> None:
        """Leave the group and join again: the coordinator re-assigns every partition."""
        self.rejoins += 1
        log.warning("%s: %s; leaving and rejoining the group", self.name, reason)
        self._changed = self._clock()
        self._behind.clear()
        self.consumer.unsubscribe()  # the service's revoke handler commits what it holds
        self.subscribe()

    # --- the watch -----------------------------------------------------------------------

    def _unheld_lag(self) -> dict[Key, tuple[int, int]]:
        """Partitions of the subscription not held here: committed offset and end, for
        those behind their end."""
        everything = topic_partitions(self.consumer, self.topics, timeout=_REQUEST_TIMEOUT_S)
        others = [tp for tp in everything if (tp.topic, tp.partition) not in self.held]
        if not others:
            return {}
        behind: dict[Key, tuple[int, int]] = {}
        for tp in self.consumer.committed(others, timeout=_REQUEST_TIMEOUT_S):
            _low, high = self.consumer.get_watermark_offsets(
                TopicPartition(tp.topic, tp.partition), timeout=_REQUEST_TIMEOUT_S
            )
            committed = max(tp.offset, 0)
            if high > committed:
                behind[(tp.topic, tp.partition)] = (tp.offset, high)
        return behind

    def check(self) -> bool:
        """Look at the partitions not held (every :attr:`check_every` seconds); rejoin
        when one has gone unread too long. True when it rejoined."""
        now = self._clock()
        if now - self._checked < self.check_every:
            return False
        self._checked = now
        try:
            behind = self._unheld_lag()
        except KafkaException as exc:  # the broker is away: nothing to conclude
            log.debug("%s: group watch skipped: %s", self.name, exc)
            return False
        for key, (committed, _end) in behind.items():
            seen = self._behind.get(key)
            if seen is None or seen[0] != committed:
                self._behind[key] = (committed, now)
        for key in set(self._behind) - set(behind):
            del self._behind[key]
        stuck = sorted(
            k for k, (_, since) in self._behind.items() if now - since >= self.orphan_after
        )
        if not stuck or now - self._changed < self.orphan_after:
            return False
        shown = ", ".join(f"{topic}[{partition}]" for topic, partition in stuck)
        self.rejoin(
            f"{shown} unread by any member for {self.orphan_after:.0f} s "
            f"(this member holds {len(self.held)} partitions)"
        )
        return True

    def all_read(self, max_age: float = 1.0) -> bool:
        """True when no partition held elsewhere is behind its end (a draining member
        then knows the whole group input is read, not only its own share)."""
        now = self._clock()
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
