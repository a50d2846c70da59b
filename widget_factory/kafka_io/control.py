"""Steering a running factory through Kafka: orders and machine commands.

Orders go to ``production-orders`` (assembly builds them); machine commands go to
``factory-commands`` (the telemetry service owns machine status and applies them).
An order's ``created_at`` is in the factory's simulated time, which this side does not
know: :func:`factory_time` reads it from the newest telemetry record (its Kafka
timestamp is the simulated time of the report).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

from confluent_kafka import KafkaError, Message

from widget_factory.compat import SkippedRecords
from widget_factory.errors import BrokerUnavailable
from widget_factory.kafka_io.client import EventProducer
from widget_factory.kafka_io.follower import TopicFollower
from widget_factory.kafka_io.settings import KafkaSettings
from widget_factory.kafka_io.topics import FACTORY_COMMANDS, MACHINE_TELEMETRY, PRODUCTION_ORDERS
from widget_factory.schemas import (
    FactoryCommand,
    MachineStatus,
    MachineTelemetry,
    ProductionOrder,
    SchemaError,
    decode_as,
)

__all__ = ["Delivery", "FactoryControl", "factory_time", "StatusWatch"]

log = logging.getLogger(__name__)

Delivery = tuple[str, int, int]
"""(topic, partition, offset) of a delivered record."""


def factory_time(settings: KafkaSettings, timeout: float = 3.0) -> float | None:
    """The running factory's simulated time (epoch seconds), from the newest telemetry
    record; None when no telemetry is there."""
    watcher = TopicFollower.from_starts(settings, {MACHINE_TELEMETRY: 1}, client_id="factory-clock")
    latest: float | None = None
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            for message in watcher.poll(1000, 0.1):
                kind, stamp = message.timestamp()
                if kind and stamp > 0:
                    latest = max(latest or 0.0, stamp / 1000.0)
            if watcher.at_end():
                break
    finally:
        watcher.close()
    return latest


class FactoryControl:
    """Sends checked orders and commands, and waits for the broker to acknowledge them."""

    def __init__(self, settings: KafkaSettings, *, client_id: str = "widget-factory-control"):
        self.settings = settings
        self.producer = EventProducer(settings, client_id=client_id)

    def _send(
        self, topic: str, events: Iterable[ProductionOrder | FactoryCommand]
    ) -> list[Delivery]:
        delivered: list[Delivery] = []
        failures: list[str] = []

        def on_delivery(error: KafkaError | None, message: Message) -> None:
            self.producer.count_delivery(error, message)
            if error is None:
                delivered.append(
                    (
                        str(message.topic()),
                        int(message.partition() or 0),
                        int(message.offset() or 0),
                    )
                )
            else:
                failures.append(error.str())

        for event in events:
            self.producer.send(topic, event, on_delivery=on_delivery)
        remaining = self.producer.flush(15)
        if remaining or failures:
            reason = failures[0] if failures else "no acknowledgement within 15 s"
            raise BrokerUnavailable(
                f"could not write to {topic} on {self.settings.bootstrap_servers}: {reason}"
            )
        return delivered

    def send_orders(self, orders: Iterable[ProductionOrder]) -> list[Delivery]:
        return self._send(PRODUCTION_ORDERS, orders)

    def send_commands(self, commands: Iterable[FactoryCommand]) -> list[Delivery]:
        return self._send(FACTORY_COMMANDS, commands)


class StatusWatch:
    """Follows ``machine-telemetry`` from now on, to confirm a command took effect."""

    def __init__(self, settings: KafkaSettings) -> None:
        self._watcher = TopicFollower.from_starts(
            settings, {MACHINE_TELEMETRY: "end"}, client_id="status-watch"
        )
        self.skipped = SkippedRecords(log, "status watch")

    def wait_for(
        self, wanted: dict[str, set[MachineStatus]], timeout: float
    ) -> dict[str, MachineTelemetry]:
        """The first report of each machine of ``wanted`` in one of its statuses, until
        ``timeout`` seconds pass (machines not confirmed are missing from the result)."""
        found: dict[str, MachineTelemetry] = {}
        deadline = time.monotonic() + timeout
        while len(found) < len(wanted) and time.monotonic() < deadline:
            for message in self._watcher.poll(2000, 0.1):
                try:
                    report = decode_as(message.value() or b"", MachineTelemetry)
                except SchemaError as exc:
                    self.skipped.add(
                        message.topic(), message.partition(), message.offset(), str(exc)
                    )
                    continue
                statuses = wanted.get(report.machine_id)
                if statuses and report.status in statuses and report.machine_id not in found:
                    found[report.machine_id] = report
        return found

    def close(self) -> None:
        self._watcher.close()
