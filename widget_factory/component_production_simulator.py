"""Component production: every machine makes components on its own cycle.

Run alone with ``widget-factory components`` or, from this folder, ``python
component_production_simulator.py`` (same options). Machines follow their status on
``machine-telemetry``: a machine in error, maintenance or shutdown produces nothing.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

if __name__ == "__main__" and not __package__:  # run as a script from the package folder
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from widget_factory.compat import ReadUpgrades, read_notes
from widget_factory.core.ids import IdSource
from widget_factory.core.lockstep import StatusGate
from widget_factory.core.machine_share import share_config
from widget_factory.core.oee_truth import OeeTruthTracker
from widget_factory.core.production import PRODUCING_STATUSES, ComponentProduction
from widget_factory.kafka_io.client import BrokerHealth, DeadLetters, EventProducer
from widget_factory.kafka_io.shutdown import Shutdown
from widget_factory.kafka_io.status import StatusFollower
from widget_factory.kafka_io.topics import COMPONENT_PRODUCTION
from widget_factory.kafka_io.truth_publisher import TruthPublisher
from widget_factory.processes.lifecycle import Lifecycle, LogPacer, ServiceOptions, describe_speed
from widget_factory.schemas import ComponentProduced, MachineStatus

__all__ = ["ComponentProductionService", "main"]

log = logging.getLogger("components")

_BATCH = 2000
"""Components generated per step when running as fast as possible."""
_VIRTUAL_STEP = 600.0
"""Simulated seconds a virtual clock moves per step (bounded by ``_BATCH``)."""


class ComponentProductionService:
    def __init__(self, options: ServiceOptions, lifecycle: Lifecycle | None = None) -> None:
        self.options = options
        self.lifecycle = lifecycle or Lifecycle()
        self.clock = options.clock()
        self.production = ComponentProduction(
            options.config,
            options.rng("components"),
            IdSource(options.rng("component-ids")),
            options.start,
            options.share,
        )
        self.health = BrokerHealth("components", options.settings.bootstrap_servers)
        self.producer = EventProducer(
            options.settings, client_id="components", health=self.health, report_successes=False
        )
        self.dead_letters = DeadLetters(self.producer, "components")
        self.upgrades = ReadUpgrades(log)
        self.status = StatusFollower(
            options.settings,
            client_id="components-status",
            health=self.health,
            dead_letters=self.dead_letters,
            upgrades=self.upgrades,
            from_time=options.start if options.lockstep else None,
        )
        self._pacer = LogPacer(log, "components")
        self.oee = OeeTruthTracker(share_config(options.config, options.share), options.start)
        """True OEE per machine and minute, published on factory-ground-truth."""
        self.truth = TruthPublisher(self.producer)
        self.components_sent = 0
        self.gate = (
            StatusGate(
                [m.id for m in options.config.machines],
                options.config.simulation.telemetry_interval_s,
                options.end,
            )
            if options.lockstep
            else None
        )
        """Lockstep: statuses applied at their report's time, production held to the
        time every machine's status is known."""

    def _follow_status(self) -> None:
        for machine_id, status, at in self.status.poll():
            if self.gate is not None:
                self.gate.add(machine_id, status, at)
            else:
                self._set_status(machine_id, status, self.clock.now())

    def _set_status(self, machine_id: str, status: MachineStatus, at: float) -> None:
        before = self.production.status(machine_id) if self.production.makes(machine_id) else None
        self.production.set_status(machine_id, status, at)
        self.oee.status(machine_id, status, at)
        if before is not None and (before in PRODUCING_STATUSES) != (status in PRODUCING_STATUSES):
            if status in PRODUCING_STATUSES:
                log.info("%s is %s again: production resumes", machine_id, status.value)
            else:
                log.warning(
                    "%s is in %s: no components until it recovers", machine_id, status.value
                )

    def _advance_virtual_time(self, end: float | None) -> None:
        """Virtual time moves to the next component (in steps), or on by a step when every
        machine is down, so a factory with nothing running still reaches its end."""
        due = self.production.next_time()
        target = (due if due != float("inf") else self.clock.now()) + _VIRTUAL_STEP
        self.clock.advance_to(target if end is None else min(target, end))

    def _produce_in_lockstep(self, end: float | None) -> list[ComponentProduced]:
        """Components up to the status watermark, each status change applied at its
        report's time in between (at most ``_BATCH`` components per call)."""
        assert self.gate is not None
        until = self.gate.watermark()
        if end is not None:
            until = min(until, end)
        events: list[ComponentProduced] = []
        for at, (machine_id, status) in self.gate.pending.pop_until(until):
            events += self.production.produce_until(at, limit=_BATCH)
            if self.production.next_time() <= at:  # the batch is full: resume here
                self.gate.pending.push(at, 0, machine_id, (machine_id, status))
                return events
            self._set_status(machine_id, status, at)
        events += self.production.produce_until(until, limit=_BATCH)
        self.clock.advance_to(until)
        return events

    def run(self) -> int:
        log.info(
            "Component production on %s, %s",
            self.options.settings.describe(),
            describe_speed(self.options),
        )
        end = self.options.end
        virtual = self.clock.virtual
        try:
            while self.lifecycle.running and not self.lifecycle.draining:
                self._follow_status()
                now = self.clock.now()
                if self.gate is not None:
                    events = self._produce_in_lockstep(end)
                    now = self.clock.now()
                else:
                    if virtual:
                        self._advance_virtual_time(end)
                    now = self.clock.now()
                    if end is not None and now >= end:
                        now = end
                    events = self.production.produce_until(now, limit=_BATCH if virtual else None)
                self.producer.send_all(COMPONENT_PRODUCTION, events)
                self.components_sent += len(events)
                for event in events:
                    self.oee.made(event)
                # every component before the next one due is made: those windows are whole
                self.truth.publish(self.oee.close_until(min(now, self.production.next_time())))
                allow = self._pacer.allow
                for event in events:
                    if allow():
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
                if end is not None and now >= end and self.production.next_time() > end:
                    break  # (every machine down counts too: nothing is due before the end)
                if self.gate is not None and not events:
                    self.lifecycle.sleep(0.002)  # waiting for telemetry to move on
                if not virtual:
                    wait = self.clock.wall_seconds_until(self.production.next_time())
                    self.lifecycle.sleep(min(wait, 0.1))
        finally:
            if end is not None:
                self.truth.publish(self.oee.close_until(min(self.clock.now(), end)))
            stop = Shutdown("components")
            stop.flush(self.producer, share=0.8)
            remaining = len(self.producer)
            stop.close(self.status.close)
            log.info(
                "Component production stopped: %d components sent%s%s",
                self.components_sent,  # (the producer also sends the true-OEE records)
                f", {remaining} undelivered" if remaining else "",
                read_notes(self.upgrades, self.dead_letters.count),
            )
        return 0


def main(argv: list[str] | None = None) -> int:
    from widget_factory.cli import main as cli_main

    return cli_main(["components", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
