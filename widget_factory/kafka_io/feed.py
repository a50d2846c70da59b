"""Feeds a :class:`~widget_factory.core.factory_view.FactoryView` from the topics, for
the monitor: follows them without a group (a
:class:`~widget_factory.kafka_io.follower.TopicFollower`), tracks throughput and every
group's lag.

Start positions keep a long-running factory cheap to join: telemetry and alerts from
just before their ends (the latest status of every machine and the last alerts), the
order book, widgets, checks and inventory from the beginning (totals and the latest
stock of every SKU), components and the rest from their ends (only counted, through
their end offsets).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping

from confluent_kafka.admin import AdminClient

from widget_factory.core.factory_view import FactoryView, GroupLag, RateMeter
from widget_factory.errors import BrokerUnavailable
from widget_factory.kafka_io.committed import GroupOffsets
from widget_factory.kafka_io.follower import Start, TopicFollower
from widget_factory.kafka_io.lag import FACTORY_GROUPS, list_groups
from widget_factory.kafka_io.settings import KafkaSettings
from widget_factory.kafka_io.topics import (
    COMPONENT_PRODUCTION,
    FACTORY_ALERTS,
    FACTORY_COMMANDS,
    FACTORY_DEADLETTER,
    FACTORY_METRICS,
    INVENTORY_UPDATES,
    MACHINE_TELEMETRY,
    PRODUCTION_ORDERS,
    QUALITY_CONTROL,
    WIDGET_ASSEMBLY,
)
from widget_factory.schemas import (
    Event,
    FactoryAlert,
    InventoryUpdate,
    MachineTelemetry,
    ProductionOrder,
    QualityCheck,
    SchemaError,
    WidgetAssembled,
    decode_as,
)

__all__ = ["FEED_STARTS", "FactoryFeed"]

log = logging.getLogger(__name__)

FEED_STARTS: dict[str, Start] = {
    MACHINE_TELEMETRY: 200,
    COMPONENT_PRODUCTION: "end",
    WIDGET_ASSEMBLY: "beginning",
    QUALITY_CONTROL: "beginning",
    INVENTORY_UPDATES: "beginning",
    PRODUCTION_ORDERS: "beginning",
    FACTORY_ALERTS: 50,
    FACTORY_COMMANDS: "end",
    FACTORY_METRICS: "end",
    FACTORY_DEADLETTER: "end",
}

_DECODED: dict[str, type[Event]] = {
    MACHINE_TELEMETRY: MachineTelemetry,
    WIDGET_ASSEMBLY: WidgetAssembled,
    QUALITY_CONTROL: QualityCheck,
    INVENTORY_UPDATES: InventoryUpdate,
    PRODUCTION_ORDERS: ProductionOrder,
    FACTORY_ALERTS: FactoryAlert,
}

_GROUP_LIST_EVERY_S = 10.0


class FactoryFeed:
    def __init__(
        self,
        settings: KafkaSettings,
        starts: Mapping[str, Start] = FEED_STARTS,
        *,
        view: FactoryView | None = None,
    ) -> None:
        self.settings = settings
        self.view = view or FactoryView()
        self.rates = RateMeter()
        self.watcher = TopicFollower.from_starts(settings, starts, client_id="monitor")
        self.topics = [t for t in starts if any(p[0] == t for p in self.watcher.partitions)]
        self.unreadable = 0
        self._admin = AdminClient(settings.admin_config())
        """Only lists groups (every ``_GROUP_LIST_EVERY_S``); their offsets come from
        :class:`GroupOffsets` (no admin offset requests in a long loop)."""
        self._offsets = GroupOffsets(settings, client_id="monitor-lag")
        self._groups: list[str] = list(FACTORY_GROUPS)
        self._groups_listed = 0.0

    def pump(self, seconds: float) -> int:
        """Read and fold events for about ``seconds``; returns how many were read."""
        deadline = time.monotonic() + seconds
        count = 0
        while True:
            messages = self.watcher.poll(5000, min(0.1, max(0.0, deadline - time.monotonic())))
            for message in messages:
                event_type = _DECODED.get(str(message.topic()))
                if event_type is None:
                    continue
                try:
                    self.view.apply(decode_as(message.value() or b"", event_type))
                except SchemaError:
                    self.unreadable += 1
            count += len(messages)
            if time.monotonic() >= deadline:
                return count

    def catch_up(self, timeout: float = 60.0) -> None:
        """Read every partition up to the end it had when the feed started (for
        ``--once``, and the first screen of the live view): a fixed target, reached
        even while the factory keeps writing."""
        deadline = time.monotonic() + timeout
        while not self.watcher.reached_targets():
            if time.monotonic() > deadline:
                raise BrokerUnavailable(
                    f"could not read the factory's topics to their end within {timeout:.0f} s"
                )
            self.pump(0.2)

    def sample_rates(self) -> None:
        self.rates.add(time.monotonic(), self.watcher.ends())

    def lags(self) -> list[GroupLag]:
        """Every group's lag on the topics this feed watches (exact ends: fetch watermarks)."""
        now = time.monotonic()
        if now - self._groups_listed >= _GROUP_LIST_EVERY_S:
            self._groups_listed = now
            try:
                listed = [
                    g.group_id
                    for g in list_groups(self.settings, admin=self._admin, with_topics=False)
                ]
            except BrokerUnavailable as exc:
                log.debug("listing groups failed: %s", exc)
                listed = []
            self._groups = list(dict.fromkeys([*FACTORY_GROUPS, *sorted(listed)]))
            self._offsets.retain(self._groups)
        ends = self.watcher.ends()
        self._offsets.prepare(self._groups)
        result = []
        for group in self._groups:
            try:
                committed = self._offsets.committed(group, ends, timeout=5)
            except BrokerUnavailable:
                continue
            topics = set(FACTORY_GROUPS.get(group, ())) | {t for t, _ in committed}
            by_topic: dict[str, int] = {}
            for key, end in ends.items():
                if key[0] not in topics:
                    continue
                start = committed.get(key, 0)
                by_topic[key[0]] = by_topic.get(key[0], 0) + max(0, end - start)
            if not committed and group not in FACTORY_GROUPS:
                continue
            result.append(GroupLag(group, sum(by_topic.values()), by_topic, bool(committed)))
        return result

    def close(self) -> None:
        try:
            self._offsets.close()
        finally:
            self.watcher.close()
