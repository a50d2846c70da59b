"""Widget assembly: stations turn components into widgets, by recipe, order by order.

Run alone with ``widget-factory assembly`` or, from this folder, ``python
widget_assembly_simulator.py``. Consumer group ``assembly-stations`` reads
``component-production`` and ``production-orders``; widgets go to ``widget-assembly``.

Crash safety: every change of the stations' state is written to the changelog topic
(``assembly-stations-changelog``) *before* the widgets it causes are sent, together with
the input positions it covers. A restarted process replays its changelog: stock, orders
and builds in progress come back, and reading resumes right after what was recorded.

Scale-out: ``--station ID`` runs one station per process, all in group
``assembly-stations``. A component or an order that belongs to another process's
station (its home, :mod:`widget_factory.core.routing`) is forwarded to that station's
inbox on ``assembly-handoffs``, stored there before the changelog records the input
position past it; each process reads its stations' inboxes and records those positions
in its changelog too. docs/scaling.md tells the whole story.

The service wires the pieces: the changelog store is :mod:`widget_factory.kafka_io.changelog`;
what has been read, what other processes report and how far virtual time may go are kept
by the pure :mod:`widget_factory.core.progress`.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from pathlib import Path

if __name__ == "__main__" and not __package__:  # run as a script from the package folder
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import msgspec
from confluent_kafka import Consumer, KafkaError, Message, TopicPartition

from widget_factory.compat import ReadUpgrades, read_notes
from widget_factory.core.assembly import AssemblyPlanner, BuildRecord, StepResult
from widget_factory.core.clock import format_sim_duration, to_datetime
from widget_factory.core.ground_truth import StarvationTruth
from widget_factory.core.ids import IdSource, event_id_from
from widget_factory.core.lockstep import PlannerFeed, StatusGate
from widget_factory.core.orders import OrderGenerator
from widget_factory.core.progress import Ends, InputProgress, Progress, PublishedOrders
from widget_factory.core.routing import StationRouter
from widget_factory.kafka_io.changelog import AssemblyChangelog
from widget_factory.kafka_io.client import (
    BrokerHealth,
    DeadLetters,
    EventProducer,
    consume_available,
    make_consumer,
)
from widget_factory.kafka_io.handoffs import Forwarder, HandoffInbox, decode_progress, is_progress
from widget_factory.kafka_io.offsets import OffsetTracker, commit
from widget_factory.kafka_io.shutdown import Shutdown
from widget_factory.kafka_io.status import StatusFollower
from widget_factory.kafka_io.topics import (
    ASSEMBLY_HANDOFFS,
    COMPONENT_PRODUCTION,
    FACTORY_ALERTS,
    PRODUCTION_ORDERS,
    WIDGET_ASSEMBLY,
)
from widget_factory.kafka_io.truth_publisher import TruthPublisher
from widget_factory.processes.lifecycle import Lifecycle, LogPacer, ServiceOptions, describe_speed
from widget_factory.schemas import (
    ComponentProduced,
    FactoryAlert,
    ProductionOrder,
    SchemaError,
    decode,
    decode_as,
)

__all__ = ["WidgetAssemblyService", "ASSEMBLY_GROUP", "main"]

log = logging.getLogger("assembly")

ASSEMBLY_GROUP = "assembly-stations"
_COMMIT_EVERY_S = 1.0
_DRAIN_QUIET_S = 0.5
_SCALED_DRAIN_QUIET_S = 1.5
"""Scaled out, a process waits a little longer for late handoffs before it exits."""


class WidgetAssemblyService:
    """The assembly stations of one process: inputs in, widgets out, state in the changelog."""

    def __init__(self, options: ServiceOptions, lifecycle: Lifecycle | None = None) -> None:
        self.options = options
        self.lifecycle = lifecycle or Lifecycle()
        self.clock = options.clock()
        config = options.config
        stations = options.stations or tuple(s.id for s in config.stations)
        self.ids = IdSource(options.rng("assembly-ids:" + "+".join(sorted(stations))))
        self.planner = AssemblyPlanner(config, stations, options.rng("assembly"), self.ids)
        self.router = StationRouter(config, stations)
        self.feed = (
            PlannerFeed(
                self.planner,
                StatusGate(stations, config.simulation.telemetry_interval_s, options.end),
            )
            if options.lockstep
            else None
        )
        """Lockstep (a whole run in virtual time): inputs applied in event-time order."""
        self.inbox: HandoffInbox | None = None
        self.forwarder: Forwarder | None = None
        self.progress = InputProgress(COMPONENT_PRODUCTION, PRODUCTION_ORDERS, options.start)
        """Positions and event times read here, and (scaled out) reported by others."""
        self._progress_sent: tuple[float, Progress] = (0.0, {})
        self.published = PublishedOrders(options.start)
        """The orders this process published, until stored and read back."""
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
        self.upgrades = ReadUpgrades(log)
        self.changelog = AssemblyChangelog(options.settings, self.producer, self.planner.instance)
        self.starvation_truth = StarvationTruth(config)
        self.truth = TruthPublisher(self.producer)
        self.offsets = OffsetTracker()
        self.consumer: Consumer | None = None
        self.status: StatusFollower | None = None
        self._resend: list[BuildRecord] = []
        self._component_log = LogPacer(log, "widgets")
        self._shortage_log = LogPacer(log, "shortage notes", per_second=5)
        self.widgets_sent = 0
        self._last_commit = time.monotonic()
        self._last_input = time.monotonic()

    # --- restore and rebalance -------------------------------------------------------------

    def restore(self) -> None:
        replayed = self.changelog.read(replay=self.planner.replay)
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

    def _open_inbox(self) -> None:
        """Scaled out: read this process's stations' handoff partitions from where the
        changelog says, and forward what belongs to other stations."""
        self.inbox = HandoffInbox(
            self.options.settings,
            self.planner.stations,
            self.router.partition_of,
            self.changelog.handoff_positions,
            health=self.health,
        )
        total = self.inbox.partitions_total
        self.forwarder = Forwarder(
            self.producer,
            lambda station_id: self.router.partition_of(station_id, total),
            on_stalled=lambda: not self.lifecycle.running,
        )
        log.info(
            "Scaled out: stations of other processes get their components and orders through "
            "%s; this process reads partition %s",
            ASSEMBLY_HANDOFFS,
            ", ".join(str(p) for p in self.inbox.partitions),
        )

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        try:  # another instance may have recorded these partitions since we last looked
            self.changelog.read()
        except Exception as exc:  # noqa: BLE001 - the committed offsets are the fallback
            log.warning("could not re-read changelog positions: %s", exc)
        for tp in partitions:
            recorded = self.changelog.positions.get(f"{tp.topic}:{tp.partition}")
            if recorded is not None:
                tp.offset = recorded
                self.progress.read(tp.topic, tp.partition, recorded)
        consumer.assign(partitions)
        log.info("Assigned %s", ", ".join(f"{tp.topic}[{tp.partition}]" for tp in partitions))

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        log.info(
            "Rebalance: giving up %s",
            ", ".join(f"{tp.topic}[{tp.partition}]" for tp in partitions) or "nothing",
        )
        self._write_changes(flush=True)
        commit(consumer, self.offsets, sync=True)
        self.offsets.forget(partitions)

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """The session expired (the broker stopped answering): nothing can be committed;
        the changelog holds the positions, and writes continue once the broker is back."""
        log.warning(
            "Rebalance: lost %s", ", ".join(f"{tp.topic}[{tp.partition}]" for tp in partitions)
        )
        self.offsets.forget(partitions)

    # --- inputs --------------------------------------------------------------------------

    def _receive(self, message: Message) -> None:
        topic, partition, offset = message.topic(), message.partition(), message.offset()
        self.planner.record_position(topic, partition, offset + 1)
        handoff = topic == ASSEMBLY_HANDOFFS
        if not (handoff and is_progress(message)):
            self._last_input = time.monotonic()
        if handoff:
            assert self.inbox is not None
            if not self.inbox.is_ours(message):
                return  # another station's record in a shared partition
            if is_progress(message):
                self._merge_progress(message.value() or b"")
                return  # not an input: it must not keep a draining process waiting
        else:
            self.offsets.consumed(topic, partition, offset)
            self.progress.read(topic, partition, offset + 1)
        value = message.value() or b""
        try:
            if topic == COMPONENT_PRODUCTION:
                component = decode_as(value, ComponentProduced, topic=topic, upgrades=self.upgrades)
                self._take_component(component, message)
            elif topic == PRODUCTION_ORDERS:
                order = decode_as(value, ProductionOrder, topic=topic, upgrades=self.upgrades)
                self._take_order(order, message)
            elif handoff:
                try:
                    event = decode(value)
                except SchemaError:  # walkthrough-shaped: read as its source topic carries
                    event = decode(value, topic=_source_topic(message), upgrades=self.upgrades)
                if isinstance(event, ComponentProduced):
                    self._take_component(event, None)
                elif isinstance(event, ProductionOrder):
                    self._take_order(event, None)
                else:
                    raise SchemaError(f"a {event.event_type} event is not a handoff")
        except SchemaError as exc:
            self.dead_letters.route(message, str(exc))

    def _take_component(self, component: ComponentProduced, source: Message | None) -> None:
        """A component from a group partition (``source``) or from this process's inbox."""
        if component.component_type not in self.options.config.component_types:
            raise SchemaError(
                f"unknown component type {component.component_type!r} - at `$.component_type`"
            )
        produced_at = component.produced_at.timestamp()
        if not self.clock.virtual:
            self.clock.observe(produced_at)
        elif source is not None:
            self.progress.component_read(int(source.partition() or 0), produced_at)
        else:
            self.progress.handoff_read(produced_at)
        if source is not None:
            target = self.router.component_target(component.component_id, component.component_type)
            if target is not None:
                assert self.forwarder is not None
                self.forwarder.forward(target, source)
                return
        if self.feed is not None:
            self.feed.component(component)
            return
        self.planner.receive_component(component)

    def _take_order(self, order: ProductionOrder, source: Message | None) -> None:
        """An order from a group partition (``source``) or from this process's inbox."""
        self.published.read_back(order.order_id)
        if order.widget_type not in self.options.config.widget_types:
            raise SchemaError(f"unknown widget type {order.widget_type!r} - at `$.widget_type`")
        if source is not None:
            target = self.router.order_target(order.order_id, order.widget_type)
            if target is not None:
                assert self.forwarder is not None
                self.forwarder.forward(target, source)
                log.info(
                    "Production order %s (%dx %s) goes to %s",
                    order.order_id,
                    order.quantity,
                    order.widget_type,
                    target,
                )
                return
        if self.feed is not None:
            self.feed.order(order)
            return
        if self.planner.add_order(order):
            self._log_order(order)

    def _log_order(self, order: ProductionOrder) -> None:
        log.info(
            "Added production order: %dx %s (%s, priority %d)",
            order.quantity,
            order.widget_type,
            order.order_id,
            order.priority,
        )

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
        order_id = order.order_id

        def on_delivery(error: KafkaError | None, message: Message) -> None:
            self.producer.count_delivery(error, message)
            partition = None if error is not None else int(message.partition() or 0)
            self.published.delivered(order_id, partition, int(message.offset() or 0))

        self.published.sent(order, awaited=self.clock.virtual)
        self.producer.send(PRODUCTION_ORDERS, order, on_delivery=on_delivery)

    def _assigned(self, topic: str) -> set[int]:
        assert self.consumer is not None
        return {tp.partition for tp in self.consumer.assignment() if tp.topic == topic}

    def _ends(self) -> Ends:
        """The assignment's watermarks as the latest fetch responses reported them."""
        assert self.consumer is not None
        return {
            (tp.topic, tp.partition): self.consumer.get_watermark_offsets(tp, cached=True)
            for tp in self.consumer.assignment()
        }

    # --- outputs -------------------------------------------------------------------------

    def _write_changes(self, *, flush: bool) -> bool:
        """Write the planner's changes to the changelog and wait until they are durable.
        False when a stop came first: then nothing they caused may be sent."""
        if self.forwarder is not None and len(self.forwarder) and not self.forwarder.settle():
            return False  # handoffs unstored: the positions past them must not be recorded
        changes = self.planner.take_changes()
        if changes:
            self.changelog.append(changes, int(self.clock.now() * 1000))
        if flush or changes:
            return self.changelog.wait_durable(lambda: self.lifecycle.running)
        return True

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
            # the simulated moment the threshold was crossed, not the end of this step
            # (virtual time may jump far past it in one step)
            found_at = self.clock.now() if starvation.at is None else starvation.at
            message = (
                f"Station {starvation.station_id} starved of {', '.join(starvation.missing)} "
                f"for {format_sim_duration(found_at - starvation.since)} with orders waiting"
            )
            log.warning(message)
            alert_id = self.ids.short_id("ALERT")
            self.producer.send(
                FACTORY_ALERTS,
                FactoryAlert(
                    event_id=event_id_from("factory_alert", self.planner.instance, alert_id),
                    alert_id=alert_id,
                    severity="warning",
                    source_id=starvation.station_id,
                    message=message,
                    raised_at=to_datetime(found_at),
                    kind="station_starved",
                ),
            )
        if result.starvations or result.starvation_ends:
            self.truth.publish(self.starvation_truth.from_step(result, self.planner.cutoff))
        for order_id in self.planner.orders_completed:
            log.info("Order %s completed!", order_id)
        self.planner.orders_completed.clear()
        for late in self.planner.orders_late:
            log.warning(
                "Order %s completed late by %s (%d late so far)",
                late.order_id,
                format_sim_duration(late.late_by),
                self.planner.late_orders,
            )
        self.planner.orders_late.clear()

    # --- the loop ------------------------------------------------------------------------

    def _advance_virtual_time(self, draining: bool) -> None:
        """Move virtual time to the component watermark, publishing the orders due by
        then, but never past an order still on its way back from Kafka."""
        watermark = self._watermark()
        lockstep = self.feed is not None
        if lockstep and draining and self.planner.cutoff != float("inf") and self._inputs_at_end():
            watermark = self.planner.cutoff  # every input is in: on to the end
        if watermark is None:
            # Nothing read that tells the time (a process whose partitions others had
            # already consumed): once everything is in, draining goes to the end.
            if not (draining and self.planner.cutoff != float("inf") and self._inputs_at_end()):
                return
            watermark = self.planner.cutoff
        target = min(watermark, self.planner.cutoff)
        if self.orders is not None:
            for order in self.orders.orders_until(target):
                self._publish_order(order)
            self.published.published_until(target)
        if self.forwarder is not None:
            target = min(target, self.progress.orders_watermark(self._ends()))
        awaited = (
            self.published.awaited(self._assigned(PRODUCTION_ORDERS))
            if self.published.pending
            else []
        )
        if awaited:
            # in lockstep, not even to an awaited order's instant: it must be applied first
            first = min(awaited)
            target = min(target, math.nextafter(first, -math.inf) if lockstep else first)
        if self.feed is not None:
            target = min(target, self.feed.gate.watermark())
        self.clock.advance_to(target)
        if draining and not awaited:
            due = self.planner.next_completion()
            if due != float("inf"):
                self.clock.advance_to(due)

    def _watermark(self) -> float | None:
        """Virtual time: the event time every component partition has reached, read
        here or (scaled out) by any process; None holds time still."""
        if self.forwarder is not None:
            return self.progress.global_watermark(self._ends())
        return self.progress.local_watermark(self._ends(), lockstep=self.feed is not None)

    def _inputs_at_end(self) -> bool:
        assert self.consumer is not None
        assignment = self.consumer.assignment()
        positions = {
            (tp.topic, tp.partition): tp.offset
            for tp in (self.consumer.position(assignment) if assignment else [])
        }
        return self.progress.inputs_at_end(
            self._ends(),
            positions,
            inbox_at_end=None if self.inbox is None else self.inbox.at_end(),
            virtual=self.clock.virtual,
        )

    # --- progress between processes (scaled out, virtual time) ----------------------------

    def _merge_progress(self, value: bytes) -> None:
        try:
            progress = decode_progress(value)
        except msgspec.DecodeError:
            log.warning("skipping an unreadable progress record")
            return
        self.progress.merge(progress)

    def _send_progress(self) -> None:
        """Tell the other stations how far this process has read (virtual time only;
        called after the forwards it covers are stored)."""
        if self.forwarder is None or not self.clock.virtual:
            return
        progress = self.progress.report(self._ends())
        if self.orders is not None:
            # The publisher: orders created by this time are stored below these offsets.
            progress.update(
                self.progress.publisher_report(self.published.confirmed(), self.published.ends)
            )
        last_sent, last = self._progress_sent
        if progress == last and time.monotonic() - last_sent < 1.0:
            return
        self._progress_sent = (time.monotonic(), progress)
        if not progress:
            return
        for station_id in self.router.station_ids:
            if station_id not in self.router.local:
                self.forwarder.send_progress(station_id, progress)

    def _drained(self) -> bool:
        assert self.consumer is not None
        return (
            not self.planner.in_progress()
            and not self._resend
            and len(self.producer) == 0
            and (self.forwarder is None or not len(self.forwarder))
            and time.monotonic() - self._last_input
            > (_SCALED_DRAIN_QUIET_S if self.router.scaled_out else _DRAIN_QUIET_S)
            and self._inputs_at_end()
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
        if self.router.scaled_out:
            self._open_inbox()
        self.consumer = make_consumer(
            self.options.settings,
            ASSEMBLY_GROUP,
            [COMPONENT_PRODUCTION, PRODUCTION_ORDERS],
            client_id="assembly",
            health=self.health,
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )
        self.status = StatusFollower(
            self.options.settings,
            client_id="assembly-status",
            health=self.health,
            dead_letters=self.dead_letters,
            upgrades=self.upgrades,
            from_time=self.options.start if self.feed is not None else None,
        )
        if self.inbox is not None:
            metadata = self.consumer.list_topics(timeout=10)
            for topic in (COMPONENT_PRODUCTION, PRODUCTION_ORDERS):
                info = metadata.topics.get(topic)
                if info is not None:
                    self.progress.group_partitions += [(topic, p) for p in sorted(info.partitions)]
        self._publish_initial_orders()
        virtual = self.clock.virtual
        end = self.options.end
        try:
            while self.lifecycle.running:
                messages = consume_available(self.consumer, 1000, 0.05)
                if self.inbox is not None:
                    messages += self.inbox.poll()
                for message in messages:
                    if message.error() is None:
                        self._receive(message)
                if messages:
                    self.health.on_traffic()
                for machine_id, status, at in self.status.poll():
                    if self.feed is not None:
                        self.feed.gate.add(machine_id, status, at)
                    else:
                        self.planner.set_status(machine_id, status)
                if end is not None and self.clock.now() >= end:
                    self.lifecycle.drain()
                draining = self.lifecycle.draining
                if draining and self.planner.cutoff == float("inf"):
                    self.planner.cutoff = self.clock.now()
                if virtual:
                    self._advance_virtual_time(draining)
                now = self.clock.now()
                if log.isEnabledFor(logging.DEBUG):  # the stock count copies the whole stock
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
                if self.feed is not None:
                    result, accepted = self.feed.step(now)
                    for order in accepted:
                        self._log_order(order)
                else:
                    result = self.planner.step(now)
                self._report(result)
                if not self._write_changes(flush=False):
                    break
                self._send_progress()
                completed = self._resend + result.completed
                self._resend = []
                for build in completed:
                    self._send_widget(build)
                self.health.check(self.producer)
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
        self.lifecycle.stop()
        stop = Shutdown("assembly")
        if self.feed is not None and self.feed.stock_the_rest():
            log.info("Stopping before the inputs' time came: the rest went into stock")
        self.truth.publish(
            self.starvation_truth.close(
                self.planner.open_starvations(), self.clock.now(), self.planner.cutoff
            )
        )
        self._write_changes(flush=False)
        flushed = stop.flush(self.producer)
        if self.consumer is not None:
            stop.finish_consumer(self.consumer, self.offsets if flushed else None)
        if self.status is not None:
            stop.close(self.status.close)
        if self.inbox is not None:
            stop.close(self.inbox.close)
        if self.forwarder is not None and self.forwarder.forwarded:
            log.info(
                "Handed off %d records to other stations (%s)",
                self.forwarder.forwarded,
                ", ".join(f"{s} {n}" for s, n in sorted(self.forwarder.by_station.items())),
            )
        levels = self.planner.stock_levels()
        stock = sum(n for station in levels.values() for n in station.values())
        log.info(
            "Assembly stopped: %d widgets sent, %d components in stock, %d builds in progress, %d units on order%s",
            self.widgets_sent,
            stock,
            len(self.planner.in_progress()),
            self.planner.orders_waiting(),
            read_notes(self.upgrades, self.dead_letters.count),
        )


def _source_topic(message: Message) -> str:
    """The topic a handed-off record was first read from (its ``source.topic`` header)."""
    for name, value in message.headers() or []:
        if name == "source.topic" and isinstance(value, bytes):
            return value.decode(errors="replace")
    return ""


def main(argv: list[str] | None = None) -> int:
    from widget_factory.cli import main as cli_main

    return cli_main(["assembly", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
