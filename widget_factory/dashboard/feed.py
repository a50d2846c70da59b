"""The dashboard's Kafka side: follow the factory's topics into a ``DashboardState``,
measure lag per consumer group, and send orders and machine commands.

Commands are validated here against the factory's configuration before anything is
produced: an unknown widget type or machine, or an absurd quantity, is refused with a
message for the page.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from widget_factory.analytics.service import ANALYTICS_GROUP, SOURCE_TOPICS
from widget_factory.compat import SkippedRecords
from widget_factory.core.ids import IdSource
from widget_factory.core.metric_records import decode_metric
from widget_factory.core.orders import make_order
from widget_factory.dashboard.state import DashboardState
from widget_factory.factory_config import FactoryConfig
from widget_factory.kafka_io.client import EventProducer
from widget_factory.kafka_io.committed import GroupOffsets
from widget_factory.kafka_io.follower import TopicFollower
from widget_factory.kafka_io.settings import KafkaSettings
from widget_factory.kafka_io.topics import (
    COMPONENT_PRODUCTION,
    FACTORY_ALERTS,
    FACTORY_COMMANDS,
    FACTORY_GROUND_TRUTH,
    FACTORY_METRICS,
    INVENTORY_UPDATES,
    MACHINE_TELEMETRY,
    PRODUCTION_ORDERS,
    QUALITY_CONTROL,
    WIDGET_ASSEMBLY,
)
from widget_factory.schemas import FactoryCommand, SchemaError, decode

__all__ = ["DashboardFeed", "CommandRejected", "GROUPS", "MAX_ORDER_QUANTITY"]

log = logging.getLogger("dashboard")

GROUPS: dict[str, tuple[str, ...]] = {
    "assembly-stations": (COMPONENT_PRODUCTION, PRODUCTION_ORDERS),
    "quality-control": (WIDGET_ASSEMBLY,),
    "inventory": (COMPONENT_PRODUCTION, WIDGET_ASSEMBLY, QUALITY_CONTROL),
    ANALYTICS_GROUP: tuple(SOURCE_TOPICS),
}
"""Consumer groups whose lag the page shows, and the topics each reads."""

TOPICS = (
    MACHINE_TELEMETRY,
    COMPONENT_PRODUCTION,
    WIDGET_ASSEMBLY,
    QUALITY_CONTROL,
    INVENTORY_UPDATES,
    PRODUCTION_ORDERS,
    FACTORY_ALERTS,
    FACTORY_METRICS,
    FACTORY_COMMANDS,
    FACTORY_GROUND_TRUTH,
)

MAX_ORDER_QUANTITY = 1000
COMMANDS = {"anomaly": "inject_anomaly", "stop": "stop_machine", "start": "start_machine"}


class CommandRejected(ValueError):
    """A control request the factory cannot take; the message says why."""


class DashboardFeed:
    def __init__(
        self,
        settings: KafkaSettings,
        config: FactoryConfig,
        state: DashboardState,
        *,
        lag_every_s: float = 2.0,
    ) -> None:
        self.settings = settings
        self.config = config
        self.state = state
        self.lag_every_s = lag_every_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._producer: EventProducer | None = None
        self._producer_lock = threading.Lock()
        self._ids = IdSource(random.Random())
        self.error: str | None = None

    # --- following -------------------------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="dashboard-feed", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            follower = TopicFollower(self.settings, TOPICS, client_id="dashboard")
        except Exception as exc:  # noqa: BLE001 - shown on the page, logged once
            self.error = str(exc)
            log.error("dashboard: cannot follow the factory: %s", exc)
            return
        offsets = GroupOffsets(self.settings, client_id="dashboard-lag")

        def committed(group: str) -> dict[tuple[str, int], int]:
            mine = [key for key in follower.partitions if key[0] in GROUPS[group]]
            return offsets.committed(group, mine, timeout=3)

        last_lag = 0.0
        skipped = SkippedRecords(log, "dashboard")
        try:
            while not self._stop.is_set():
                for message in follower.poll(5000, 0.2):
                    self.state.connected = True
                    value = message.value() or b""
                    try:
                        if message.topic() == FACTORY_METRICS:
                            self.state.add(decode_metric(value))
                        elif message.topic() != FACTORY_COMMANDS:
                            self.state.add(decode(value, topic=str(message.topic())))
                    except (SchemaError, ValueError) as exc:
                        # the services dead-letter what they cannot read; a view says so
                        skipped.add(
                            message.topic(), message.partition(), message.offset(), str(exc)
                        )
                if time.monotonic() - last_lag >= self.lag_every_s:
                    last_lag = time.monotonic()
                    self.state.set_lag(self._lag(follower, committed))
        finally:
            offsets.close()
            follower.consumer.close()

    def _lag(
        self, follower: TopicFollower, committed: Callable[[str], dict[tuple[str, int], int]]
    ) -> dict[str, dict[str, Any]]:
        """Per group: records behind the end (fetch high watermarks: exact), per topic."""
        result: dict[str, dict[str, Any]] = {}
        for group, topics in GROUPS.items():
            try:
                offsets = committed(group)
            except Exception:  # noqa: BLE001 - a broker hiccup: try again next time
                continue
            if not offsets:
                result[group] = {"active": False, "total": None, "topics": {}}
                continue
            by_topic: dict[str, int] = {}
            for key in follower.partitions:
                topic, partition = key
                if topic not in topics:
                    continue
                high = follower.high_watermark(topic, partition)
                if high < 0:
                    continue
                by_topic[topic] = by_topic.get(topic, 0) + max(0, high - offsets.get(key, 0))
            result[group] = {"active": True, "total": sum(by_topic.values()), "topics": by_topic}
        return result

    # --- control ---------------------------------------------------------------------------

    def _send(self, topic: str, event: Any) -> None:
        with self._producer_lock:
            if self._producer is None:
                self._producer = EventProducer(self.settings, client_id="dashboard")
            self._producer.send(topic, event)
            undelivered = self._producer.flush(5)
        if undelivered:
            raise CommandRejected("the broker did not acknowledge it in 5 s; try again")

    def add_order(self, widget_type: Any, quantity: Any, priority: Any) -> dict[str, Any]:
        buildable = sorted({w for s in self.config.stations for w in s.builds})
        if widget_type not in buildable:
            raise CommandRejected(
                f"unknown widget type {widget_type!r} (known: {', '.join(buildable)})"
            )
        quantity = _whole(quantity, "quantity", 1, MAX_ORDER_QUANTITY)
        priority = _whole(priority, "priority", 0, 100)
        # created at the factory's current simulated time, so stations take it at once
        at = self.state.now if self.state.now is not None else time.time()
        order = make_order(self._ids, widget_type, quantity, priority, at)
        self._send(PRODUCTION_ORDERS, order)
        self.state.add(order)
        log.info("Order %s: %dx %s (priority %d)", order.order_id, quantity, widget_type, priority)
        return {
            "ok": True,
            "order_id": order.order_id,
            "message": f"Order {order.order_id}: {quantity}x {widget_type}",
        }

    def machine_command(self, machine_id: str, action: str) -> dict[str, Any]:
        command = COMMANDS.get(action)
        if command is None:
            raise CommandRejected(f"unknown action {action!r} (known: {', '.join(COMMANDS)})")
        known = self.config.all_machine_ids
        if machine_id not in known:
            raise CommandRejected(f"unknown machine {machine_id!r}")
        event = FactoryCommand(
            event_id=self._ids.event_id(),
            command=command,  # type: ignore[arg-type]
            target_id=machine_id,
            issued_at=datetime.now(UTC),
        )
        self._send(FACTORY_COMMANDS, event)
        log.info("Command %s for %s", command, machine_id)
        return {"ok": True, "message": f"{command} sent to {machine_id}"}

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        with self._producer_lock:
            if self._producer is not None:
                self._producer.flush(5)


def _whole(value: Any, name: str, low: int, high: int) -> int:
    if isinstance(value, bool):
        raise CommandRejected(f"{name} must be a whole number")
    try:
        number = int(str(value).strip())
    except ValueError:
        raise CommandRejected(f"{name} must be a whole number, got {value!r}") from None
    if not low <= number <= high:
        raise CommandRejected(f"{name} must be between {low} and {high}, got {number}")
    return number
