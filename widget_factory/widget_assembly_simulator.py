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

The service keeps the loop, the rebalance callbacks and the order publishing. Its
pieces: the planner :mod:`widget_factory.core.assembly`, the changelog store
:mod:`widget_factory.kafka_io.changelog`, the links between station processes
:mod:`widget_factory.kafka_io.station_links`, :mod:`widget_factory.stations` (inputs,
widgets out, log lines and alerts, the stations' answer key: starvations and true OEE) and :mod:`widget_factory.core.progress` (how far time may go).
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

if __name__ == "__main__" and not __package__:  # run as a script from the package folder
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from confluent_kafka import Consumer, KafkaError, Message, TopicPartition

from widget_factory.compat import ReadUpgrades, read_notes
from widget_factory.core.assembly import AssemblyPlanner
from widget_factory.core.assembly_records import ChangeSet
from widget_factory.core.ids import IdSource
from widget_factory.core.lockstep import PlannerFeed, StatusGate
from widget_factory.core.orders import OrderGenerator
from widget_factory.core.progress import Ends, InputProgress, PublishedOrders
from widget_factory.core.routing import StationRouter
from widget_factory.kafka_io.changelog import AssemblyChangelog
from widget_factory.kafka_io.client import (
    BrokerHealth,
    EventProducer,
    consume_available,
)
from widget_factory.kafka_io.dead_letters import DeadLetters
from widget_factory.kafka_io.group_watch import GroupWatch, watched_consumer
from widget_factory.kafka_io.intake import Intake, routed_before
from widget_factory.kafka_io.offsets import (
    OffsetTracker,
    assignment_ends,
    assignment_positions,
    commit,
    has_records,
)
from widget_factory.kafka_io.retry import until_answered
from widget_factory.kafka_io.shutdown import Shutdown
from widget_factory.kafka_io.station_links import StationLinks
from widget_factory.kafka_io.status import StatusFollower
from widget_factory.kafka_io.topics import (
    COMPONENT_PRODUCTION,
    PRODUCTION_ORDERS,
)
from widget_factory.processes.lifecycle import Lifecycle, ServiceOptions, describe_speed
from widget_factory.schemas import ProductionOrder
from widget_factory.stations.inputs import StationInputs
from widget_factory.stations.read_ahead import ReadAhead
from widget_factory.stations.reports import StationReports
from widget_factory.stations.truth import StarvationAnswers
from widget_factory.stations.virtual_time import VirtualTime
from widget_factory.stations.widgets import WidgetSender

__all__ = ["WidgetAssemblyService", "ASSEMBLY_GROUP", "main"]

log = logging.getLogger("assembly")

ASSEMBLY_GROUP = "assembly-stations"
_COMMIT_EVERY_S = 0.25
"""Committed offsets trail the inputs by at most this (plus a fetch wait): lag monitors
stay within a wall second. A commit is asynchronous and only sent when offsets moved."""
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
                StatusGate(
                    stations,
                    config.simulation.telemetry_interval_s,
                    options.end,
                    hold_s=options.max_delay_s,
                ),
            )
            if options.lockstep
            else None
        )
        """Lockstep (a whole run in virtual time): inputs applied in event-time order."""
        self.links: StationLinks | None = None
        """Scaled out: the handoff inbox, the forwarder and the progress reports."""
        self.progress = InputProgress(
            COMPONENT_PRODUCTION, PRODUCTION_ORDERS, options.start, options.max_delay_s
        )
        """Positions and event times read here, and (scaled out) reported by others."""
        self.published = PublishedOrders(options.start)
        """The orders this process published, until stored and read back."""
        self.orders = (
            OrderGenerator(
                config, options.rng("orders"), IdSource(options.rng("order-ids")), options.start
            )
            if options.generate_orders
            else None
        )
        self.virtual_time = VirtualTime(
            self.clock,
            self.planner,
            self.progress,
            self.published,
            self.feed,
            scaled_out=self.router.scaled_out,
        )
        self.health = BrokerHealth.watching("assembly", options.settings)
        self.producer = EventProducer(
            options.settings,
            client_id="assembly",
            health=self.health,
            stopping=self.lifecycle.stopping,
        )
        self.dead_letters = DeadLetters(self.producer, "assembly")
        self.upgrades = ReadUpgrades(log)
        self.changelog = AssemblyChangelog(options.settings, self.producer, self.planner.instance)
        self.truth = StarvationAnswers(
            config, self.planner, self.producer, start=options.start, seed=options.seed
        )
        self.intake = Intake(self.dead_letters, self.clock.now, options.config)
        self._ran_to_end = False
        """A bounded run drained to its end (not stopped early): see :meth:`_shutdown`."""
        self.offsets = OffsetTracker()
        self.consumer: Consumer | None = None
        self.group: GroupWatch | None = None
        self.status: StatusFollower | None = None
        # alerts draw their ids apart from the planner's: how many builds one step covers
        # (timing) must not change which id an alert or a widget gets
        alert_ids = IdSource(options.rng("assembly-alert-ids:" + "+".join(sorted(stations))))
        self.reports = StationReports(self.planner, self.producer, alert_ids)
        self.widgets = WidgetSender(self.planner, self.producer, self.reports)
        self.inputs = StationInputs(
            config,
            self.clock,
            self.planner,
            self.router,
            self.progress,
            self.published,
            self.dead_letters,
            self.upgrades,
            self.offsets,
            self.feed,
            intake=self.intake,
        )
        self.read_ahead = (
            ReadAhead(COMPONENT_PRODUCTION)
            if self.clock.virtual and self.feed is None and not self.router.scaled_out
            else None
        )
        """Unlimited speed, one process, not lockstep: component partitions far ahead
        of virtual time wait (their components would only wait in stock)."""
        self._last_commit = time.monotonic()
        self._last_input = time.monotonic()

    # --- restore and rebalance -------------------------------------------------------------

    def restore(self) -> None:
        latest = self.clock.now()

        def replay(changes: ChangeSet) -> None:
            nonlocal latest
            self.planner.replay(changes)
            for build in changes.started:  # how far the process got before (virtual time)
                latest = max(latest, build.widget.assembly_started_at.timestamp())

        replayed = self.changelog.read(replay=replay)
        if not replayed:
            return
        self.reports.restored(replayed)
        self.truth.resumed(latest)
        self.widgets.waiting.extend(self.planner.recovered_completions())

    def _open_links(self) -> None:
        """Scaled out: read this process's stations' handoff partitions from where the
        changelog says, and forward what belongs to other stations."""
        self.links = self.inputs.links = StationLinks(
            self.options.settings,
            self.producer,
            self.router,
            self.planner.stations,
            self.changelog.handoff_positions,
            self.progress,
            health=self.health,
            on_stalled=lambda: not self.lifecycle.running,
        )

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        if self.read_ahead is not None:
            self.read_ahead.release(consumer)
        for tp in self.changelog.resume(partitions):
            self.progress.read(tp.topic, tp.partition, tp.offset)
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
        if self.read_ahead is not None:
            self.read_ahead.release(consumer)

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """The session expired (the broker stopped answering): nothing can be committed;
        the changelog holds the positions, and writes continue once the broker is back."""
        log.warning(
            "Rebalance: lost %s", ", ".join(f"{tp.topic}[{tp.partition}]" for tp in partitions)
        )
        self.offsets.forget(partitions)
        if self.read_ahead is not None:
            self.read_ahead.release(consumer)

    # --- inputs --------------------------------------------------------------------------

    def _publish_initial_orders(self) -> None:
        if self.orders is None:
            return
        assert self.consumer is not None
        if has_records(self.consumer, PRODUCTION_ORDERS):
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

    def _ends(self) -> Ends:
        """The assignment's watermarks as the latest fetch responses reported them."""
        assert self.consumer is not None
        return assignment_ends(self.consumer)

    # --- outputs -------------------------------------------------------------------------

    def _write_changes(self, *, flush: bool) -> bool:
        """Write the planner's changes to the changelog and wait until they are durable.
        False when a stop came first: then nothing they caused may be sent."""
        if self.links is not None and not self.links.settle():
            return False  # handoffs unstored: the positions past them must not be recorded
        return self.changelog.write(
            self.planner.take_changes(),
            int(self.clock.now() * 1000),
            lambda: self.lifecycle.running,
            flush=flush,
        )

    # --- the loop ------------------------------------------------------------------------

    def _advance_virtual_time(self, draining: bool) -> None:
        """Move virtual time as far as the inputs allow, publishing the orders due by then
        (:class:`~widget_factory.stations.virtual_time.VirtualTime` says how far)."""
        ends = self._ends()
        if self.read_ahead is not None:
            watermark = self.progress.local_watermark(ends)
            if watermark is not None:
                assert self.consumer is not None
                times = {
                    p: t
                    for p, t in self.progress.partition_time.items()
                    if (COMPONENT_PRODUCTION, p) in ends
                }
                self.read_ahead.update(self.consumer, times, watermark)
        target = self.virtual_time.reachable(ends, draining, self._inputs_at_end)
        if target is None:
            return
        if self.orders is not None:
            for order in self.orders.orders_until(target):
                self._publish_order(order)
            self.published.published_until(target)
        self.virtual_time.advance(target, ends, draining, self._ends)

    def _inputs_at_end(self) -> bool:
        assert self.consumer is not None
        return self.progress.inputs_at_end(
            self._ends(),
            assignment_positions(self.consumer),
            inbox_at_end=None if self.links is None else self.links.inbox.at_end(),
            virtual=self.clock.virtual,
        )

    def _drained(self) -> bool:
        assert self.consumer is not None
        return (
            not self.planner.in_progress()
            and not self.widgets.waiting
            and len(self.producer) == 0
            and (self.links is None or not len(self.links))
            and time.monotonic() - self._last_input
            > (_SCALED_DRAIN_QUIET_S if self.router.scaled_out else _DRAIN_QUIET_S)
            and self._inputs_at_end()
            and self.group is not None
            and self.group.all_read()
            # lockstep: station reports hold virtual time, and telemetry has finished
            # writing them (producers end first); every one must be read
            and (self.feed is None or self.status is None or self.status.unread() == 0)
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
            self._open_links()

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
            self.options.settings,
            client_id="assembly-status",
            health=self.health,
            dead_letters=self.dead_letters,
            upgrades=self.upgrades,
            from_time=self.options.start if self.feed is not None else None,
        )
        if self.links is not None:
            self.links.learn_group(self.consumer)
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
                if self.links is not None:
                    messages += self.links.poll()
                for message in messages:
                    if message.error() is None and self.inputs.receive(message):
                        self._last_input = time.monotonic()
                if messages:
                    self.health.on_traffic()
                self.inputs.statuses(self.status.poll())
                if end is not None and self.clock.now() >= end:
                    self.lifecycle.drain()
                draining = self.lifecycle.draining
                if draining and self.planner.cutoff == float("inf"):
                    self.planner.cutoff = self.clock.now()
                if virtual:
                    self._advance_virtual_time(draining)
                now = self.clock.now()
                self.reports.loop_step(len(messages), now)
                if self.orders is not None and not virtual:
                    for order in self.orders.orders_until(min(now, self.planner.cutoff)):
                        self._publish_order(order)
                result = self.inputs.step(now)
                self.reports.step(result, self.clock.now())
                self.truth.step(result, now)
                if not self._write_changes(flush=False):
                    break
                if self.links is not None and virtual:  # after the forwards it covers
                    self.links.send_progress(self._ends(), self.published, self.orders is not None)
                self.widgets.send(result.completed)
                self.health.check(self.producer)
                self.producer.poll(0)
                if self.health.down_since is None:
                    self.group.check()
                if time.monotonic() - self._last_commit >= _COMMIT_EVERY_S:
                    self._last_commit = time.monotonic()
                    commit(self.consumer, self.offsets)
                if draining and self._drained():
                    self._ran_to_end = end is not None
                    break
        finally:
            self._shutdown()
        return 0

    def _shutdown(self) -> None:
        self.lifecycle.stop()
        stop = Shutdown("assembly")
        if self.feed is not None and self.feed.stock_the_rest():
            log.info("Stopping before the inputs' time came: the rest went into stock")
        # A bounded run drained to its end: the stations' time runs to that end, even
        # where no input came in the last minutes (a scaled-out process's own clock only
        # follows its inputs).
        closing = self.clock.now()
        if self._ran_to_end and self.options.end is not None:
            closing = max(closing, self.options.end)
        self.truth.close(closing)
        self._write_changes(flush=False)
        flushed = stop.flush(self.producer)
        if self.consumer is not None:
            stop.finish_consumer(self.consumer, self.offsets if flushed else None)
        if self.status is not None:
            stop.close(self.status.close)
        if self.links is not None:
            stop.close(self.links.close)
        self.reports.stopped(self.widgets.sent, read_notes(self.upgrades, self.dead_letters.count))


def main(argv: list[str] | None = None) -> int:
    from widget_factory.cli import main as cli_main

    return cli_main(["assembly", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
