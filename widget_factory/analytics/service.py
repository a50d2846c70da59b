"""``widget-factory analytics``: the analytics core between the factory's topics and
``factory-metrics``.

Reads components, widgets, quality checks, telemetry and inventory updates from the
beginning of every partition (no state to restore: a restart recomputes from what the
topics retain), closes windows as the inputs' frontiers allow, and publishes each closed
window's metrics once: windows already on ``factory-metrics`` (read at start) are not
sent again. Progress is committed under the group ``factory-analytics`` so lag tools
show it. ``--until-idle`` (or SIGUSR1, as ``run`` sends at the end of a bounded run)
closes the last, partial windows once every input is read and quiet, and exits.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from widget_factory.analytics.event_order import AnalyticsInOrder, metric_order
from widget_factory.compat import ReadUpgrades, read_notes
from widget_factory.core.analytics_windows import (
    DEFAULT_LATENESS_S,
    DEFAULT_WINDOW_S,
    FactoryAnalytics,
)
from widget_factory.core.clock import format_sim_duration
from widget_factory.core.metric_records import Metric, decode_metric, encode_metric
from widget_factory.core.windows import topic_frontier, window_start
from widget_factory.factory_config import FactoryConfig
from widget_factory.kafka_io.client import BrokerHealth, EventProducer
from widget_factory.kafka_io.cluster_identity import cluster_was_replaced
from widget_factory.kafka_io.dead_letters import DeadLetters
from widget_factory.kafka_io.follower import TopicFollower
from widget_factory.kafka_io.reader import read_to_end
from widget_factory.kafka_io.settings import KafkaSettings
from widget_factory.kafka_io.topics import (
    COMPONENT_PRODUCTION,
    FACTORY_METRICS,
    INVENTORY_UPDATES,
    MACHINE_TELEMETRY,
    QUALITY_CONTROL,
    WIDGET_ASSEMBLY,
)
from widget_factory.processes.lifecycle import Lifecycle
from widget_factory.schemas import (
    ComponentProduced,
    Event,
    InventoryUpdate,
    MachineTelemetry,
    QualityCheck,
    SchemaError,
    WidgetAssembled,
    decode_as,
)

__all__ = ["AnalyticsOptions", "AnalyticsService", "ANALYTICS_GROUP", "SOURCE_TOPICS"]

log = logging.getLogger("analytics")

ANALYTICS_GROUP = "factory-analytics"

SOURCE_TOPICS: dict[str, str] = {
    COMPONENT_PRODUCTION: "components",
    WIDGET_ASSEMBLY: "widgets",
    QUALITY_CONTROL: "checks",
    MACHINE_TELEMETRY: "telemetry",
    INVENTORY_UPDATES: "inventory",
}
"""Input topic -> the engine's source name."""


@dataclass(frozen=True)
class AnalyticsOptions:
    settings: KafkaSettings
    config: FactoryConfig
    window_s: float = DEFAULT_WINDOW_S
    lateness_s: float = DEFAULT_LATENESS_S
    until_idle: bool = False
    idle_s: float = 2.0
    """Wall seconds without new records, every partition read to its end, before an
    input counts as quiet (its frontier becomes the newest event time it sent)."""
    hold_empty_s: float = 0.0
    """Wall seconds from the start during which an input topic or partition with no data
    yet holds the windows that depend on it (``run`` sets it: every input's producer is
    part of the run, so an empty input is one whose first records are still to come)."""
    quiet_completes: bool = True
    """A quiet input counts as complete up to its newest event. ``run`` at ``--speed max``
    turns it off: its producers run ahead in virtual time faster than a reader learns of
    their records, so a pause in reading says nothing; the drain closes the last windows."""
    hold_to_end: bool = False
    """No window closes before the end (the drain, or ``until_idle``). Scaled out in
    virtual time, station processes run up to hours apart in simulated time and each
    writes to every partition of ``widget-assembly`` (and so, through quality control and
    inventory, of their topics too): a partition's newest event says nothing about what
    another process has still to send, and any frontier would make records late."""
    event_time_order: bool = False
    """Lockstep (``run`` at --speed max): inputs in event-time order, never late."""


class AnalyticsService:
    def __init__(self, options: AnalyticsOptions, lifecycle: Lifecycle | None = None) -> None:
        self.options = options
        self.lifecycle = lifecycle or Lifecycle()
        self.engine = FactoryAnalytics(
            options.config, window_s=options.window_s, lateness_s=options.lateness_s
        )
        self.health = BrokerHealth.watching("analytics", options.settings)
        self.producer = EventProducer(
            options.settings,
            client_id="analytics",
            health=self.health,
            stopping=self.lifecycle.stopping,
        )
        self.dead_letters = DeadLetters(self.producer, "analytics")
        self.upgrades = ReadUpgrades(log)
        self.published: set[str] = set()
        self._boundary: float | None = None
        """Lockstep: the window boundary the engine has been advanced to."""
        self.in_order = (
            AnalyticsInOrder(options.config, {t: i for i, t in enumerate(SOURCE_TOPICS)})
            if options.event_time_order
            else None
        )
        self.sent = 0
        self.skipped = 0
        self._started = time.monotonic()
        e = self.engine
        self._adders: dict[str, tuple[type[Event], Callable[[Any], None]]] = {
            COMPONENT_PRODUCTION: (ComponentProduced, e.add_component),
            WIDGET_ASSEMBLY: (WidgetAssembled, e.add_widget),
            QUALITY_CONTROL: (QualityCheck, e.add_check),
            MACHINE_TELEMETRY: (MachineTelemetry, e.add_telemetry),
            INVENTORY_UPDATES: (InventoryUpdate, e.add_inventory),
        }

    def _already_published(self) -> None:
        """Windows a previous run of this service published: not sent again."""
        for message in read_to_end(
            self.options.settings, [FACTORY_METRICS], client_id="analytics-restore"
        ):
            try:
                self.published.add(decode_metric(message.value() or b"").event_id)
            except Exception:  # noqa: BLE001 - someone else's record on our topic
                continue
        if self.published:
            log.info(
                "%d windows already on %s: recomputing, sending only new ones",
                len(self.published),
                FACTORY_METRICS,
            )

    def _publish(self, metrics: list[Metric]) -> None:
        for metric in metrics:
            if metric.event_id in self.published:
                self.skipped += 1
                continue
            self.published.add(metric.event_id)
            self.producer.send_raw(
                FACTORY_METRICS,
                metric.kafka_key.encode(),
                encode_metric(metric),
                metric.timestamp_ms,
            )
            self.sent += 1
        self.producer.poll(0)

    def _advance_in_order(self, follower: TopicFollower, everything: bool = False) -> None:
        """Lockstep: window by window up to the inputs' common time (everything: until no
        event is left), the events before each boundary plus the lateness bound, then the
        windows ending at the boundary. What a window holds and lists (machines, stations,
        SKUs) then depends only on the events before that time, never on how far a call
        went."""
        assert self.in_order is not None
        queue = self.in_order.queue
        size = self.options.window_s
        lateness = self.options.lateness_s
        # An input is complete only up to its newest event time less the lateness bound:
        # records may arrive up to that far out of order (late delivery from the
        # producers' edge gateways, core/edge_gateway.py). With a bound at least their
        # largest delay, every window gets exactly what it would without any.
        until = (
            math.inf
            if everything
            else self.in_order.watermark({t: follower.progress(t) for t in SOURCE_TOPICS})
            - lateness
        )
        while queue or not everything:
            if self._boundary is None:
                if not queue:
                    return
                self._boundary = window_start(queue.next_time(), size)
            boundary = self._boundary + size
            if boundary + lateness > until:
                return
            # the lateness bound still applies: a telemetry report accounts for the time
            # since its machine's previous one, which may lie before the boundary
            for topic, event in self.in_order.release(
                math.nextafter(boundary + lateness, -math.inf)
            ):
                self._adders[topic][1](event)
            closed = self.engine.advance(dict.fromkeys(SOURCE_TOPICS.values(), boundary + lateness))
            self._publish(sorted(closed, key=metric_order))
            self._boundary = boundary

    def frontiers(self, follower: TopicFollower) -> dict[str, Any]:
        o = self.options
        hold_empty = time.monotonic() - self._started < o.hold_empty_s
        return {
            source: topic_frontier(
                follower.progress(topic),
                o.quiet_completes and follower.quiet(topic, o.idle_s),
                hold_empty=hold_empty,
            )
            for topic, source in SOURCE_TOPICS.items()
        }

    def _all_quiet(self, follower: TopicFollower) -> bool:
        return all(
            follower.quiet(topic, self.options.idle_s)
            for topic in SOURCE_TOPICS
            if follower.assigned(topic)
        ) and any(follower.assigned(topic) for topic in SOURCE_TOPICS)

    def run(self) -> int:
        o = self.options
        log.info(
            "Analytics on %s: %s tumbling windows in simulated time, lateness bound %s%s",
            o.settings.describe(),
            format_sim_duration(o.window_s),
            format_sim_duration(o.lateness_s),
            "; stops once every input is read and quiet" if o.until_idle else "",
        )
        if o.hold_to_end:
            log.info("Windows held to the end: the inputs' partitions are not in time order")
        self._already_published()
        follower = TopicFollower(
            o.settings,
            list(SOURCE_TOPICS),
            client_id="analytics",
            group_id=ANALYTICS_GROUP,
            health=self.health,
        )
        last_advance = last_log = last_commit = time.monotonic()
        try:
            while self.lifecycle.running:
                for message in follower.poll(5000, 0.1):
                    adder = self._adders.get(str(message.topic()))
                    if adder is None:
                        continue
                    event_type, add = adder
                    try:
                        event = decode_as(
                            message.value() or b"",
                            event_type,
                            topic=str(message.topic()),
                            upgrades=self.upgrades,
                        )
                    except SchemaError as exc:
                        self.dead_letters.route(message, str(exc))
                        continue
                    if self.in_order is not None:
                        self.in_order.add(str(message.topic()), event)
                    else:
                        add(event)
                    follower.observe(message, event.occurred_at.timestamp())
                now = time.monotonic()
                self.health.check(self.producer)
                if self.in_order is not None and now - last_advance >= 0.2:
                    last_advance = now
                    self._advance_in_order(follower)
                elif now - last_advance >= 0.2 and not o.hold_to_end:
                    last_advance = now
                    self._publish(self.engine.advance(self.frontiers(follower)))
                if now - last_commit >= 0.25:  # lag tools show it as current as the factory
                    last_commit = now
                    follower.commit()
                if now - last_log >= 10.0:
                    last_log = now
                    self._summary()
                if (o.until_idle or self.lifecycle.draining) and self._all_quiet(follower):
                    if self.in_order is not None:
                        # the rest, in the same order whichever time lockstep had reached
                        self._advance_in_order(follower, everything=True)
                        rest = self.engine.advance(self.frontiers(follower)) + self.engine.flush()
                        self._publish(sorted(rest, key=metric_order))
                        break
                    self._publish(self.engine.advance(self.frontiers(follower)))
                    self._publish(self.engine.flush())
                    break
        finally:
            remaining = len(self.producer) if cluster_was_replaced() else self.producer.flush(10)
            follower.close()
            self._summary(final=True, undelivered=remaining)
        return 0

    def _summary(self, final: bool = False, undelivered: int = 0) -> None:
        late = {k: v for k, v in self.engine.late_counts().items() if v}
        log.info(
            "Analytics%s: %d events read, %d metrics published%s, %d windows open%s%s%s",
            " stopped" if final else "",
            self.engine.events,
            self.sent,
            f" ({self.skipped} already there)" if self.skipped else "",
            self.engine.open_windows(),
            f", late events: {', '.join(f'{k} {v}' for k, v in late.items())}" if late else "",
            f", {undelivered} undelivered" if undelivered else "",
            read_notes(self.upgrades, self.dead_letters.count),
        )
