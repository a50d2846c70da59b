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
from widget_factory.core.ids import IdSource, event_id_from
from widget_factory.core.orders import OrderGenerator
from widget_factory.core.routing import StationRouter
from widget_factory.kafka_io.client import (
    BrokerHealth,
    DeadLetters,
    EventProducer,
    consume_available,
)
from widget_factory.kafka_io.group_watch import GroupWatch, watched_consumer
from widget_factory.kafka_io.handoffs import (
    Forwarder,
    HandoffInbox,
    Progress,
    decode_progress,
    is_progress,
)
from widget_factory.kafka_io.intake import Intake, routed_before
from widget_factory.kafka_io.offsets import OffsetTracker, commit
from widget_factory.kafka_io.reader import read_to_end
from widget_factory.kafka_io.retry import until_answered
from widget_factory.kafka_io.shutdown import Shutdown
from widget_factory.kafka_io.status import StatusFollower
from widget_factory.kafka_io.topics import (
    ASSEMBLY_CHANGELOG,
    ASSEMBLY_HANDOFFS,
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
    decode,
    decode_as,
)

__all__ = ["WidgetAssemblyService", "ASSEMBLY_GROUP", "main"]

log = logging.getLogger("assembly")

ASSEMBLY_GROUP = "assembly-stations"
_COMMIT_EVERY_S = 1.0
_HANDOFF_KEY = ASSEMBLY_HANDOFFS + ":"
"""Changelog positions of inbox partitions are per instance (each station process reads
its inbox alone); group input positions are shared by every instance."""
_DRAIN_QUIET_S = 0.5
_SCALED_DRAIN_QUIET_S = 1.5
"""Scaled out, a process waits a little longer for late handoffs before it exits."""
_changeset_decoder = msgspec.json.Decoder(ChangeSet)
_encoder = msgspec.json.Encoder()
_MAX_CHANGELOG_RECORD = 512 * 1024
"""Bytes above which one step's changes are written as several records (brokers refuse
records over ~1 MB; a step catching up on a backlog can start thousands of builds)."""


def _changelog_records(changes: ChangeSet) -> list[bytes]:
    """``changes`` as changelog values: one record, or when too large, several that replay
    in the same order (stock and orders, then the builds in parts, then deliveries and
    input positions last, so positions never run ahead of what is stored); each part
    carries the id counters, so no id minted in it can be minted again after a crash."""
    value = _encoder.encode(changes)
    if len(value) <= _MAX_CHANGELOG_RECORD or len(changes.started) < 2:
        return [value]
    parts = -(-len(value) // _MAX_CHANGELOG_RECORD)
    size = -(-len(changes.started) // parts)
    instance, counters = changes.instance, changes.counters
    records = [
        ChangeSet(
            instance=instance, stocked=changes.stocked, orders=changes.orders, counters=counters
        )
    ]
    for at in range(0, len(changes.started), size):
        records.append(
            ChangeSet(instance=instance, started=changes.started[at : at + size], counters=counters)
        )
    records.append(
        ChangeSet(
            instance=instance,
            delivered=changes.delivered,
            positions=changes.positions,
            counters=counters,
        )
    )
    return [_encoder.encode(record) for record in records]


class WidgetAssemblyService:
    def __init__(self, options: ServiceOptions, lifecycle: Lifecycle | None = None) -> None:
        self.options = options
        self.lifecycle = lifecycle or Lifecycle()
        self.clock = options.clock()
        config = options.config
        stations = options.stations or tuple(s.id for s in config.stations)
        self.ids = IdSource(options.rng("assembly-ids:" + "+".join(sorted(stations))))
        self.planner = AssemblyPlanner(config, stations, options.rng("assembly"), self.ids)
        self.router = StationRouter(config, stations)
        self.inbox: HandoffInbox | None = None
        self.forwarder: Forwarder | None = None
        self._handoff_positions: dict[int, int] = {}
        self._handoff_time: float | None = None
        self._order_partitions: dict[str, int] = {}
        self._read_pos: dict[str, int] = {}
        """``topic:partition`` -> next offset, for the group partitions read here."""
        self._remote: Progress = {}
        """Scaled out in virtual time: how far other processes have read their partitions."""
        self._group_partitions: list[tuple[str, int]] = []
        self._progress_sent: tuple[float, Progress] = (0.0, {})
        self._published_until = options.start
        """The publisher: every order created by this time is published..."""
        self._published_confirmed = options.start
        """...and, by this time, stored, at offsets below ``_order_ends``."""
        self._order_ends: dict[int, int] = {}
        self._orders_unacked = 0
        self._orders_wm: float | None = None
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
        self.intake = Intake(self.dead_letters, self.clock.now, options.config)
        self.offsets = OffsetTracker()
        self.positions: dict[str, int] = {}
        self.consumer: Consumer | None = None
        self.group: GroupWatch | None = None
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
            ours = message.key() == instance
            for key, offset in changes.positions.items():
                if key.startswith(_HANDOFF_KEY):
                    if ours and replay:
                        partition = int(key[len(_HANDOFF_KEY) :])
                        if offset > self._handoff_positions.get(partition, -1):
                            self._handoff_positions[partition] = offset
                elif offset > self.positions.get(key, -1):
                    self.positions[key] = offset
            if replay and ours:
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

    def _open_inbox(self) -> None:
        """Scaled out: read this process's stations' handoff partitions from where the
        changelog says, and forward what belongs to other stations."""
        self.inbox = HandoffInbox(
            self.options.settings,
            self.planner.stations,
            self.router.partition_of,
            self._handoff_positions,
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
            self._read_changelog(replay=False)
        except Exception as exc:  # noqa: BLE001 - the committed offsets are the fallback
            log.warning("could not re-read changelog positions: %s", exc)
        for tp in partitions:
            recorded = self.positions.get(f"{tp.topic}:{tp.partition}")
            if recorded is not None:
                tp.offset = recorded
                self._read_pos[f"{tp.topic}:{tp.partition}"] = recorded
                if tp.topic == COMPONENT_PRODUCTION:
                    self._next_offsets[tp.partition] = recorded
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
            self._read_pos[f"{topic}:{partition}"] = offset + 1
        if topic == COMPONENT_PRODUCTION:
            self._next_offsets[partition] = offset + 1
        value = message.value() or b""
        try:
            if topic == COMPONENT_PRODUCTION:
                component = decode_as(value, ComponentProduced)
                if self.intake.admit(message, component):
                    self._take_component(component, message)
            elif topic == PRODUCTION_ORDERS:
                order = decode_as(value, ProductionOrder)
                if self.intake.admit(message, order):
                    self._take_order(order, message)
            elif handoff:
                event = decode(value)
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
            self._partition_time[int(source.partition() or 0)] = produced_at
        elif self._handoff_time is None or produced_at > self._handoff_time:
            self._handoff_time = produced_at
        if source is not None:
            target = self.router.component_target(component.component_id, component.component_type)
            if target is not None:
                assert self.forwarder is not None
                self.forwarder.forward(target, source)
                return
        self.planner.receive_component(component)

    def _take_order(self, order: ProductionOrder, source: Message | None) -> None:
        """An order from a group partition (``source``) or from this process's inbox."""
        self._orders_in_flight.pop(order.order_id, None)
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
        if self.planner.add_order(order):
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
            self._orders_unacked -= 1
            if error is None:
                partition = int(message.partition() or 0)
                self._order_partitions[order_id] = partition
                end = int(message.offset() or 0) + 1
                self._order_ends[partition] = max(self._order_ends.get(partition, 0), end)

        self._orders_unacked += 1

        self.producer.send(PRODUCTION_ORDERS, order, on_delivery=on_delivery)
        if self.clock.virtual:
            self._orders_in_flight[order_id] = order.created_at.timestamp()

    def _orders_awaited(self) -> list[float]:
        """Times of published orders this process will read back itself: those stored in
        a partition assigned to another process reach their station without us."""
        if not self._orders_in_flight:
            return []
        assert self.consumer is not None
        ours = {tp.partition for tp in self.consumer.assignment() if tp.topic == PRODUCTION_ORDERS}
        awaited = []
        for order_id, at in list(self._orders_in_flight.items()):
            partition = self._order_partitions.get(order_id)
            if partition is not None and partition not in ours:
                del self._orders_in_flight[order_id]
                self._order_partitions.pop(order_id, None)
            else:
                awaited.append(at)
        return awaited

    # --- outputs -------------------------------------------------------------------------

    def _write_changes(self, *, flush: bool) -> bool:
        """Write the planner's changes to the changelog and wait until they are durable.
        False when a stop came first: then nothing they caused may be sent."""
        if self.forwarder is not None and len(self.forwarder) and not self.forwarder.settle():
            return False  # handoffs unstored: the positions past them must not be recorded
        changes = self.planner.take_changes()
        if changes:
            for value in _changelog_records(changes):
                self.producer.send_raw(
                    ASSEMBLY_CHANGELOG,
                    self.planner.instance.encode(),
                    value,
                    int(self.clock.now() * 1000),
                )
        if flush or changes:
            while self.producer.flush(1.0) > 0:
                self.health.check(self.producer)
                if not self.lifecycle.running:
                    return False  # stopping: nothing unacknowledged is acted upon
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
            message = (
                f"Station {starvation.station_id} starved of {', '.join(starvation.missing)} "
                f"for {format_sim_duration(self.clock.now() - starvation.since)} with orders waiting"
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
            # Nothing read that tells the time (a process whose partitions others had
            # already consumed): once everything is in, draining goes to the end.
            if not (draining and self.planner.cutoff != float("inf") and self._inputs_at_end()):
                return
            watermark = self.planner.cutoff
        target = min(watermark, self.planner.cutoff)
        if self.orders is not None:
            for order in self.orders.orders_until(target):
                self._publish_order(order)
            self._published_until = max(self._published_until, target)
        if self.forwarder is not None:
            target = min(target, self._orders_watermark())
        awaited = self._orders_awaited()
        if awaited:
            target = min(target, min(awaited))
        self.clock.advance_to(target)
        if draining and not awaited:
            due = self.planner.next_completion()
            if due != float("inf"):
                self.clock.advance_to(due)

    def _watermark(self) -> float | None:
        """Virtual time: the event time every component partition has reached.

        Each partition is in time order, so stations may act up to the slowest
        partition's latest time without a component from the past turning up later.
        Partitions read to their end do not hold time back."""
        assert self.consumer is not None
        if self.forwarder is not None:
            return self._global_watermark()
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
        seen = list(self._partition_time.values())
        if self._handoff_time is not None:
            seen.append(self._handoff_time)
        return max(seen, default=None)

    def _group_at_end(self) -> bool:
        """Every assigned partition read to its high watermark. A partition assigned at a
        recorded position that another process had read to the end yields no record, so
        librdkafka reports no position for it: the position we assigned from counts."""
        assert self.consumer is not None
        assignment = self.consumer.assignment()
        if not assignment:
            return False
        for tp in self.consumer.position(assignment):
            low, high = self.consumer.get_watermark_offsets(tp, cached=True)
            if high < 0:
                return False
            position = max(tp.offset, self._read_pos.get(f"{tp.topic}:{tp.partition}", -1))
            if position < 0:
                if high > max(low, 0):
                    return False
            elif position < high:
                return False
        return True

    def _inputs_at_end(self) -> bool:
        assert self.consumer is not None
        if not self._group_at_end():
            return False
        if self.inbox is None:
            return True
        if not self.inbox.at_end():
            return False
        if not self.clock.virtual:
            return True
        # Every group partition read to its end, here or (as reported) elsewhere: all
        # the handoffs for this process's stations are then in its inbox.
        local = {(tp.topic, tp.partition) for tp in self.consumer.assignment()}
        for topic, partition in self._group_partitions:
            if (topic, partition) in local:
                continue
            report = self._remote.get(f"{topic}:{partition}")
            if report is None or report[1] < 0 or report[0] < report[1]:
                return False
        return True

    # --- progress between processes (scaled out, virtual time) ----------------------------

    def _merge_progress(self, value: bytes) -> None:
        try:
            progress = decode_progress(value)
        except msgspec.DecodeError:
            log.warning("skipping an unreadable progress record")
            return
        for key, report in progress.items():
            known = self._remote.get(key)
            if known is None or report[0] >= known[0]:
                self._remote[key] = report

    def _send_progress(self) -> None:
        """Tell the other stations how far this process has read (virtual time only;
        called after the forwards it covers are stored)."""
        if self.forwarder is None or not self.clock.virtual:
            return
        assert self.consumer is not None
        progress: Progress = {}
        for tp in self.consumer.assignment():
            key = f"{tp.topic}:{tp.partition}"
            position = self._read_pos.get(key)
            if position is None:
                continue
            _low, high = self.consumer.get_watermark_offsets(tp, cached=True)
            seen = (
                self._partition_time.get(tp.partition) if tp.topic == COMPONENT_PRODUCTION else None
            )
            progress[key] = (position, high, seen)
        if self.orders is not None:
            # The publisher: orders created by this time are stored below these offsets.
            if self._orders_unacked == 0:
                self._published_confirmed = self._published_until
            progress["@orders"] = (0, 0, self._published_confirmed)
            for partition, end in self._order_ends.items():
                progress[f"@orders:{partition}"] = (end, 0, None)
            for key in progress:
                if key.startswith("@"):
                    self._remote[key] = progress[key]
        last_sent, last = self._progress_sent
        if progress == last and time.monotonic() - last_sent < 1.0:
            return
        self._progress_sent = (time.monotonic(), progress)
        if not progress:
            return
        for station_id in self.router.station_ids:
            if station_id not in self.router.local:
                self.forwarder.send_progress(station_id, progress)

    def _orders_watermark(self) -> float:
        """Scaled out, virtual time: the time by which every order the publisher has
        created is read from its partition (so forwarded, if it belongs elsewhere).
        Infinite when no process has said it publishes orders."""
        published = self._remote.get("@orders")
        if published is None or published[2] is None:
            return float("inf")
        assert self.consumer is not None
        local = {tp.partition for tp in self.consumer.assignment() if tp.topic == PRODUCTION_ORDERS}
        for key, (end, _high, _time) in self._remote.items():
            if not key.startswith("@orders:"):
                continue
            partition = int(key.rsplit(":", 1)[1])
            if partition in local:
                have = self._read_pos.get(f"{PRODUCTION_ORDERS}:{partition}", -1)
            else:
                report = self._remote.get(f"{PRODUCTION_ORDERS}:{partition}")
                have = report[0] if report is not None else -1
            if have < end:
                break
        else:
            self._orders_wm = published[2]
        return self._orders_wm if self._orders_wm is not None else self.options.start

    def _global_watermark(self) -> float | None:
        """Scaled out, virtual time: the event time every component partition has
        reached, whichever process reads it (see ``_watermark``)."""
        assert self.consumer is not None
        local = {
            tp.partition for tp in self.consumer.assignment() if tp.topic == COMPONENT_PRODUCTION
        }
        held: list[float] = []
        latest: list[float] = []
        for topic, partition in self._group_partitions:
            if topic != COMPONENT_PRODUCTION:
                continue
            if partition in local:
                seen = self._partition_time.get(partition)
                _low, high = self.consumer.get_watermark_offsets(
                    TopicPartition(topic, partition), cached=True
                )
                position = self._next_offsets.get(partition)
            else:
                report = self._remote.get(f"{topic}:{partition}")
                if report is None:
                    return None  # nobody has said how far it is: hold
                position, high, seen = report
            if seen is not None:
                latest.append(seen)
            if high >= 0 and position is not None and position >= high:
                continue
            if seen is None:
                if high != 0:
                    return None
                continue
            held.append(seen)
        if held:
            return min(held)
        if self._handoff_time is not None:
            latest.append(self._handoff_time)
        return max(latest, default=None)

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
            and self.group is not None
            and self.group.all_read()
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
        self.dead_letters.routed = routed_before(self.options.settings, "assembly")
        self.group = watched_consumer(
            self.options.settings,
            ASSEMBLY_GROUP,
            [COMPONENT_PRODUCTION, PRODUCTION_ORDERS],
            client_id="assembly",
            health=self.health,
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )
        self.consumer = self.group.consumer
        self.status = StatusFollower(
            self.options.settings, client_id="assembly-status", health=self.health
        )
        if self.inbox is not None:
            metadata = self.consumer.list_topics(timeout=10)
            for topic in (COMPONENT_PRODUCTION, PRODUCTION_ORDERS):
                info = metadata.topics.get(topic)
                if info is not None:
                    self._group_partitions += [(topic, p) for p in sorted(info.partitions)]
        until_answered(  # metadata and end offsets, before anything is published
            self._publish_initial_orders,
            "assembly: opening the order book",
            stopping=lambda: not self.lifecycle.running,
        )
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
                if self.health.down_since is None:
                    self.group.check()
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
