"""Quality control: inspectors check every assembled widget against its type's standard.

Run alone with ``widget-factory quality`` or, from this folder, ``python
quality_control_simulator.py``. Consumer group ``quality-control`` reads
``widget-assembly``; results go to ``quality-control``.

Inspectors pull widgets only as fast as they can inspect them, so a slow quality
control shows up as consumer lag on ``widget-assembly`` (back-pressure), not as a hidden
queue. Offsets are committed only for widgets whose check is delivered; a re-inspection
after a crash is deterministic and carries the same ``event_id``.

The answer key: a widget with flawed parts gets, with its check, one ``influence_truth``
record on ``factory-ground-truth`` per machine fault that made some of them worse
(core/fault_influence.py). The faults come from that topic, read up to its end (on the
fault feed's thread, kafka_io/fault_feed.py) after the widget arrived and before its
parts are attributed; the check itself does not wait.
"""

from __future__ import annotations

import heapq
import logging
import math
import sys
import time
from collections import OrderedDict
from pathlib import Path
from typing import NamedTuple

if __name__ == "__main__" and not __package__:  # run as a script from the package folder
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from confluent_kafka import Consumer, Message, TopicPartition

from widget_factory.compat import ReadUpgrades, read_notes
from widget_factory.core.fault_influence import FaultIndex
from widget_factory.core.ids import IdSource
from widget_factory.core.inspection import PassRateTracker, QualityInspection, expected_pass_rate
from widget_factory.core.lockstep import EventTimeQueue
from widget_factory.kafka_io.client import (
    BrokerHealth,
    EventProducer,
    consume_available,
)
from widget_factory.kafka_io.dead_letters import DeadLetters
from widget_factory.kafka_io.fault_feed import FaultFeed
from widget_factory.kafka_io.group_watch import GroupWatch, watched_consumer
from widget_factory.kafka_io.intake import Intake, routed_before
from widget_factory.kafka_io.offsets import OffsetTracker, at_end, commit
from widget_factory.kafka_io.shutdown import Shutdown
from widget_factory.kafka_io.topics import FACTORY_ALERTS, QUALITY_CONTROL, WIDGET_ASSEMBLY
from widget_factory.kafka_io.truth_publisher import TruthPublisher
from widget_factory.processes.lifecycle import Lifecycle, LogPacer, ServiceOptions, describe_speed
from widget_factory.schemas import (
    FactoryAlert,
    QualityCheck,
    QualityStatus,
    SchemaError,
    WidgetAssembled,
    decode_as,
)

__all__ = ["QualityControlService", "QUALITY_GROUP", "main"]

log = logging.getLogger("quality")

QUALITY_GROUP = "quality-control"
_COMMIT_EVERY_S = 0.25
_END_IDLE_S = 10.0
"""Run alone with --duration, quality control stops this long after its last widget
past the end time (assembly finishes builds begun before the end)."""
_RECENT = 50_000
"""Widget event ids remembered to drop duplicates (a re-sent widget keeps its id)."""


class PendingCheck(NamedTuple):
    """A check decided but not yet due: published at ``checked_at`` (simulated seconds).

    Ordered as a tuple on a heap: by ``checked_at``, then ``seq`` (arrival order, unique,
    so checks never get compared). ``topic``, ``partition``, ``offset`` locate the widget
    record, whose offset is committed once the check is published; ``ticket`` (when the
    widget has flaws) is the fault feed's, whose answer must be published too before
    the offset is."""

    checked_at: float
    seq: int
    check: QualityCheck
    topic: str
    partition: int
    offset: int
    ticket: int = 0


class QualityControlService:
    def __init__(self, options: ServiceOptions, lifecycle: Lifecycle | None = None) -> None:
        self.options = options
        self.lifecycle = lifecycle or Lifecycle()
        self.clock = options.clock()
        config = options.config
        self.inspectors = list(options.inspectors or config.quality.inspectors)
        self.inspection = QualityInspection(config, options.seed)
        margin = config.quality.alert_margin
        self.pass_rates = PassRateTracker(
            config,
            standards={
                t: max(0.0, expected_pass_rate(config, t) - margin) for t in config.widget_types
            },
        )
        self.ids = IdSource(options.rng("quality-ids:" + "+".join(sorted(self.inspectors))))
        self.health = BrokerHealth.watching("quality", options.settings)
        self.producer = EventProducer(
            options.settings,
            client_id="quality",
            health=self.health,
            stopping=self.lifecycle.stopping,
        )
        self.dead_letters = DeadLetters(self.producer, "quality")
        self.upgrades = ReadUpgrades(log)
        self.intake = Intake(self.dead_letters, self.clock.now, options.config)
        self.offsets = OffsetTracker()
        self.consumer: Consumer | None = None
        self.group: GroupWatch | None = None
        self._free_at = dict.fromkeys(self.inspectors, 0.0)
        self.queue: EventTimeQueue[tuple[WidgetAssembled, str, int | None, int | None]] | None = (
            EventTimeQueue() if options.lockstep else None
        )
        """Lockstep: widgets wait here to be inspected in completion-time order, up to
        the time every partition has reached (each is in completion order)."""
        self._partition_time: dict[int, float] = {}
        self._pending: list[PendingCheck] = []
        self._seq = 0
        self._recent: OrderedDict[str, None] = OrderedDict()
        self._pacer = LogPacer(log, "quality checks")
        self.faults = FaultIndex()
        """Machine faults read from factory-ground-truth, to attribute flawed parts."""
        self.fault_feed: FaultFeed | None = None
        self._awaiting: dict[int, tuple[str, int, int]] = {}
        """Checks published whose influence answer has not come: ticket -> widget record."""
        self._answered_early: set[int] = set()
        """Influence answers published before their check was."""
        self.truth = TruthPublisher(self.producer)
        self.influences = 0
        self.checked = 0
        self.duplicates = 0
        self._last_input = time.monotonic()

    @property
    def _capacity(self) -> int:
        """Widgets taken from Kafka ahead of inspection: a few in real time (back-pressure
        stays visible as lag), a large batch when running as fast as possible."""
        if self.queue is not None:
            return 1000 + len(self._pending)  # never stop reading: time needs every partition
        return 1000 if self.clock.virtual else 2 * len(self.inspectors)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._drop_pending(partitions)
        if self.producer.flush(5) == 0:
            commit(consumer, self.offsets, sync=True)
        self.offsets.forget(partitions)

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._drop_pending(partitions)
        self.offsets.forget(partitions)

    def _drop_pending(self, partitions: list[TopicPartition]) -> None:
        """Widgets of partitions given up are not inspected here: the next owner reads
        them again from the last commit."""
        revoked = {(tp.topic, tp.partition) for tp in partitions}
        self._pending = [p for p in self._pending if (p.topic, p.partition) not in revoked]
        self._awaiting = {t: w for t, w in self._awaiting.items() if w[:2] not in revoked}
        heapq.heapify(self._pending)

    def _receive(self, message: Message) -> None:
        topic, partition, offset = message.topic(), message.partition(), message.offset()
        self.offsets.consumed(topic, partition, offset, open_=True)
        try:
            widget = decode_as(
                message.value() or b"", WidgetAssembled, topic=topic, upgrades=self.upgrades
            )
            if widget.widget_type not in self.options.config.widget_types:
                raise SchemaError(
                    f"unknown widget type {widget.widget_type!r} - at `$.widget_type`"
                )
        except SchemaError as exc:
            self.dead_letters.route(message, str(exc))
            self.offsets.close(topic, partition, offset)
            return
        if not self.intake.admit(message, widget):
            self.offsets.close(topic, partition, offset)
            return
        if widget.event_id in self._recent:
            self.duplicates += 1
            self.offsets.close(topic, partition, offset)
            return
        self._recent[widget.event_id] = None
        if len(self._recent) > _RECENT:
            self._recent.popitem(last=False)
        if self.queue is not None:
            completed = widget.assembly_completed_at.timestamp()
            self.queue.push(completed, 0, widget.widget_id, (widget, topic, partition, offset))
            if completed > self._partition_time.get(partition or 0, -math.inf):
                self._partition_time[partition or 0] = completed
            return
        self._inspect(widget, topic, partition, offset)

    def _inspect(
        self, widget: WidgetAssembled, topic: str, partition: int | None, offset: int | None
    ) -> None:
        inspector = min(self.inspectors, key=lambda i: self._free_at[i])
        completed = widget.assembly_completed_at.timestamp()
        # In virtual time widgets arrive partition by partition, not in time order, so an
        # inspector's queue would push later checks hours past their widgets: there, an
        # inspection starts when its widget is done. In real time inspectors queue.
        begins = completed if self.clock.virtual else max(completed, self._free_at[inspector])
        checked_at = begins + self.inspection.inspection_seconds(widget)
        self._free_at[inspector] = checked_at
        check = self.inspection.inspect(widget, inspector, checked_at)
        ticket = 0
        if widget.component_flaws and self.fault_feed is not None:
            ticket = self.fault_feed.ask(widget, check)
        self._seq += 1
        heapq.heappush(
            self._pending,
            PendingCheck(checked_at, self._seq, check, topic, partition, offset, ticket),
        )

    def _publish_influences(self) -> None:
        """The fault feed's answers: published now; a widget's offset is closed once
        both its check and its answer are out."""
        if self.fault_feed is None:
            return
        for ticket, truths in self.fault_feed.answers():
            if truths:
                self.truth.publish(truths)
                self.influences += len(truths)
            where = self._awaiting.pop(ticket, None)
            if where is None:
                self._answered_early.add(ticket)
            else:
                self.offsets.close(*where)

    def _watermark(self) -> float:
        """Lockstep: the completion time every assigned partition has reached (all of
        them read to the end while draining: no limit)."""
        assert self.consumer is not None
        if self.lifecycle.draining and at_end(self.consumer):
            return math.inf
        assignment = self.consumer.assignment()
        times = [self._partition_time.get(tp.partition, -math.inf) for tp in assignment]
        return min(times, default=-math.inf)

    def _inspect_due(self) -> float:
        """Lockstep: inspect the widgets due by the watermark, in order; returns it."""
        assert self.queue is not None
        until = self._watermark()
        for _at, item in self.queue.pop_until(until):
            self._inspect(*item)
        return until

    def _emit_due(self, now: float) -> None:
        anytime = self.clock.virtual and self.queue is None
        while self._pending and (anytime or self._pending[0].checked_at <= now):
            due = heapq.heappop(self._pending)
            self.clock.observe(due.checked_at)
            self.producer.send(QUALITY_CONTROL, due.check)
            if due.ticket and due.ticket not in self._answered_early:
                self._awaiting[due.ticket] = (due.topic, due.partition, due.offset)
            else:
                self._answered_early.discard(due.ticket)
                self.offsets.close(due.topic, due.partition, due.offset)
            self.checked += 1
            self._log_check(due.check)

    def _log_check(self, check: QualityCheck) -> None:
        if check.status is QualityStatus.PASS:
            if self._pacer.allow():
                log.info("Quality check: %s - PASS", check.widget_id)
        elif self._pacer.allow():
            traced = check.traced_to
            log.warning(
                "Widget %s failed QC: %s%s",
                check.widget_id,
                check.defects_found,
                f" (traced to {traced.component_id or 'a component'}"
                f"{' of ' + traced.machine_id if traced.machine_id else ''}: {traced.reason})"
                if traced is not None
                else "",
            )
        alert = self.pass_rates.record(check)
        if alert is not None:
            message = (
                f"{alert.widget_type} pass rate {alert.pass_rate:.0%} over the last {alert.window} "
                f"checks is under its standard's alert level of {alert.standard:.0%}"
            )
            log.warning(message)
            self.producer.send(
                FACTORY_ALERTS,
                FactoryAlert(
                    event_id=self.ids.event_id(),
                    alert_id=self.ids.short_id("ALERT"),
                    severity="warning",
                    source_id=alert.widget_type,
                    message=message,
                    raised_at=check.checked_at,
                    kind="pass_rate_below_standard",
                ),
            )
        if self.pass_rates.total % 10 == 0:
            self._summary()

    def _summary(self) -> None:
        by_type = ", ".join(
            f"{widget_type} {passed}/{total}"
            for widget_type, (passed, total) in sorted(self.pass_rates.summary().items())
        )
        rate = self.pass_rates.passed / self.pass_rates.total if self.pass_rates.total else 0.0
        log.info(
            "QC summary: %d checked, pass rate %.1f%% (%s)",
            self.pass_rates.total,
            100 * rate,
            by_type,
        )

    def _drained(self) -> bool:
        assert self.consumer is not None
        return (
            not self._pending
            and not self.queue
            and (self.fault_feed is None or self.fault_feed.outstanding == 0)
            and len(self.producer) == 0
            and time.monotonic() - self._last_input > 0.5
            and at_end(self.consumer)
            and self.group is not None
            and self.group.all_read()
        )

    def run(self) -> int:
        log.info(
            "Quality control with %s on %s, %s",
            ", ".join(self.inspectors),
            self.options.settings.describe(),
            describe_speed(self.options),
        )
        self.dead_letters.routed = routed_before(self.options.settings, "quality")
        self.group = watched_consumer(
            self.options.settings,
            QUALITY_GROUP,
            [WIDGET_ASSEMBLY],
            client_id="quality",
            health=self.health,
            on_revoke=self._on_revoke,
            on_lost=self._on_lost,
        )
        self.consumer = self.group.consumer
        self.fault_feed = FaultFeed(
            self.options.settings,
            self.faults,
            client_id="quality-faults",
            running=lambda: self.lifecycle.running,
        )
        last_commit = time.monotonic()
        end = self.options.end
        try:
            while self.lifecycle.running:
                room = self._capacity - len(self._pending)
                messages = consume_available(self.consumer, room, 0.05) if room > 0 else []
                if room <= 0:
                    self.lifecycle.sleep(
                        min(0.05, self.clock.wall_seconds_until(self._pending[0].checked_at))
                    )
                for message in messages:
                    if message.error() is None:
                        self._receive(message)
                if messages:
                    self._last_input = time.monotonic()
                    self.health.on_traffic()
                self._emit_due(self._inspect_due() if self.queue is not None else self.clock.now())
                self._publish_influences()
                self.producer.poll(0)
                self.health.check(self.producer)
                if self.health.down_since is None:
                    self.group.check()
                if time.monotonic() - last_commit >= _COMMIT_EVERY_S:
                    last_commit = time.monotonic()
                    if (
                        not self.health.unresponsive
                        and self.offsets.has_pending()
                        and self.producer.flush(1.0) == 0
                    ):
                        commit(self.consumer, self.offsets)
                if (
                    end is not None
                    and self.clock.now() >= end
                    and time.monotonic() - self._last_input > _END_IDLE_S
                ):
                    self.lifecycle.drain()  # alone with --duration: upstream has gone quiet
                if self.lifecycle.draining and self._drained():
                    break
        finally:
            self._shutdown()
        return 0

    def _shutdown(self) -> None:
        stop = Shutdown("quality")
        flushed = stop.flush(self.producer)
        remaining = len(self.producer)
        if self.consumer is not None:
            stop.finish_consumer(self.consumer, self.offsets if flushed else None)
        if self.fault_feed is not None:
            stop.close(self.fault_feed.close)
        if self.pass_rates.total:
            self._summary()
        feed = self.fault_feed
        if feed is not None and feed.catch_ups:
            log.info(
                "Answer key: %d influence_truth records; faults read to the topic's end %d "
                "times (%.1f s)",
                self.influences,
                feed.catch_ups,
                feed.catch_up_s,
            )
        log.info(
            "Quality control stopped: %d widgets inspected, %d duplicates dropped, %d not yet inspected%s%s",
            self.checked,
            self.duplicates,
            len(self._pending),
            f", {remaining} checks undelivered" if remaining else "",
            read_notes(self.upgrades, self.dead_letters.count),
        )


def main(argv: list[str] | None = None) -> int:
    from widget_factory.cli import main as cli_main

    return cli_main(["quality", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
