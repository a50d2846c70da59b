"""Machine telemetry: every machine reports its status and readings on an interval.

Run alone with ``widget-factory telemetry`` or, from this folder, ``python
machine_telemetry_simulator.py``. This service owns machine status: breakdowns,
maintenance and repairs follow the status model, and commands on ``factory-commands``
(``inject_anomaly``, ``stop_machine``, ``start_machine``, ``maintenance``, kanban's
``kanban_hold`` and ``kanban_release``) change it. A command takes effect at the
machine's next report (at most ``simulation.telemetry_interval_s`` of simulated time
after it is read), which carries the new status: status changes only at report instants,
so each report tells the status up to the next one (core/machines.py). Production and
assembly follow the reports, so a broken machine stops its output.
"""

from __future__ import annotations

import logging
import math
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

if __name__ == "__main__" and not __package__:  # run as a script from the package folder
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from widget_factory.core.clock import to_datetime
from widget_factory.core.event_format import format_time
from widget_factory.core.ground_truth import FaultTracker
from widget_factory.core.ids import IdSource
from widget_factory.core.machine_alerts import machine_error_alert
from widget_factory.core.machine_share import share_config
from widget_factory.core.machines import MachineFleet, StatusChange, UnknownMachine
from widget_factory.kafka_io.client import BrokerHealth, EventProducer, make_consumer
from widget_factory.kafka_io.consumption import AssemblyLead, ConsumptionFollower
from widget_factory.kafka_io.dead_letters import DeadLetters
from widget_factory.kafka_io.intake import Intake, routed_before
from widget_factory.kafka_io.late_delivery import LateSender
from widget_factory.kafka_io.offsets import OffsetTracker, commit
from widget_factory.kafka_io.shutdown import Shutdown
from widget_factory.kafka_io.topics import FACTORY_ALERTS, FACTORY_COMMANDS, MACHINE_TELEMETRY
from widget_factory.kafka_io.truth_publisher import TruthPublisher
from widget_factory.processes.lifecycle import Lifecycle, ServiceOptions, describe_speed
from widget_factory.schemas import (
    FactoryCommand,
    MachineStatus,
    MachineTelemetry,
    SchemaError,
    decode_as,
)

__all__ = ["MachineTelemetryService", "COMMANDS_GROUP", "main"]

log = logging.getLogger("telemetry")

COMMANDS_GROUP = "machine-telemetry"
"""Consumer group of the telemetry service on ``factory-commands``."""

STALE_COMMAND_S = 120.0
"""Commands issued longer ago than this (wall clock) when read are ignored, so a new
telemetry service does not replay yesterday's anomalies."""

_VIRTUAL_STEP = 600.0
_KANBAN_LEAD_S = 3600.0
"""Virtual time with kanban: how far telemetry may run ahead of assembly's latest widget
(twice the components service's lead, so production never waits on telemetry long)."""
_KANBAN_STALL_S = 1.0


class MachineTelemetryService:
    def __init__(self, options: ServiceOptions, lifecycle: Lifecycle | None = None) -> None:
        self.options = options
        self.lifecycle = lifecycle or Lifecycle()
        self.clock = options.clock()
        worker = options.share.suffix  # "" for one process; workers draw and read apart
        self.ids = IdSource(options.rng("telemetry-ids" + worker))
        config = share_config(options.config, options.share)
        self.fleet = MachineFleet(
            config, options.rng("telemetry" + worker), self.ids, options.start
        )
        self.health = BrokerHealth.watching("telemetry", options.settings)
        interval = options.config.simulation.telemetry_interval_s
        self.producer = EventProducer(
            options.settings,
            client_id="telemetry",
            health=self.health,
            stopping=self.lifecycle.stopping,
            report_successes=False,
            # sparse reports (a paced speed with a short pace) go out at once: production
            # waits for each one that is due (core/status_watermark.py)
            records_per_s=(
                len(self.fleet.machine_ids()) * options.speed / interval if options.speed else None
            ),
            # every machine, read by production, assembly, analytics and the dashboard:
            # fewer, larger batches at the slow speeds keep the broker's cost down
            widely_read=True,
        )
        self.dead_letters = DeadLetters(self.producer, "telemetry")
        self.faults = FaultTracker(options.config)
        """The answer key of machine faults, published on factory-ground-truth."""
        self.truth = TruthPublisher(self.producer)
        self.late = LateSender.build(
            self.producer,
            self.truth,
            MACHINE_TELEMETRY,
            options,
            # each machine's last report of a bounded run comes after all it held
            calm_s=options.config.simulation.telemetry_interval_s,
            key_of=lambda report: report.kafka_key,
        )
        """--late-fraction: reports leave as an edge gateway sends them after a blip."""
        self.intake = Intake(self.dead_letters, self.clock.now, options.config)
        self.dead_letters.routed = routed_before(options.settings, "telemetry")
        self.commands = make_consumer(
            options.settings,
            COMMANDS_GROUP + worker,
            [FACTORY_COMMANDS],
            client_id="telemetry",
            health=self.health,
        )
        self.offsets = OffsetTracker()
        self.reports = 0
        self.lead: AssemblyLead | None = None
        """Virtual time with kanban (not lockstep, where kanban is off): telemetry keeps
        near assembly, so the kanban commands reach it in time (kafka_io/consumption.py)."""
        if options.config.kanban.enabled and self.clock.virtual and not options.lockstep:
            follower = ConsumptionFollower(
                options.settings, client_id="telemetry-consumption", health=self.health
            )
            self.lead = AssemblyLead(follower, options.start, _KANBAN_LEAD_S, _KANBAN_STALL_S)
        # the first status summary comes 2 s after start, then every status_summary_s
        self._last_summary = time.monotonic() - options.config.telemetry.status_summary_s + 2.0

    # --- the walkthrough's API -----------------------------------------------------------

    def simulate_anomaly(self, machine_id: str) -> float:
        """Drive ``machine_id`` into ERROR with anomalous readings at its next report (the
        simulated time returned), as every command does; the loop publishes that report."""
        return self.fleet.order("inject_anomaly", machine_id, self.clock.now())

    # --- the loop ------------------------------------------------------------------------

    def _publish(
        self,
        reports: list[MachineTelemetry],
        changes: list[StatusChange],
        until: float = -math.inf,
    ) -> None:
        """Reports and what their changes mean; with late delivery the reports wait in the
        gateway, which sends what is due by ``until`` (every report up to it is made).

        The changes' answer-key records are queued first: a repair's end goes before the
        report that lets production make its settling-in parts, so quality control,
        reading the answer key when it inspects them, knows the repair
        (core/fault_influence.py)."""
        if changes:
            self.truth.publish(self.faults.observe_all(changes))
        if self.late is None:
            self.producer.send_all(MACHINE_TELEMETRY, reports)
        else:
            self.late.send(reports)
            self.late.deliver(until)
        self.reports += len(reports)
        for change in changes:
            self._announce(change)

    def _announce(self, change: StatusChange) -> None:
        alert = machine_error_alert(change, self.ids)
        if alert is not None:
            log.warning(
                "Machine %s in ERROR state! (%s, cause %s)",
                change.machine_id,
                change.reason,
                change.cause,
            )
            self.producer.send(FACTORY_ALERTS, alert)
        elif change.current is MachineStatus.MAINTENANCE:
            log.info("Machine %s under maintenance", change.machine_id)
        elif change.current is MachineStatus.SHUTDOWN:
            log.info("Machine %s shut down", change.machine_id)
        else:
            log.info(
                "Machine %s is %s (%s)", change.machine_id, change.current.value, change.reason
            )

    def _handle_commands(self) -> None:
        for message in self.commands.consume(100, 0):
            if message.error() is not None:
                continue
            self.offsets.consumed(message.topic(), message.partition(), message.offset())
            try:
                command = decode_as(message.value() or b"", FactoryCommand)
            except SchemaError as exc:
                self.dead_letters.route(message, str(exc))
                continue
            if not self.intake.admit(message, command):
                continue
            age = (datetime.now(UTC) - command.issued_at).total_seconds()
            if age > STALE_COMMAND_S:
                log.info(
                    "Ignoring a stale %s command for %s (%.0f s old)",
                    command.command,
                    command.target_id,
                    age,
                )
                continue
            self._apply(command)

    def _apply(self, command: FactoryCommand) -> None:
        """Queue the command for the machine's next report, where it takes effect."""
        cause = "scenario" if command.args.get("origin") == "scenario" else "command"
        try:
            due = self.fleet.order(command.command, command.target_id, self.clock.now(), cause)
        except UnknownMachine as exc:
            if command.target_id not in self.options.config.all_machine_ids:
                log.warning("Ignoring %s: %s", command.command, exc)
            return  # (another worker's machine: that worker serves it)
        if not command.command.startswith("kanban_"):  # kanban changes are logged when made
            log.info(
                "Command %s for %s (takes effect at its report at %s)",
                command.command,
                command.target_id,
                format_time(to_datetime(due)),  # (virtual time spans days)
            )

    def _summary(self) -> None:
        counts = Counter(self.fleet.status(m).value for m in self.fleet.machine_ids())
        troubled = [
            f"{m} {self.fleet.status(m).value}"
            for m in self.fleet.machine_ids()
            if self.fleet.status(m) not in (MachineStatus.RUNNING, MachineStatus.IDLE)
        ]
        log.info(
            "Machine status at %s (%d reports so far): %s%s",
            f"{to_datetime(self.clock.now()):%H:%M:%S}",
            self.reports,
            ", ".join(f"{n} {status}" for status, n in sorted(counts.items())),
            f" ({'; '.join(troubled)})" if troubled else "",
        )

    def run(self) -> int:
        for machine_id in self.fleet.machine_ids():
            log.info("Starting telemetry simulation for %s", machine_id)
        log.info(
            "Telemetry on %s, %s", self.options.settings.describe(), describe_speed(self.options)
        )
        end = self.options.end
        virtual = self.clock.virtual
        summary_every = self.options.config.telemetry.status_summary_s
        try:
            while self.lifecycle.running and not self.lifecycle.draining:
                self._handle_commands()
                if virtual:
                    target = self.fleet.next_time() + _VIRTUAL_STEP
                    if self.lead is not None:
                        bound = self.lead.bound(self.clock.now())
                        if target > bound:
                            target = max(bound, self.clock.now())
                            self.lifecycle.sleep(0.005)  # waiting for assembly to move on
                    self.clock.advance_to(target)
                now = self.clock.now()
                if end is not None:
                    now = min(now, end)
                if self.late is None:  # the fast path: reports encoded by the core
                    records, changes = self.fleet.report_records_until(now)
                    self.producer.send_encoded(MACHINE_TELEMETRY, records)
                    self.reports += len(records)
                    self._publish([], changes, now)
                else:
                    reports, changes = self.fleet.report_until(now)
                    self._publish(reports, changes, now)
                self.producer.poll(0)
                self.health.check(self.producer)
                if time.monotonic() - self._last_summary >= summary_every:
                    self._last_summary = time.monotonic()
                    self._summary()
                    if not self.health.unresponsive:
                        commit(self.commands, self.offsets)
                if end is not None and self.fleet.next_time() > end:
                    break
                if not virtual:
                    due = self.fleet.next_time()
                    if self.late is not None:
                        due = min(due, self.late.next_release())
                    wait = self.clock.wall_seconds_until(due)
                    self.lifecycle.sleep(min(wait, 0.1))
        finally:
            # Faults still going when the run ends are closed at its end (open_at_end).
            closed_at = self.clock.now() if end is None else min(self.clock.now(), end)
            self.truth.publish(self.faults.close_all(closed_at))
            unapplied = self.fleet.pending_orders()
            if unapplied:
                log.info(
                    "%d command(s) never took effect: the run ended before the machine's "
                    "next report",
                    unapplied,
                )
            if self.late is not None:
                self.late.close()  # what the gateways still hold goes now, in order
            stop = Shutdown("telemetry")
            if self.lead is not None:
                stop.close(self.lead.follower.close)
            flushed = stop.flush(self.producer)
            remaining = len(self.producer)
            stop.finish_consumer(self.commands, self.offsets if flushed else None)
            log.info(
                "Telemetry stopped: %d reports sent%s",
                self.reports,
                f", {remaining} undelivered" if remaining else "",
            )
        return 0


def main(argv: list[str] | None = None) -> int:
    from widget_factory.cli import main as cli_main

    return cli_main(["telemetry", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
