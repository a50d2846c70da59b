"""Inventory: the stock ledger on ``inventory-updates``.

Run alone with ``widget-factory inventory`` (``python inventory_simulator.py`` from this
folder). Reads ``component-production``, ``widget-assembly`` and ``quality-control`` in
group ``inventory`` and writes one InventoryUpdate per movement: a component produced
(+1) or consumed by assembly (-1), a widget assembled (+1) or rejected by QC (-1).

A restarted ledger first replays its own topic, so its running ``current_stock``
continues exactly; movements it had already written are recognised and not repeated.
Offsets are committed only behind records whose movements are written, and never past a
record whose movement waits for an event from another topic (a widget read before its
components): a crash re-reads them rather than losing them.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections.abc import Hashable
from pathlib import Path
from typing import Any

if __name__ == "__main__" and not __package__:  # run as a script from the package folder
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from confluent_kafka import Consumer, Message, TopicPartition

from widget_factory.compat import ReadUpgrades, read_notes
from widget_factory.core.ledger import InventoryLedger
from widget_factory.core.lockstep import EventTimeQueue
from widget_factory.kafka_io.client import BrokerHealth, EventProducer
from widget_factory.kafka_io.dead_letters import DeadLetters
from widget_factory.kafka_io.group_watch import GroupWatch, watched_consumer
from widget_factory.kafka_io.intake import Intake, routed_before
from widget_factory.kafka_io.offsets import OffsetTracker, at_end, commit
from widget_factory.kafka_io.reader import read_to_end
from widget_factory.kafka_io.shutdown import Shutdown
from widget_factory.kafka_io.topics import (
    COMPONENT_PRODUCTION,
    INVENTORY_UPDATES,
    QUALITY_CONTROL,
    WIDGET_ASSEMBLY,
)
from widget_factory.processes.lifecycle import Lifecycle, ServiceOptions, describe_speed
from widget_factory.schemas import (
    ComponentProduced,
    InventoryUpdate,
    QualityCheck,
    SchemaError,
    WidgetAssembled,
    decode_as,
)

__all__ = ["InventoryService", "INVENTORY_GROUP", "main"]

log = logging.getLogger("inventory")

INVENTORY_GROUP = "inventory"
_COMMIT_EVERY_S = 0.25
"""Committed offsets trail the inputs by at most this (plus a fetch wait); the flush
before a commit only happens when offsets moved, so an idle ledger sends nothing."""
_END_IDLE_S = 10.0
"""Run alone with --duration, the ledger stops this long after its last record past the
end time (``run`` drains it explicitly instead)."""
_SUMMARY_EVERY_S = 10.0
_RANKS = {COMPONENT_PRODUCTION: 0, WIDGET_ASSEMBLY: 1, QUALITY_CONTROL: 2}
"""At one instant a component is produced before a widget uses it, which is built
before it is checked."""
Source = tuple[str | None, int | None, int | None]


class InventoryService:
    def __init__(self, options: ServiceOptions, lifecycle: Lifecycle | None = None) -> None:
        self.options = options
        self.lifecycle = lifecycle or Lifecycle()
        self.clock = options.clock()
        self.ledger = InventoryLedger(options.config.assembly.warehouse)
        self.health = BrokerHealth.watching("inventory", options.settings)
        self.producer = EventProducer(
            options.settings,
            client_id="inventory",
            health=self.health,
            stopping=self.lifecycle.stopping,
        )
        self.dead_letters = DeadLetters(self.producer, "inventory")
        self.upgrades = ReadUpgrades(log)
        self.intake = Intake(self.dead_letters, self.clock.now, options.config)
        self.offsets = OffsetTracker()
        self.consumer: Consumer | None = None
        self.group: GroupWatch | None = None
        self.updates = 0
        self._pending: set[Hashable] = set()
        self.queue: EventTimeQueue[tuple[Any, Source]] | None = (
            EventTimeQueue() if options.lockstep else None
        )
        """Lockstep: movements applied in event-time order across every input partition
        (running stock levels then come out the same on every run)."""
        self._partition_time: dict[tuple[str, int], float] = {}
        self._last_input = time.monotonic()

    def restore(self) -> None:
        restored = unreadable = 0
        for message in read_to_end(
            self.options.settings, [INVENTORY_UPDATES], client_id="inventory-restore"
        ):
            try:
                self.ledger.restore(decode_as(message.value() or b"", InventoryUpdate))
                restored += 1
            except SchemaError as exc:
                # its own topic, re-read at every start: counted and said, not dead-lettered
                # again at each restart (the audit lists it until a dead letter accounts for it)
                unreadable += 1
                log.warning(
                    "restore: skipping unreadable %s[%d]@%d: %s",
                    INVENTORY_UPDATES,
                    message.partition(),
                    message.offset(),
                    exc,
                )
        if restored or unreadable:
            log.info(
                "Restored the ledger from %d updates%s: %s",
                restored,
                f" ({unreadable} unreadable skipped)" if unreadable else "",
                self._stock_line(),
            )

    def _stock_line(self) -> str:
        stock = self.ledger.stock()
        return ", ".join(f"{sku} {n}" for sku, n in sorted(stock.items())) or "empty"

    def _receive(self, message: Message) -> None:
        topic, partition, offset = message.topic(), message.partition(), message.offset()
        self.offsets.consumed(topic, partition, offset, open_=True)
        source = (topic, partition, offset)
        value = message.value() or b""
        event: ComponentProduced | WidgetAssembled | QualityCheck | None = None
        try:
            if topic == COMPONENT_PRODUCTION:
                event = decode_as(value, ComponentProduced, topic=topic, upgrades=self.upgrades)
            elif topic == WIDGET_ASSEMBLY:
                event = decode_as(value, WidgetAssembled, topic=topic, upgrades=self.upgrades)
            else:
                event = decode_as(value, QualityCheck, topic=topic, upgrades=self.upgrades)
            if not self.intake.admit(message, event):
                event = None  # refused (dead-lettered) or a duplicate
        except SchemaError as exc:
            self.dead_letters.route(message, str(exc))
        if event is not None and self.queue is not None:
            at = event.occurred_at.timestamp()
            key = (topic or "", int(partition or 0))
            if at > self._partition_time.get(key, -math.inf):
                self._partition_time[key] = at
            self.queue.push(at, _RANKS.get(topic or "", 2), event.event_id, (event, source))
            return
        self._apply(event, source)

    def _watermark(self) -> float:
        """Lockstep: the event time every assigned partition has reached (each is in
        event-time order); no limit once they are all read to the end while draining."""
        assert self.consumer is not None
        if self.lifecycle.draining and at_end(self.consumer):
            return math.inf
        times = [
            self._partition_time.get((tp.topic, tp.partition), -math.inf)
            for tp in self.consumer.assignment()
        ]
        # late delivery (--max-delay): a partition is complete only that far behind
        return min(times, default=-math.inf) - self.options.max_delay_s

    def _apply(
        self, event: ComponentProduced | WidgetAssembled | QualityCheck | None, source: Source
    ) -> None:
        if isinstance(event, ComponentProduced):
            updates = self.ledger.on_component(event, source)
        elif isinstance(event, WidgetAssembled):
            updates = self.ledger.on_widget(event, source)
        elif isinstance(event, QualityCheck):
            updates = self.ledger.on_quality(event, source)
        else:
            updates = []
        self.producer.send_all(INVENTORY_UPDATES, updates)
        self.updates += len(updates)
        if updates:
            self.clock.observe(updates[-1].updated_at.timestamp())
        self._pending.add(source)
        for conflict in self.ledger.take_conflicts():
            log.warning("Inventory conflict: %s", conflict)

    def _settle_offsets(self) -> None:
        """Close every consumed record whose movements are all written (none deferred)."""
        waiting = self.ledger.pending_sources()
        settled = self._pending - waiting
        for topic, partition, offset in settled:  # type: ignore[misc]
            self.offsets.close(topic, partition, offset)
        self._pending = set(waiting) & self._pending

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._settle_offsets()
        if self.producer.flush(5) == 0:
            commit(consumer, self.offsets, sync=True)
        self.offsets.forget(partitions)

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.offsets.forget(partitions)

    def run(self) -> int:
        log.info(
            "Inventory ledger on %s, %s",
            self.options.settings.describe(),
            describe_speed(self.options),
        )
        self.restore()
        self.dead_letters.routed = routed_before(self.options.settings, "inventory")
        self.group = watched_consumer(
            self.options.settings,
            INVENTORY_GROUP,
            [COMPONENT_PRODUCTION, WIDGET_ASSEMBLY, QUALITY_CONTROL],
            client_id="inventory",
            health=self.health,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )
        self.consumer = self.group.consumer
        last_commit = last_summary = time.monotonic()
        try:
            while self.lifecycle.running:
                messages = self.consumer.consume(2000, 0.1)
                for message in messages:
                    if message.error() is None:
                        self._receive(message)
                if self.queue is not None:
                    for _at, (event, source) in self.queue.pop_until(self._watermark()):
                        self._apply(event, source)
                if messages:
                    self._last_input = time.monotonic()
                    self.health.on_traffic()
                self.producer.poll(0)
                self.health.check(self.producer)
                if self.health.down_since is None:
                    self.group.check()
                wall = time.monotonic()
                if wall - last_commit >= _COMMIT_EVERY_S:
                    last_commit = wall
                    self._settle_offsets()
                    if (
                        not self.health.unresponsive
                        and self.offsets.has_pending()
                        and self.producer.flush(1.0) == 0
                    ):
                        commit(self.consumer, self.offsets)
                if wall - last_summary >= _SUMMARY_EVERY_S:
                    last_summary = wall
                    log.info("Stock: %s%s", self._stock_line(), read_notes(self.upgrades, 0))
                if (
                    self.options.end is not None
                    and self.clock.now() >= self.options.end
                    and wall - self._last_input > _END_IDLE_S
                ):
                    self.lifecycle.drain()  # alone with --duration: upstream has gone quiet
                if (
                    self.lifecycle.draining
                    and wall - self._last_input > 0.5
                    and at_end(self.consumer)
                    and not self.queue
                    and self.group.all_read()
                ):
                    break
        finally:
            self._shutdown()
        return 0

    def _shutdown(self) -> None:
        self._settle_offsets()
        stop = Shutdown("inventory")
        flushed = stop.flush(self.producer)
        if self.consumer is not None:
            stop.finish_consumer(self.consumer, self.offsets if flushed else None)
        log.info(
            "Inventory stopped: %d updates written, %d movements waiting; stock: %s%s",
            self.updates,
            self.ledger.deferred,
            self._stock_line(),
            read_notes(self.upgrades, self.dead_letters.count),
        )


def main(argv: list[str] | None = None) -> int:
    from widget_factory.cli import main as cli_main

    return cli_main(["inventory", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
