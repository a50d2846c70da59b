"""Consumer groups, their committed offsets, exact end offsets, and lag.

The walkthrough's ``kafka-consumer-groups --list`` and ``--describe --group G``, for any
Kafka. Lag is the end offset of a partition minus the group's committed offset there.

End offsets come from the high watermark in **fetch responses**, which is exact on every
broker; ListOffsets (what ``kafka-consumer-groups`` and kcat ``-Q`` use) under-reports on
the embedded broker when the last batch holds several records (docs/embedded-broker.md). So
:func:`end_offsets` asks ListOffsets first, then fetches from just before that answer:
the fetch response carries the true high watermark. A partition whose fetch does not
answer in time keeps the ListOffsets value and is marked approximate.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from confluent_kafka import (
    OFFSET_INVALID,
    Consumer,
    ConsumerGroupTopicPartitions,
    KafkaError,
    KafkaException,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient

from widget_factory.errors import BrokerUnavailable
from widget_factory.kafka_io.reader import topic_partitions
from widget_factory.kafka_io.settings import KafkaSettings
from widget_factory.kafka_io.topics import (
    COMPONENT_PRODUCTION,
    FACTORY_COMMANDS,
    PRODUCTION_ORDERS,
    QUALITY_CONTROL,
    WIDGET_ASSEMBLY,
)

__all__ = [
    "FACTORY_GROUPS",
    "Key",
    "EndOffset",
    "GroupInfo",
    "PartitionLag",
    "LagReport",
    "EndOffsetProbe",
    "end_offsets",
    "list_groups",
    "committed_offsets",
    "group_lag",
    "group_lags",
    "lag_rows",
]

log = logging.getLogger(__name__)

Key = tuple[str, int]
"""(topic, partition)."""

FACTORY_GROUPS: Mapping[str, tuple[str, ...]] = {
    "assembly-stations": (COMPONENT_PRODUCTION, PRODUCTION_ORDERS),
    "quality-control": (WIDGET_ASSEMBLY,),
    "inventory": (COMPONENT_PRODUCTION, WIDGET_ASSEMBLY, QUALITY_CONTROL),
    "machine-telemetry": (FACTORY_COMMANDS,),
}
"""The factory's consumer groups and the topics each reads: their partitions are shown
even before the group has committed anything there."""


@dataclass(frozen=True)
class EndOffset:
    low: int
    """First offset still held (log start)."""
    high: int
    """End offset: the offset the next record will get."""
    exact: bool
    """True when ``high`` is a fetch high watermark; False when only ListOffsets answered."""
    listed: int
    """What ListOffsets said (differs from ``high`` on brokers that under-report)."""


@dataclass(frozen=True)
class GroupInfo:
    group_id: str
    state: str
    """As the broker reports it, lower case (``stable``, ``empty``, ``unknown``, ...)."""
    members: int | None
    """None when the broker does not say."""
    topics: tuple[str, ...]
    """Topics the group has committed offsets on."""


@dataclass(frozen=True)
class PartitionLag:
    topic: str
    partition: int
    committed: int | None
    """None: the group has committed nothing here (it would start from the beginning)."""
    end: int
    low: int
    exact: bool
    listed: int

    @property
    def lag(self) -> int:
        start = self.low if self.committed is None else self.committed
        return max(0, self.end - max(start, self.low))


@dataclass(frozen=True)
class LagReport:
    group: str
    partitions: list[PartitionLag] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(p.lag for p in self.partitions)

    @property
    def exact(self) -> bool:
        return all(p.exact for p in self.partitions)

    def by_topic(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for p in self.partitions:
            totals[p.topic] = totals.get(p.topic, 0) + p.lag
        return totals

    def to_dict(self) -> dict[str, object]:
        return {
            "group": self.group,
            "total_lag": self.total,
            "end_offsets": "fetch high watermark (exact)"
            if self.exact
            else "some from ListOffsets (approximate)",
            "partitions": [
                {
                    "topic": p.topic,
                    "partition": p.partition,
                    "committed": p.committed,
                    "end": p.end,
                    "lag": p.lag,
                    "end_exact": p.exact,
                    "list_offsets_end": p.listed,
                }
                for p in self.partitions
            ],
        }


class EndOffsetProbe:
    """A group-less consumer that learns exact end offsets from fetch responses.

    Reusable: the monitor and the scenario runner ask it every second.
    """

    def __init__(self, settings: KafkaSettings, *, client_id: str = "widget-factory-lag") -> None:
        config = settings.consumer_config(
            f"widget-factory-probe-{uuid.uuid4().hex[:8]}",
            **{
                "client.id": client_id,
                "enable.partition.eof": True,
                "fetch.wait.max.ms": 10,
                "fetch.max.bytes": 1_048_576,
                "max.partition.fetch.bytes": 65_536,
            },
        )
        self.consumer = Consumer(config)

    def partitions(self, topics: Sequence[str], timeout: float = 10.0) -> list[TopicPartition]:
        """Every partition of ``topics`` that exists."""
        try:
            return topic_partitions(self.consumer, topics, timeout)
        except KafkaException as exc:
            raise BrokerUnavailable(f"cannot list topics: {exc}") from None

    def end_offsets(
        self, partitions: Iterable[TopicPartition | Key], timeout: float = 5.0
    ) -> dict[Key, EndOffset]:
        keys = [
            (tp.topic, tp.partition) if isinstance(tp, TopicPartition) else tp for tp in partitions
        ]
        if not keys:
            return {}
        listed: dict[Key, tuple[int, int]] = {}
        for topic, partition in keys:
            try:
                low, high = self.consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), timeout=timeout
                )
            except KafkaException as exc:
                raise BrokerUnavailable(
                    f"cannot read the end offset of {topic}[{partition}]: {exc}"
                ) from None
            listed[(topic, partition)] = (max(low, 0), max(high, 0))
        # Fetch from one before the listed end: the response carries the true high watermark.
        assignment = [
            TopicPartition(t, p, max(low, high - 1)) for (t, p), (low, high) in listed.items()
        ]
        self.consumer.assign(assignment)
        answered: set[Key] = set()
        deadline = time.monotonic() + timeout
        try:
            while len(answered) < len(keys) and time.monotonic() < deadline:
                for message in self.consumer.consume(10_000, 0.05):
                    error = message.error()
                    if error is not None and error.code() != KafkaError._PARTITION_EOF:
                        continue
                    answered.add((str(message.topic()), int(message.partition() or 0)))
            result: dict[Key, EndOffset] = {}
            for key, (low, high) in listed.items():
                cached_low, cached_high = self.consumer.get_watermark_offsets(
                    TopicPartition(*key), cached=True
                )
                if key in answered and cached_high >= 0:
                    result[key] = EndOffset(
                        max(cached_low, 0) if cached_low >= 0 else low, cached_high, True, high
                    )
                else:
                    result[key] = EndOffset(low, high, False, high)
            return result
        finally:
            self.consumer.unassign()

    def close(self) -> None:
        self.consumer.close()


def end_offsets(
    settings: KafkaSettings, partitions: Iterable[TopicPartition | Key], timeout: float = 5.0
) -> dict[Key, EndOffset]:
    """Exact end offsets of ``partitions`` (see the module docstring)."""
    probe = EndOffsetProbe(settings)
    try:
        return probe.end_offsets(partitions, timeout)
    finally:
        probe.close()


def _admin(settings: KafkaSettings) -> AdminClient:
    return AdminClient(settings.admin_config())


def _state_name(state: object) -> str:
    name = getattr(state, "name", None) or str(state)
    return name.lower().replace("preparing_rebalancing", "rebalancing")


def committed_offsets(
    settings: KafkaSettings, group: str, *, admin: AdminClient | None = None, timeout: float = 10.0
) -> dict[Key, int]:
    """Every offset ``group`` has committed, by topic and partition."""
    admin = admin or _admin(settings)
    futures = admin.list_consumer_group_offsets(
        [ConsumerGroupTopicPartitions(group)], request_timeout=timeout
    )
    try:
        result = futures[group].result(timeout)
    except KafkaException as exc:
        raise BrokerUnavailable(
            f"cannot read the committed offsets of group {group!r} from "
            f"{settings.bootstrap_servers}: {exc}"
        ) from None
    return {
        (tp.topic, tp.partition): tp.offset
        for tp in result.topic_partitions or []
        if tp.offset != OFFSET_INVALID and tp.offset >= 0 and tp.error is None
    }


def list_groups(
    settings: KafkaSettings,
    *,
    admin: AdminClient | None = None,
    timeout: float = 10.0,
    offsets: dict[str, dict[Key, int]] | None = None,
    with_topics: bool = True,
) -> list[GroupInfo]:
    """Every consumer group the cluster knows, with state, members and topics
    (``offsets``, when given, receives each group's committed offsets read on the way).
    ``with_topics=False`` leaves topics empty and asks no offsets through the admin API
    (long-running readers: see :mod:`widget_factory.kafka_io.committed`).

    Members come from DescribeConsumerGroups, which some brokers answer without members
    (the embedded one always does); a group whose state is unknown gets None.
    """
    admin = admin or _admin(settings)
    try:
        listing = admin.list_consumer_groups(request_timeout=timeout).result(timeout)
    except KafkaException as exc:
        raise BrokerUnavailable(
            f"cannot list consumer groups on {settings.bootstrap_servers}: {exc}"
        ) from None
    groups = sorted(listing.valid or [], key=lambda g: g.group_id)
    members: dict[str, int] = {}
    described_states: dict[str, str] = {}
    if groups:
        try:
            descriptions = admin.describe_consumer_groups(
                [g.group_id for g in groups], request_timeout=timeout
            )
            for group_id, future in descriptions.items():
                try:
                    description = future.result(timeout)
                except KafkaException:
                    continue
                members[group_id] = len(description.members or [])
                described_states[group_id] = _state_name(description.state)
        except KafkaException as exc:
            log.debug("describe_consumer_groups failed: %s", exc)
    infos = []
    for group in groups:
        state = _state_name(group.state)
        if state == "unknown":
            count = None
        else:
            state = described_states.get(group.group_id, state)
            count = members.get(group.group_id)
        if not with_topics:
            infos.append(GroupInfo(group.group_id, state, count, ()))
            continue
        committed = committed_offsets(settings, group.group_id, admin=admin)
        if offsets is not None:
            offsets[group.group_id] = committed
        topics = sorted({t for t, _ in committed})
        infos.append(GroupInfo(group.group_id, state, count, tuple(topics)))
    return infos


def lag_rows(
    committed: Mapping[Key, int], ends: Mapping[Key, EndOffset], partitions: Iterable[Key]
) -> list[PartitionLag]:
    """Lag per partition from committed offsets and end offsets (pure)."""
    rows = []
    for key in sorted(set(partitions)):
        end = ends.get(key)
        if end is None:
            continue
        rows.append(
            PartitionLag(
                key[0], key[1], committed.get(key), end.high, end.low, end.exact, end.listed
            )
        )
    return rows


def group_lag(
    settings: KafkaSettings,
    group: str,
    *,
    probe: EndOffsetProbe | None = None,
    admin: AdminClient | None = None,
    timeout: float = 5.0,
) -> LagReport:
    """Lag of ``group`` on every partition it has committed on, and on every partition of
    the topics a factory group reads (uncommitted ones count from the log start)."""
    committed = committed_offsets(settings, group, admin=admin)
    own_probe = probe is None
    probe = probe or EndOffsetProbe(settings)
    try:
        topics = sorted({t for t, _ in committed} | set(FACTORY_GROUPS.get(group, ())))
        # Partitions that exist (offsets committed on a deleted topic are left out).
        keys = {(tp.topic, tp.partition) for tp in probe.partitions(topics)}
        ends = probe.end_offsets(keys, timeout)
    finally:
        if own_probe:
            probe.close()
    return LagReport(group, lag_rows(committed, ends, keys))


def group_lags(
    settings: KafkaSettings,
    groups: Sequence[str],
    *,
    probe: EndOffsetProbe,
    admin: AdminClient | None = None,
    committed: Mapping[str, Mapping[Key, int]] | None = None,
    timeout: float = 5.0,
) -> list[LagReport]:
    """:func:`group_lag` of several groups with one metadata request and one round of
    end offsets for all of them (``groups`` answers within its budget that way).
    ``committed``: offsets already read (by :func:`list_groups`), not asked again."""
    known = dict(committed or {})
    for group in groups:
        if group not in known:
            known[group] = committed_offsets(settings, group, admin=admin)
    wanted = {
        group: sorted({t for t, _ in known[group]} | set(FACTORY_GROUPS.get(group, ())))
        for group in groups
    }
    every_topic = sorted({t for topics in wanted.values() for t in topics})
    existing = {(tp.topic, tp.partition) for tp in probe.partitions(every_topic)}
    ends = probe.end_offsets(existing, timeout) if existing else {}
    reports = []
    for group in groups:
        keys = {key for key in existing if key[0] in wanted[group]}
        reports.append(LagReport(group, lag_rows(known[group], ends, keys)))
    return reports
