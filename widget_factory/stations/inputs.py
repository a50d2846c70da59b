"""Assembly inputs: decode, check and route each component or order read.

Each record's position is noted first (the planner records it in the changelog; a group
partition's offset is also tracked for the group's commits). A record read from a group
partition (``component-production``, ``production-orders``) is decoded as its topic's
event; one from this process's handoff inbox may be either. An unknown component or
widget type is bad input (a dead letter). Scaled out, a record whose home is another
process's station is forwarded there as its original bytes; everything else goes to
the local planner.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field

from confluent_kafka import Message

from widget_factory.compat import ReadUpgrades
from widget_factory.core.assembly import AssemblyPlanner
from widget_factory.core.assembly_records import StepResult
from widget_factory.core.clock import SimClock
from widget_factory.core.lockstep import PlannerFeed
from widget_factory.core.progress import InputProgress, PublishedOrders
from widget_factory.core.routing import StationRouter
from widget_factory.factory_config import FactoryConfig
from widget_factory.kafka_io.dead_letters import DeadLetters
from widget_factory.kafka_io.intake import Intake
from widget_factory.kafka_io.offsets import OffsetTracker
from widget_factory.kafka_io.station_links import StationLinks
from widget_factory.kafka_io.status import StatusUpdate
from widget_factory.kafka_io.topics import (
    ASSEMBLY_HANDOFFS,
    COMPONENT_PRODUCTION,
    PRODUCTION_ORDERS,
)
from widget_factory.schemas import (
    ComponentProduced,
    ProductionOrder,
    SchemaError,
    decode,
    decode_as,
)

__all__ = ["StationInputs", "log_order"]

log = logging.getLogger("assembly")


@dataclass
class StationInputs:
    """Takes the inputs of one assembly process (see the module docstring)."""

    config: FactoryConfig
    clock: SimClock
    planner: AssemblyPlanner
    router: StationRouter
    progress: InputProgress
    published: PublishedOrders
    dead_letters: DeadLetters
    upgrades: ReadUpgrades
    """Walkthrough-shaped records upgraded on read, counted for the summary line."""
    offsets: OffsetTracker
    """The group partitions' offsets read, for the service's commits."""
    feed: PlannerFeed | None = None
    """Lockstep (a whole run in virtual time): inputs applied in event-time order."""
    links: StationLinks | None = None
    """Scaled out: where records for other processes' stations go."""
    intake: Intake | None = None
    """Refuses well-formed poison read from a group partition (docs/contract.md, "Dead
    letters") and drops duplicates; a handoff was admitted by the process that read it."""
    status_at: dict[str, float] = field(default_factory=dict)
    """Outside lockstep: the time of each station's status applied last. A report older
    than it (sent late by an edge gateway, ``--late-fraction``) is stale: not applied."""

    def receive(self, message: Message) -> bool:
        """A record read from a group partition or from the handoff inbox: its position
        noted, then taken when it is this process's input. False for a progress record
        of another process (not an input: it must not keep a draining process waiting)."""
        topic, partition = message.topic() or "", message.partition() or 0
        offset = message.offset() or 0
        self.planner.record_position(topic, partition, offset + 1)
        if topic == ASSEMBLY_HANDOFFS:
            assert self.links is not None
            is_input = not self.links.is_progress(message)
            if self.links.take(message):  # not another station's record, nor progress
                self.take(message, handoff=True)
            return is_input
        self.offsets.consumed(topic, partition, offset)
        self.progress.read(topic, partition, offset + 1)
        self.take(message, handoff=False)
        return True

    def take(self, message: Message, *, handoff: bool) -> None:
        """Act on ``message``, read from a group partition or (``handoff``) the inbox."""
        topic = message.topic()
        value = message.value() or b""
        try:
            if topic == COMPONENT_PRODUCTION:
                component = decode_as(value, ComponentProduced, topic=topic, upgrades=self.upgrades)
                if self.intake is None or self.intake.admit(message, component):
                    self._take_component(component, message)
            elif topic == PRODUCTION_ORDERS:
                order = decode_as(value, ProductionOrder, topic=topic, upgrades=self.upgrades)
                if self.intake is None or self.intake.admit(message, order):
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

    def statuses(self, updates: Iterable[StatusUpdate]) -> None:
        """Station statuses read from telemetry: in lockstep they wait in the feed for
        their time; otherwise they apply at once."""
        for machine_id, status, at in updates:
            if self.feed is not None:
                self.feed.gate.add(machine_id, status, at)
            elif at >= self.status_at.get(machine_id, at):
                self.status_at[machine_id] = at
                self.planner.set_status(machine_id, status)

    def step(self, now: float) -> StepResult:
        """The planner stepped to ``now``; in lockstep, with every input due by then
        applied in event-time order (the orders it accepted are logged)."""
        if self.feed is None:
            return self.planner.step(now)
        result, accepted = self.feed.step(now)
        for order in accepted:
            log_order(order)
        return result

    def _take_component(self, component: ComponentProduced, source: Message | None) -> None:
        """A component from a group partition (``source``) or from this process's inbox."""
        if component.component_type not in self.config.component_types:
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
                assert self.links is not None
                self.links.forward(target, source)
                return
        if self.feed is not None:
            self.feed.component(component)
            return
        self.planner.receive_component(component)

    def _take_order(self, order: ProductionOrder, source: Message | None) -> None:
        """An order from a group partition (``source``) or from this process's inbox."""
        self.published.read_back(order.order_id)
        if order.widget_type not in self.config.widget_types:
            raise SchemaError(f"unknown widget type {order.widget_type!r} - at `$.widget_type`")
        if source is not None:
            target = self.router.order_target(order.order_id, order.widget_type)
            if target is not None:
                assert self.links is not None
                self.links.forward(target, source)
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
            log_order(order)


def _source_topic(message: Message) -> str:
    """The topic a handed-off record was first read from (its ``source.topic`` header)."""
    for header in message.headers() or []:
        if tuple(header)[0] == "source.topic" and isinstance(value := tuple(header)[1], bytes):
            return value.decode(errors="replace")
    return ""


def log_order(order: ProductionOrder) -> None:
    """An order accepted into a local station's book."""
    log.info(
        "Added production order: %dx %s (%s, priority %d)",
        order.quantity,
        order.widget_type,
        order.order_id,
        order.priority,
    )
