"""Component production: every machine makes components on its own cycle.

Run alone with ``widget-factory components`` or, from this folder, ``python
component_production_simulator.py`` (same options). Machines follow their status on
``machine-telemetry``: a machine in error, maintenance or shutdown produces nothing.

Status by simulated time (core/status_watermark.py): a component due at ``t`` is made
only once the status up to ``t`` is known: every machine's report at ``r`` has been read
with ``t < r + interval`` (status changes only at report instants, commands included),
and status reports apply in time order between components. With no telemetry read within
``--telemetry-wait`` wall seconds of the start (no telemetry service), or none for
``_TELEMETRY_SILENT_S`` later on (it stopped), machines run on their last known status,
and the log says so. Silence counts only while the broker answers and no report waits
unread: a paused broker is an outage, not a stopped telemetry service.

Kanban (core/kanban.py): this service counts its stock per component type (what it
made, minus the components in widgets on ``widget-assembly``) and parks a type's machines
at the ceiling until stock falls to the reorder point. Each park and restart goes to
the telemetry service as a ``kanban_hold`` / ``kanban_release`` command on
``factory-commands``, so the machine reports ``idle`` meanwhile. Nothing here waits on
telemetry's idle reports, and nothing waits on assembly for long: no deadlock at
``--speed max``. There (virtual time) production keeps at most ``_KANBAN_LEAD_S``
simulated seconds ahead of the latest widget it has read, so that stock counts and
refills are not hours late; when assembly completes nothing for ``_KANBAN_STALL_S`` wall
seconds (no orders, or starved), production moves on by another lead.

Late delivery (``--late-fraction F --max-delay D``, core/edge_gateway.py): components
leave through each machine's edge gateway (kafka_io/late_delivery.py), released as
production's own time reaches their release time; and since telemetry may come as late,
the status gate waits ``D`` behind it (core/status_watermark.py explains the choice).
"""

from __future__ import annotations

import logging
import math
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

if __name__ == "__main__" and not __package__:  # run as a script from the package folder
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from widget_factory.compat import ReadUpgrades, read_notes
from widget_factory.core.clock import to_datetime
from widget_factory.core.event_format import format_time
from widget_factory.core.fast_encode import MadeComponent
from widget_factory.core.ids import IdSource
from widget_factory.core.kanban import KanbanBoard, kanban_limits
from widget_factory.core.machine_share import share_config
from widget_factory.core.oee_truth import OeeTruthTracker
from widget_factory.core.production import PRODUCING_STATUSES, ComponentProduction
from widget_factory.core.status_watermark import StatusGate
from widget_factory.kafka_io.client import BrokerHealth, EventProducer
from widget_factory.kafka_io.consumption import ConsumptionFollower
from widget_factory.kafka_io.dead_letters import DeadLetters
from widget_factory.kafka_io.late_delivery import LateSender
from widget_factory.kafka_io.shutdown import Shutdown
from widget_factory.kafka_io.status import StatusFollower
from widget_factory.kafka_io.topics import COMPONENT_PRODUCTION, FACTORY_COMMANDS
from widget_factory.kafka_io.truth_publisher import TruthPublisher
from widget_factory.processes.lifecycle import Lifecycle, LogPacer, ServiceOptions, describe_speed
from widget_factory.schemas import FactoryCommand, MachineStatus

__all__ = ["ComponentProductionService", "main"]

log = logging.getLogger("components")

_BATCH = 2000
"""Components generated per step when running as fast as possible."""
_VIRTUAL_STEP = 3600.0
"""Simulated seconds a virtual clock moves per step (bounded by ``_BATCH``): an hour, some
300 components of the reference factory, so each step's records are written at once
(core/component_text.py, from 64) and the step's fixed costs (status poll, true-OEE
windows, producer poll) spread over many. Telemetry and kanban still bound each step."""
_KANBAN_LEAD_S = 1800.0
"""Virtual time: how far production may run ahead of assembly's latest widget."""
_KANBAN_STALL_S = 1.0
"""Virtual time: wall seconds without a new widget before production moves on anyway."""
_TELEMETRY_SILENT_S = 10.0
"""Wall seconds without any telemetry after which machines run on their last status
(or three report intervals, when that is longer at a slow speed)."""


class ComponentProductionService:
    def __init__(self, options: ServiceOptions, lifecycle: Lifecycle | None = None) -> None:
        self.options = options
        self.lifecycle = lifecycle or Lifecycle()
        self.clock = options.clock()
        config = options.config
        self.production = ComponentProduction(
            config,
            options.rng("components"),
            IdSource(options.rng("component-ids")),
            options.start,
            options.share,
        )
        self.health = BrokerHealth.watching("components", options.settings)
        self.producer = EventProducer(
            options.settings,
            client_id="components",
            health=self.health,
            stopping=self.lifecycle.stopping,
            report_successes=False,
        )
        self.dead_letters = DeadLetters(self.producer, "components")
        self.upgrades = ReadUpgrades(log)
        self.status = StatusFollower(
            options.settings,
            client_id="components-status",
            health=self.health,
            dead_letters=self.dead_letters,
            upgrades=self.upgrades,
            # lockstep: this run's reports only, each applied at its time; otherwise every
            # report, an earlier run's giving the status at the start
            from_time=options.start if options.lockstep else None,
            whole_history=not options.lockstep,
        )
        interval = config.simulation.telemetry_interval_s
        # In virtual time (lockstep or not) every machine's telemetry keeps coming, if
        # only from another telemetry worker running at its own pace: none is dropped for
        # being behind, or production would run into a status it has not read yet.
        self.gate = StatusGate(
            [m.id for m in config.machines],
            # beside a telemetry service of the same run (a --telemetry-wait above the
            # default), a machine behind is late, not gone, at any speed
            silent_after_s=(
                math.inf
                if options.speed is None or options.telemetry_wait_s > _TELEMETRY_SILENT_S
                else 4 * interval
            ),
            # late telemetry (--max-delay): wait for what a gateway may still hold
            hold_s=options.max_delay_s,
            # a report tells the status up to the next one (commands wait for it too)
            promise_s=interval,
        )
        self._interval = interval
        self._telemetry_heard = time.monotonic()
        self._silent_s = max(
            _TELEMETRY_SILENT_S, 3 * interval / options.speed if options.speed else 0.0
        )
        self._silent = False
        self._lockstep = options.lockstep
        """Lockstep (a reproducible virtual-time run): production always waits for
        telemetry (no wall-clock fallback) and kanban is off, since widget consumption is
        read in arrival order, not event time."""
        self._produced_to = options.start
        """Simulated time up to which production has gone."""
        self.board: KanbanBoard | None = None
        self.consumption: ConsumptionFollower | None = None
        if config.kanban.enabled and not options.lockstep:
            self.board = KanbanBoard(kanban_limits(config))
            self.consumption = ConsumptionFollower(
                options.settings, client_id="components-consumption", health=self.health
            )
            for component_type in self.board.limits:
                self.production.allow(component_type, 0, options.start)
            self._reorder()
        self._ids = IdSource(options.rng("kanban-command-ids"))
        self._lead_base = options.start
        self._stalled_since: float | None = None
        self._pacer = LogPacer(log, "components")
        self.oee = OeeTruthTracker(share_config(options.config, options.share), options.start)
        """True OEE per machine and minute, published on factory-ground-truth."""
        self.truth = TruthPublisher(self.producer)
        self.late = LateSender.build(
            self.producer,
            self.truth,
            COMPONENT_PRODUCTION,
            options,
            calm_s=interval,
            key_of=lambda event: event.machine_id,  # type: ignore[attr-defined]
        )
        """--late-fraction: components leave as an edge gateway sends them after a blip,
        released as production's own time (``_produced_to``) reaches their release time."""
        self.components_sent = 0

    # --- status ---------------------------------------------------------------------------

    def _follow_status(self, wait_s: float = 0.0) -> None:
        """Read the telemetry that came; ``wait_s``: wait that long for some if none did."""
        updates = self.status.poll(10000, wait_s)
        if updates:
            self._telemetry_heard = time.monotonic()
            self.health.answered()
            if self._silent:
                self._silent = False
                log.info("Telemetry is back: production follows it by simulated time again")
        start = self.options.start
        for machine_id, status, at in updates:
            if at < start:  # an earlier run's: only its latest status counts, at the start
                if machine_id in self.options.config.machine_by_id:
                    self.production.set_status(machine_id, status, start)
                    self.oee.status(machine_id, status, start)
                    self.gate.observe(machine_id, at)
            else:
                self.gate.add(machine_id, status, at)

    def _horizon(self) -> float:
        """How far production may go in simulated time, given the telemetry read."""
        # Beside a telemetry service of the same run (--telemetry-wait 120) a pause in
        # its reports means it is behind (waiting for assembly, or a busy machine), not
        # gone: production keeps waiting for it rather than running into unread statuses.
        wait_s = self.options.telemetry_wait_s
        silent_s = max(self._silent_s, wait_s) if self.gate.engaged else wait_s
        if not self._lockstep and time.monotonic() - self._telemetry_heard > silent_s:
            if self._silent:
                return math.inf
            unread = self.status.unread()
            if unread == 0:
                self._silent = True
                log.warning(
                    "No machine telemetry for %.0f s: machines run on their last known status",
                    silent_s,
                )
                return math.inf
            # The broker does not answer (paused, cut off), or reports are on their way:
            # that is not a silent telemetry service. The wait starts over, so no
            # component falls inside a breakdown reported during an outage.
            if unread is None:
                self.health.unanswered(time.monotonic() - self._telemetry_heard)
            self._telemetry_heard = time.monotonic()
        # every machine starts the run running and reports within one interval, so
        # production may always reach the start (a run shorter than one interval ends
        # before some machines first report)
        horizon = max(self.gate.horizon(), self.options.start)
        end = self.options.end
        reported = max(self.gate.reported_until(), self.options.start)
        if end is not None and reported + self._interval > end:
            # telemetry reports no more before the end of a bounded run (whose last
            # reports are never sent late: core/edge_gateway.py)
            horizon = end
        return horizon

    def _apply_status(self, machine_id: str, status: MachineStatus, at: float) -> None:
        before = self.production.status(machine_id) if self.production.makes(machine_id) else None
        self.production.set_status(machine_id, status, at)
        self.oee.status(machine_id, status, at)
        if (before in PRODUCING_STATUSES) != (status in PRODUCING_STATUSES):
            if status in PRODUCING_STATUSES:
                log.info(
                    "%s is %s again at %s: production resumes",
                    machine_id,
                    status.value,
                    format_time(to_datetime(at)),
                )
            else:
                log.warning(
                    "%s is in %s at %s: no components until it recovers",
                    machine_id,
                    status.value,
                    format_time(to_datetime(at)),
                )

    def _produce(self, until: float, budget: int | None) -> list[MadeComponent]:
        """Components due up to ``until``, with the status reports up to then applied in
        time order: a report at ``r`` takes effect for components due from ``r`` on."""
        events: list[MadeComponent] = []
        while True:
            left = None if budget is None else budget - len(events)
            if left is not None and left <= 0:
                return events
            change = self.gate.next_change()
            if change > until:
                made = self.production.produce_records(until, limit=left)
                events += made
                if left is None or len(made) < left:
                    self._produced_to = max(self._produced_to, until)
                return events
            made = self.production.produce_records(math.nextafter(change, -math.inf), limit=left)
            events += made
            if left is not None and len(made) >= left:
                return events
            for machine_id, status, at in self.gate.release(change):
                self._apply_status(machine_id, status, at)
            self._produced_to = max(self._produced_to, change)

    # --- kanban ---------------------------------------------------------------------------

    def _reorder(self) -> None:
        board = self.board
        if board is None:
            return
        allowed = {t: self.production.allowance(t) for t in board.limits}
        for component_type, units in board.orders(allowed).items():
            self.production.allow(
                component_type, allowed[component_type] + units, self._produced_to
            )

    def _follow_kanban(self, events: list[MadeComponent]) -> None:
        board = self.board
        if board is None or self.consumption is None:
            return
        for event in events:
            board.produced(event.component_type, event.component_id)
        board.consumed(self.consumption.poll())
        self._reorder()
        machines = self.options.config.machine_by_id
        for hold in self.production.drain_holds():
            component_type = machines[hold.machine_id].component_type
            limit = board.limits[component_type]
            if hold.held:
                log.info(
                    "%s idle: %s stock at its ceiling (%d)",
                    hold.machine_id,
                    component_type,
                    limit.ceiling,
                )
            else:
                log.info(
                    "%s resumes: %s stock %d, reorder point %d",
                    hold.machine_id,
                    component_type,
                    board.stock(component_type),
                    limit.reorder,
                )
            command = FactoryCommand(
                event_id=self._ids.event_id(),
                command="kanban_hold" if hold.held else "kanban_release",
                target_id=hold.machine_id,
                issued_at=datetime.now(UTC),
                args={"at": to_datetime(hold.at).isoformat(), "component_type": component_type},
            )
            self.producer.send(FACTORY_COMMANDS, command)

    def _kanban_bound(self) -> float:
        """Virtual time: how far production may go given how far assembly got."""
        if self.consumption is None or not self.clock.virtual:
            return math.inf
        base = max(self.consumption.latest, self._lead_base)
        bound = base + _KANBAN_LEAD_S
        if self._produced_to < bound:
            self._stalled_since = None
        elif self._stalled_since is None:
            self._stalled_since = time.monotonic()
        elif time.monotonic() - self._stalled_since > _KANBAN_STALL_S:
            self._lead_base = self._produced_to  # assembly completes nothing: move on
            self._stalled_since = None
        return bound

    # --- the loop ------------------------------------------------------------------------

    def _advance_virtual_time(self, end: float | None) -> None:
        """Virtual time moves to the next component (in steps), or on by a step when every
        machine is down, so a factory with nothing running still reaches its end."""
        due = self.production.next_time()
        target = (due if due != float("inf") else self.clock.now()) + _VIRTUAL_STEP
        self.clock.advance_to(target if end is None else min(target, end))

    def run(self) -> int:
        log.info(
            "Component production on %s, %s",
            self.options.settings.describe(),
            describe_speed(self.options),
        )
        end = self.options.end
        virtual = self.clock.virtual
        if self.consumption is not None:
            self.consumption.start()
        held_s = 0.0
        """Real time: how long to wait for telemetry in the next round (production is
        held by a report that is due and not read yet)."""
        try:
            while self.lifecycle.running and not self.lifecycle.draining:
                self._follow_status(held_s)
                held_s = 0.0
                if virtual:
                    self._advance_virtual_time(end)
                now = self.clock.now()
                if end is not None and now >= end:
                    now = end
                until = min(now, self._horizon(), self._kanban_bound())
                events = self._produce(until, _BATCH if virtual else None)
                # drifts begun or ended go before the parts made after that: quality
                # control reads them when it inspects those parts (core/fault_influence.py)
                self.truth.publish(self.production.drain_drifts())
                if self.late is None:
                    self.producer.send_encoded(COMPONENT_PRODUCTION, events)
                else:  # the gateways hold events (kafka_io/late_delivery.py)
                    self.late.send([made.event() for made in events])
                    self.late.deliver(self._produced_to)
                self.components_sent += len(events)
                self._follow_kanban(events)
                self.oee.made_records(events)
                # every component before the next one due is made: those windows are whole
                self.truth.publish_encoded(
                    self.oee.close_until_encoded(
                        min(self._produced_to, self.production.next_time())
                    )
                )
                for event in events[: self._pacer.allow_many(len(events))]:
                    log.info(
                        "Component produced: %s (%s) on %s",
                        event.component_id,
                        event.component_type,
                        event.machine_id,
                    )
                for stoppage in self.production.drain_stoppages():
                    log.info(
                        "%s stopped briefly for %.0f simulated minutes",
                        stoppage.machine_id,
                        (stoppage.end - stoppage.start) / 60,
                    )
                self.producer.poll(0)
                self.health.check(self.producer)
                if end is not None and self._produced_to >= end:
                    break  # (every machine down counts too: nothing is due before the end)
                if not virtual:
                    due = min(self.production.next_time(), self.gate.next_change())
                    if until < now and due <= now:
                        # held by telemetry not read yet: wait for it in the status
                        # reader, which wakes when a report comes (no busy wait)
                        held_s = 0.02
                        continue
                    self.lifecycle.sleep(min(self.clock.wall_seconds_until(due), 0.1))
                elif not events and until < now:
                    self.lifecycle.sleep(0.005)  # waiting for telemetry to catch up
        finally:
            if self.late is not None:
                self.late.close()  # what the gateways still hold goes now, in order
            if end is not None:
                self.truth.publish_encoded(
                    self.oee.close_until_encoded(min(self._produced_to, end))
                )
            # quality drifts still going end with the run (open_at_end)
            closed_at = self._produced_to if end is None else min(self._produced_to, end)
            self.truth.publish(self.production.close_drifts(closed_at))
            stop = Shutdown("components")
            stop.flush(self.producer, share=0.8)
            remaining = len(self.producer)
            stop.close(self.status.close)
            if self.consumption is not None:
                stop.close(self.consumption.close)
            log.info(
                "Component production stopped: %d components sent%s%s%s",
                self.components_sent,  # (the producer also sends the true-OEE records)
                f", {remaining} undelivered" if remaining else "",
                (
                    f", {self.gate.superseded} status reports older than their machine's "
                    "status not applied"
                    if self.gate.superseded
                    else ""
                ),
                read_notes(self.upgrades, self.dead_letters.count),
            )
        return 0


def main(argv: list[str] | None = None) -> int:
    from widget_factory.cli import main as cli_main

    return cli_main(["components", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
