"""Widget assembly: stations turn components into widgets, by recipe, order by order.

Run alone with ``widget-factory assembly`` or, from this folder, ``python
widget_assembly_simulator.py``. Consumer group ``assembly-stations`` reads
``component-production`` and ``production-orders``; widgets go to ``widget-assembly``.

Crash safety: every change of the stations' state is written to the changelog topic
(``assembly-stations-changelog``) *before* the widgets it causes are sent, together with
the input positions it covers. A restarted process replays its changelog: stock, orders
and builds in progress come back, and reading resumes right after what was recorded.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

if __name__ == "__main__" and not __package__:  # run as a script from the package folder
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import msgspec
from confluent_kafka import Consumer, KafkaError, Message, TopicPartition

from widget_factory.core.assembly import AssemblyPlanner, BuildRecord, ChangeSet, StepResult
from widget_factory.core.clock import format_sim_duration, to_datetime
from widget_factory.core.ids import IdSource
from widget_factory.core.orders import OrderGenerator
from widget_factory.kafka_io.client import BrokerHealth, DeadLetters, EventProducer, make_consumer
from widget_factory.kafka_io.offsets import OffsetTracker, at_end, commit
from widget_factory.kafka_io.reader import read_to_end
from widget_factory.kafka_io.status import StatusFollower
from widget_factory.kafka_io.topics import (
    ASSEMBLY_CHANGELOG,
    COMPONENT_PRODUCTION,
    FACTORY_ALERTS,
    PRODUCTION_ORDERS,
    WIDGET_ASSEMBLY,
)
from widget_factory.runtime import Lifecycle, LogPacer, ServiceOptions, describe_speed
from widget_factory.schemas import (
    ComponentProduced,
    FactoryAlert,
    ProductionOrder,
    SchemaError,
    decode_as,
)

__all__ = ["WidgetAssemblyService", "ASSEMBLY_GROUP", "main"]

log = logging.getLogger("assembly")

ASSEMBLY_GROUP = "assembly-stations"
_COMMIT_EVERY_S = 1.0
_changeset_decoder = msgspec.json.Decoder(ChangeSet)
_encoder = msgspec.json.Encoder()


class WidgetAssemblyService:
    def __init__(self, options: ServiceOptions, lifecycle: Lifecycle | None = None) -> None:
        self.options = options
        self.lifecycle = lifecycle or Lifecycle()
        self.clock = options.clock()
        config = options.config
        stations = options.stations or tuple(s.id for s in config.stations)
        self.ids = IdSource(options.rng("assembly-ids:" + "+".join(sorted(stations))))
        self.planner = AssemblyPlanner(config, stations, options.rng("assembly"), self.ids)
        self.orders = (
            OrderGenerator(
                config, options.rng("orders"), IdSource(options.rng("order-ids")), options.start
            )
            if options.generate_orders
            else None
        )
        self.health = BrokerHealth("assembly", options.settings.bootstrap_servers)
        self.producer = EventProducer(options.settings, client_id="assembly", health=self.health)
        self.dead_letters = DeadLetters(self.producer, "assembly")
        self.offsets = OffsetTracker()
        self.positions: dict[str, int] = {}
        self.consumer: Consumer | None = None
        self.status: StatusFollower | None = None
        self._resend: list[BuildRecord] = []
        self._component_log = LogPacer(log, "widgets")
        self._shortage_log = LogPacer(log, "shortage notes", per_second=5)
        self.widgets_sent = 0
        self._partition_time: dict[int, float] = {}
        self._next_offsets: dict[int, int] = {}
        self._orders_in_flight: dict[str, float] = {}
        """Orders this process published and has not read back yet: virtual time waits
        for them, so a station never runs ahead of an order it is about to receive."""
        self._last_commit = time.monotonic()
        self._last_input = time.monotonic()

    # --- restore -------------------------------------------------------------------------

    def _read_changelog(self, replay: bool) -> int:
        """Positions of every instance; with ``replay``, also this instance's state."""
        instance = self.planner.instance.encode()
        replayed = 0
        for message in read_to_end(
            self.options.settings, [ASSEMBLY_CHANGELOG], client_id="assembly-restore"
        ):
            try:
                changes = _changeset_decoder.decode(message.value() or b"")
            except msgspec.DecodeError:
                log.warning(
                    "skipping an unreadable changelog record at offset %d", message.offset()
                )
                continue
            for key, offset in changes.positions.items():
                if offset > self.positions.get(key, -1):
                    self.positions[key] = offset
            if replay and message.key() == instance:
                self.planner.replay(changes)
                replayed += 1
        return replayed

    def restore(self) -> None:
        replayed = self._read_changelog(replay=True)
        if not replayed:
            return
        stock = sum(n for levels in self.planner.stock_levels().values() for n in levels.values())
        log.info(
            "Restored from the changelog (%d records): %d components in stock, %d builds in progress, %d open orders",
            replayed,
            stock,
            len(self.planner.in_progress()),
            len(self.planner.orders),
        )
        self._resend.extend(self.planner.recovered_completions())

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        try:  # another instance may have recorded these partitions since we last looked
            self._read_changelog(replay=False)
        except Exception as exc:  # noqa: BLE001 - the committed offsets are the fallback
            log.warning("could not re-read changelog positions: %s", exc)
        for tp in partitions:
            recorded = self.positions.get(f"{tp.topic}:{tp.partition}")
            if recorded is not None:
                tp.offset = recorded
        consumer.assign(partitions)
        log.info("Assigned %s", ", ".join(f"{tp.topic}[{tp.partition}]" for tp in partitions))

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._write_changes(flush=True)
        commit(consumer, self.offsets)
        self.offsets.forget(partitions)

    # --- inputs --------------------------------------------------------------------------

    def _receive(self, message: Message) -> None:
        topic, partition, offset = message.topic(), message.partition(), message.offset()
        self.offsets.consumed(topic, partition, offset)
        self.planner.record_position(topic, partition, offset + 1)
        if topic == COMPONENT_PRODUCTION:
            self._next_offsets[partition] = offset + 1
        value = message.value() or b""
        config = self.options.config
        try:
            if topic == COMPONENT_PRODUCTION:
                component = decode_as(value, ComponentProduced)
                if component.component_type not in config.component_types:
                    raise SchemaError(
                        f"unknown component type {component.component_type!r} - at `$.component_type`"
                    )
                produced_at = component.produced_at.timestamp()
                if self.clock.virtual:
                    self._partition_time[partition] = produced_at
                else:
                    self.clock.observe(produced_at)
                self.planner.receive_component(component)
            elif topic == PRODUCTION_ORDERS:
                order = decode_as(value, ProductionOrder)
                self._orders_in_flight.pop(order.order_id, None)
                if order.widget_type not in config.widget_types:
                    raise SchemaError(
                        f"unknown widget type {order.widget_type!r} - at `$.widget_type`"
                    )
                if self.planner.add_order(order):
                    log.info(
                        "Added production order: %dx %s (%s, priority %d)",
                        order.quantity,
                        order.widget_type,
                        order.order_id,
                        order.priority,
                    )
        except SchemaError as exc:
            self.dead_letters.route(message, str(exc))

    def _publish_initial_orders(self) -> None:
        if self.orders is None:
            return
        assert self.consumer is not None
        partitions = (
            self.consumer.list_topics(PRODUCTION_ORDERS, timeout=10)
            .topics[PRODUCTION_ORDERS]
            .partitions
        )
        for partition in partitions:
            _low, high = self.consumer.get_watermark_offsets(
                TopicPartition(PRODUCTION_ORDERS, partition), timeout=10
            )
            if high > 0:
                return  # orders exist: a restart, or another instance already opened the books
        for order in self.orders.initial_orders(self.options.start):
            self._publish_order(order)

    def _publish_order(self, order: ProductionOrder) -> None:
        self.producer.send(PRODUCTION_ORDERS, order)
        if self.clock.virtual:
            self._orders_in_flight[order.order_id] = order.created_at.timestamp()

    # --- outputs -------------------------------------------------------------------------

    def _write_changes(self, *, flush: bool) -> None:
        changes = self.planner.take_changes()
        if changes:
            self.producer.send_raw(
                ASSEMBLY_CHANGELOG,
                self.planner.instance.encode(),
                _encoder.encode(changes),
                int(self.clock.now() * 1000),
            )
        if flush or changes:
            while self.producer.flush(1.0) > 0:
                if not self.lifecycle.running and self.health.down_since is not None:
                    log.error("stopping with changelog records unacknowledged: the broker is away")
                    return

    def _send_widget(self, build: BuildRecord) -> None:
        widget = build.widget

        def on_delivery(error: KafkaError | None, message: Message) -> None:
            self.producer.count_delivery(error, message)
            if error is None:
                self.planner.delivered(widget.widget_id)
            else:
                self._resend.append(build)

        self.producer.send(WIDGET_ASSEMBLY, widget, on_delivery=on_delivery)
        self.widgets_sent += 1
        if self._component_log.allow():
            log.info(
                "Widget assembled: %s (%s) at %s",
                widget.widget_id,
                widget.widget_type,
                widget.assembly_station_id,
            )

    def _report(self, result: StepResult) -> None:
        for shortage in result.shortages:
            if self._shortage_log.allow():
                log.info(
                    "%s lacks %s for %s (order %s)",
                    shortage.station_id,
                    ", ".join(shortage.missing),
                    shortage.widget_type,
                    shortage.order_id,
                )
        for starvation in result.starvations:
            message = (
                f"Station {starvation.station_id} starved of {', '.join(starvation.missing)} "
                f"for {format_sim_duration(self.clock.now() - starvation.since)} with orders waiting"
            )
            log.warning(message)
            self.producer.send(
                FACTORY_ALERTS,
                FactoryAlert(
                    event_id=self.ids.event_id(),
                    alert_id=self.ids.short_id("ALERT"),
                    severity="warning",
                    source_id=starvation.station_id,
                    message=message,
                    raised_at=to_datetime(self.clock.now()),
                    kind="station_starved",
                ),
            )
        for order_id in self.planner.orders_completed:
            log.info("Order %s completed!", order_id)
        self.planner.orders_completed.clear()

    # --- the loop ------------------------------------------------------------------------

    def _advance_virtual_time(self, draining: bool) -> None:
        """Move virtual time to the component watermark, publishing the orders due by
        then, but never past an order still on its way back from Kafka."""
        watermark = self._watermark()
        if watermark is None:
            return
        target = min(watermark, self.planner.cutoff)
        if self.orders is not None:
            for order in self.orders.orders_until(target):
                self._publish_order(order)
        if self._orders_in_flight:
            target = min(target, min(self._orders_in_flight.values()))
        self.clock.advance_to(target)
        if draining and not self._orders_in_flight:
            due = self.planner.next_completion()
            if due != float("inf"):
                self.clock.advance_to(due)

    def _watermark(self) -> float | None:
        """Virtual time: the event time every component partition has reached.

        Each partition is in time order, so stations may act up to the slowest
        partition's latest time without a component from the past turning up later.
        Partitions read to their end do not hold time back."""
        assert self.consumer is not None
        held: list[float] = []
        for tp in self.consumer.assignment():
            if tp.topic != COMPONENT_PRODUCTION:
                continue
            seen = self._partition_time.get(tp.partition)
            _low, high = self.consumer.get_watermark_offsets(tp, cached=True)
            position = self._next_offsets.get(tp.partition)
            if high >= 0 and position is not None and position >= high:
                continue
            if seen is None:
                if high > 0:
                    return None  # data waiting there, none read yet: hold everything
                continue
            held.append(seen)
        if held:
            return min(held)
        return max(self._partition_time.values(), default=None)

    def _drained(self) -> bool:
        assert self.consumer is not None
        return (
            not self.planner.in_progress()
            and not self._resend
            and len(self.producer) == 0
            and time.monotonic() - self._last_input > 0.5
            and at_end(self.consumer)
        )

    def run(self) -> int:
        log.info(
            "Assembly stations %s on %s, %s",
            ", ".join(self.planner.stations),
            self.options.settings.describe(),
            describe_speed(self.options),
        )
        self.restore()
        if self.options.end is not None:
            self.planner.cutoff = self.options.end
        self.consumer = make_consumer(
            self.options.settings,
            ASSEMBLY_GROUP,
            [COMPONENT_PRODUCTION, PRODUCTION_ORDERS],
            client_id="assembly",
            health=self.health,
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
        )
        self.status = StatusFollower(
            self.options.settings, client_id="assembly-status", health=self.health
        )
        self._publish_initial_orders()
        virtual = self.clock.virtual
        end = self.options.end
        try:
            while self.lifecycle.running:
                messages = self.consumer.consume(1000, 0.05)
                for message in messages:
                    if message.error() is None:
                        self._receive(message)
                if messages:
                    self._last_input = time.monotonic()
                    self.health.on_traffic()
                for machine_id, status, _at in self.status.poll():
                    self.planner.set_status(machine_id, status)
                if end is not None and self.clock.now() >= end:
                    self.lifecycle.drain()
                draining = self.lifecycle.draining
                if draining and self.planner.cutoff == float("inf"):
                    self.planner.cutoff = self.clock.now()
                if virtual:
                    self._advance_virtual_time(draining)
                now = self.clock.now()
                log.debug(
                    "step: %d records, now %s, stock %d, orders %d, building %d",
                    len(messages),
                    to_datetime(now).isoformat(),
                    len(self.planner.stocked_ids()),
                    len(self.planner.orders),
                    len(self.planner.in_progress()),
                )
                if self.orders is not None and not virtual:
                    for order in self.orders.orders_until(min(now, self.planner.cutoff)):
                        self._publish_order(order)
                result = self.planner.step(now)
                self._report(result)
                self._write_changes(flush=False)
                completed = self._resend + result.completed
                self._resend = []
                for build in completed:
                    self._send_widget(build)
                self.producer.poll(0)
                if time.monotonic() - self._last_commit >= _COMMIT_EVERY_S:
                    self._last_commit = time.monotonic()
                    commit(self.consumer, self.offsets)
                if draining and self._drained():
                    break
        finally:
            self._shutdown()
        return 0

    def _shutdown(self) -> None:
        self._write_changes(flush=True)
        if self.consumer is not None:
            commit(self.consumer, self.offsets)
            self.consumer.close()
        if self.status is not None:
            self.status.close()
        levels = self.planner.stock_levels()
        stock = sum(n for station in levels.values() for n in station.values())
        log.info(
            "Assembly stopped: %d widgets sent, %d components in stock, %d builds in progress, %d units on order",
            self.widgets_sent,
            stock,
            len(self.planner.in_progress()),
            self.planner.orders_waiting(),
        )


def main(argv: list[str] | None = None) -> int:
    from widget_factory.cli import main as cli_main

    return cli_main(["assembly", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
