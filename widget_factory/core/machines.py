"""Machine status model and telemetry readings of every machine that reports telemetry.

Production machines and assembly stations each report every
``simulation.telemetry_interval_s`` simulated seconds (staggered by a random offset).
Between two reports a RUNNING machine wears (``telemetry.wear_per_hour``, 0 new to 1
worn out), counts cycles (elapsed time over its mean cycle time), may break down (a
Poisson rate ``error_rate_per_hour * (1 + wear_error_factor * wear)``) and goes to
scheduled maintenance at ``maintenance_at_wear``. A repair (``repair_s``) halves the
wear; maintenance (``maintenance_s``) resets it. Readings are shaped by status: running
warm and busy, error hot, shaking and near-zero power, maintenance and idle cool and quiet
(one machine's state and its readings: :mod:`widget_factory.core.machine_state`).

Commands (the walkthrough's ``simulate_anomaly``, stop, start, maintenance) act at once
and return an immediate report. Status changes are returned as :class:`StatusChange`
records: the service logs them, and component production learns the status from the
telemetry it publishes. Times are floats: simulated seconds since the Unix epoch.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import attrgetter
from typing import TypeVar

from widget_factory.core.fast_encode import TelemetryRecord
from widget_factory.core.ids import IdSource
from widget_factory.core.machine_state import (
    BASE_POWER_W,
    DEFAULT_BASE_POWER_W,
    MachineUnit,
    sensor_reading,
    sensor_record,
)
from widget_factory.errors import FactoryError
from widget_factory.factory_config import FactoryConfig
from widget_factory.schemas import MachineStatus, MachineTelemetry

__all__ = [
    "BASE_POWER_W",
    "DEFAULT_BASE_POWER_W",
    "StatusChange",
    "UnknownMachine",
    "MachineFleet",
]

R = TypeVar("R")

_RUNNING = MachineStatus.RUNNING
_IDLE = MachineStatus.IDLE
_ERROR = MachineStatus.ERROR
_MAINTENANCE = MachineStatus.MAINTENANCE
_SHUTDOWN = MachineStatus.SHUTDOWN


@dataclass(frozen=True)
class StatusChange:
    """A machine's status moved from ``previous`` to ``current`` at ``at`` (epoch seconds).

    ``reason`` is one of "breakdown", "repaired", "maintenance", "maintenance done",
    "anomaly injected", "stopped", "started", "kanban hold", "kanban release"; ``previous``
    equals ``current`` only for an anomaly injected into a machine under repair after a
    breakdown. ``cause`` says what moved it: "random" (a
    breakdown), "schedule" (maintenance due by wear), or the origin a command was given
    ("command", "scenario"); empty for a recovery. ``until`` is the planned end of an
    ERROR or MAINTENANCE it enters (math.inf otherwise): the answer key's expected end.
    """

    machine_id: str
    previous: MachineStatus
    current: MachineStatus
    at: float
    reason: str
    # Left out of comparisons: a change is the same change whoever asked for it.
    cause: str = field(default="", compare=False)
    until: float = field(default=math.inf, compare=False)


class UnknownMachine(FactoryError, KeyError):
    """A command named a machine the factory does not have; the message lists the known ones."""

    def __init__(self, machine_id: str, known: list[str]) -> None:
        self.machine_id = machine_id
        self.known = tuple(known)
        super().__init__(f"unknown machine {machine_id!r} (known: {', '.join(known)})")

    def __str__(self) -> str:
        # KeyError would quote the message as a repr; show it as written.
        return str(self.args[0])


class MachineFleet:
    """All machines that report telemetry: production machines and assembly stations."""

    def __init__(
        self, config: FactoryConfig, rng: random.Random, ids: IdSource, start: float
    ) -> None:
        self._rng = rng
        self._ids = ids
        self._interval = config.simulation.telemetry_interval_s
        self._telemetry = config.telemetry
        reporting = [
            (m.id, m.machine_type, m.location, (m.cycle_time_s[0] + m.cycle_time_s[1]) / 2)
            for m in config.machines
        ]
        for station in config.stations:
            times = [config.widget_types[w].assembly_time_s for w in station.builds]
            reporting.append(
                (station.id, station.machine_type, station.location, sum(times) / len(times))
            )
        units = [  # wear drawn in this order: production machines, then stations
            MachineUnit(
                i, machine_id, kind, location, max(mean, 1e-9), rng.uniform(0.0, 0.5), start
            )
            for i, (machine_id, kind, location, mean) in enumerate(reporting)
        ]
        self._units = units
        self._by_id = {u.id: u for u in units}
        self._heap = [(start + rng.random() * self._interval, u.index) for u in units]
        heapq.heapify(self._heap)
        self._pending: list[StatusChange] = []
        """Changes found while serving a command, returned by the next report_until."""
        self._held: set[str] = set()
        """Machines parked by kanban (core/kanban.py): IDLE whenever they could run."""

    # --- queries --------------------------------------------------------------------------

    def machine_ids(self) -> list[str]:
        """Production machines, then assembly stations (``config.all_machine_ids`` order)."""
        return [u.id for u in self._units]

    def status(self, machine_id: str) -> MachineStatus:
        return self._unit(machine_id).status

    def wear(self, machine_id: str) -> float:
        """The machine's wear: 0 new, 1 worn out."""
        return self._unit(machine_id).wear

    def next_time(self) -> float:
        """Simulated time of the next report due (math.inf if there are no machines)."""
        return self._heap[0][0] if self._heap else math.inf

    # --- reports --------------------------------------------------------------------------

    def report_until(self, now: float) -> tuple[list[MachineTelemetry], list[StatusChange]]:
        """Every report due at or before ``now``, in time order, and the status changes.

        Each machine reports every ``simulation.telemetry_interval_s``; its status
        evolves between reports. Changes are sorted by time; they include those found
        while serving commands since the last call.
        """
        return self._reports_until(now, sensor_reading)

    def report_records_until(self, now: float) -> tuple[list[TelemetryRecord], list[StatusChange]]:
        """:meth:`report_until` with the reports as their records (the same draws, bytes,
        keys and timestamps): the telemetry service's fast path."""
        return self._reports_until(now, sensor_record)

    def _reports_until(
        self, now: float, report: Callable[[MachineUnit, float, random.Random, IdSource], R]
    ) -> tuple[list[R], list[StatusChange]]:
        heap = self._heap
        units = self._units
        interval = self._interval
        reports: list[R] = []
        append = reports.append
        advance = self._advance
        ids = self._ids
        rng = self._rng
        heapreplace = heapq.heapreplace
        held = self._held
        changes, self._pending = self._pending, []
        while heap and heap[0][0] <= now:
            t, index = heap[0]
            unit = units[index]
            advance(unit, t, changes)
            if unit.status is _IDLE and unit.id not in held:
                self._set(unit, _RUNNING, t, "started", changes)
            elif unit.status is _RUNNING and held and unit.id in held:  # repaired while held
                self._set(unit, _IDLE, t, "kanban hold", changes)
            append(report(unit, t, rng, ids))
            heapreplace(heap, (t + interval, index))
        changes.sort(key=attrgetter("at"))
        return reports, changes

    def take_changes(self) -> list[StatusChange]:
        """Changes found while serving commands (a repair finished before the command's
        time), in time order; otherwise returned by the next :meth:`report_until`. Take
        them right after a command to see every change in the order it happened."""
        changes, self._pending = self._pending, []
        changes.sort(key=attrgetter("at"))
        return changes

    # --- commands -------------------------------------------------------------------------

    def inject_anomaly(
        self, machine_id: str, at: float, cause: str = "command"
    ) -> tuple[MachineTelemetry, StatusChange | None]:
        """Drive the machine into ERROR now with anomalous readings until it is repaired.

        The walkthrough's ``simulate_anomaly``. Repair takes ``telemetry.repair_s`` from
        now. The change always says "anomaly injected" with the command's cause, so the
        answer key and the alert name what caused the fault:

        - a random breakdown drawn for the very instant of the command (the draw covers
          the time since the last report and is dated at its end) is superseded: the
          command is what put the machine in ERROR then;
        - on a machine already in ERROR from a breakdown the change is ERROR -> ERROR:
          the breakdown ends and the anomaly begins at this instant;
        - on a machine already anomalous it is None: the fault goes on, and its repair
          starts again from now (a machine failing again before it is fixed).
        """
        unit = self._command(machine_id, at)
        if unit.status is _ERROR and unit.anomalous:
            unit.until = max(unit.until, at + self._rng.uniform(*self._telemetry.repair_s))
            return self._report(unit, at), None
        self._supersede_breakdown(unit, at)
        unit.anomalous = True
        unit.until = at + self._rng.uniform(*self._telemetry.repair_s)
        change = self._set(unit, _ERROR, at, "anomaly injected", cause=cause)
        if change is None:  # under repair after a breakdown: the anomaly takes over
            change = StatusChange(
                unit.id, _ERROR, _ERROR, at, "anomaly injected", cause, unit.until
            )
        return self._report(unit, at), change

    def stop(
        self, machine_id: str, at: float, cause: str = "command"
    ) -> tuple[MachineTelemetry, StatusChange | None]:
        """Shut the machine down until :meth:`start`; a pending repair or maintenance is dropped."""
        unit = self._command(machine_id, at)
        change = self._set(unit, _SHUTDOWN, at, "stopped", cause=cause)
        if change is not None:
            unit.anomalous = False
            unit.until = math.inf
        return self._report(unit, at), change

    def start(
        self, machine_id: str, at: float, cause: str = "command"
    ) -> tuple[MachineTelemetry, StatusChange | None]:
        """SHUTDOWN -> IDLE now, then RUNNING at its next report; otherwise a no-op (None)."""
        unit = self._command(machine_id, at)
        change = None
        if unit.status is _SHUTDOWN:
            change = self._set(unit, _IDLE, at, "started", cause=cause)
        return self._report(unit, at), change

    def maintain(
        self, machine_id: str, at: float, cause: str = "command"
    ) -> tuple[MachineTelemetry, StatusChange | None]:
        """Scheduled maintenance now, for ``telemetry.maintenance_s``; it resets the wear.

        Starts from any status; None when the machine is already under maintenance.
        """
        unit = self._command(machine_id, at)
        change = None
        if unit.status is not _MAINTENANCE:
            unit.anomalous = False
            unit.until = at + self._rng.uniform(*self._telemetry.maintenance_s)
            change = self._set(unit, _MAINTENANCE, at, "maintenance", cause=cause)
        return self._report(unit, at), change

    def hold(
        self, machine_id: str, at: float, cause: str = "kanban"
    ) -> tuple[MachineTelemetry, StatusChange | None]:
        """Kanban parks the machine: RUNNING -> IDLE now, and IDLE after any repair or
        maintenance until :meth:`release`. Only ``start`` overrides a SHUTDOWN."""
        return self._kanban(machine_id, at, cause, hold=True)

    def release(
        self, machine_id: str, at: float, cause: str = "kanban"
    ) -> tuple[MachineTelemetry, StatusChange | None]:
        """Kanban restarts the machine: IDLE -> RUNNING now (other statuses stay)."""
        return self._kanban(machine_id, at, cause, hold=False)

    # --- internals ------------------------------------------------------------------------

    def _unit(self, machine_id: str) -> MachineUnit:
        unit = self._by_id.get(machine_id)
        if unit is None:
            raise UnknownMachine(machine_id, list(self._by_id))
        return unit

    def _command(self, machine_id: str, at: float) -> MachineUnit:
        """The machine, its state evolved up to ``at`` (changes kept for report_until)."""
        unit = self._unit(machine_id)
        self._advance(unit, at, self._pending)
        return unit

    def _kanban(
        self, machine_id: str, at: float, cause: str, *, hold: bool
    ) -> tuple[MachineTelemetry, StatusChange | None]:
        """Park (``hold``) or restart the machine: one move, RUNNING -> IDLE or back."""
        unit = self._command(machine_id, at)
        if hold:
            self._held.add(unit.id)
            before, after, reason = _RUNNING, _IDLE, "kanban hold"
        else:
            self._held.discard(unit.id)
            before, after, reason = _IDLE, _RUNNING, "kanban release"
        change = self._set(unit, after, at, reason, cause=cause) if unit.status is before else None
        return self._report(unit, at), change

    def _supersede_breakdown(self, unit: MachineUnit, at: float) -> None:
        """Drop a random breakdown of ``unit`` dated ``at`` that a command's advance just
        drew: the machine was running up to the command."""
        pending = self._pending
        if pending:
            last = pending[-1]
            if last.machine_id == unit.id and last.at == at and last.reason == "breakdown":
                pending.pop()
                unit.status = last.previous
                unit.until = math.inf

    def _set(
        self,
        unit: MachineUnit,
        status: MachineStatus,
        at: float,
        reason: str,
        changes: list[StatusChange] | None = None,
        cause: str = "",
    ) -> StatusChange | None:
        previous = unit.status
        if previous is status:
            return None
        unit.status = status
        until = unit.until if status is _ERROR or status is _MAINTENANCE else math.inf
        change = StatusChange(unit.id, previous, status, at, reason, cause, until)
        if changes is not None:
            changes.append(change)
        return change

    def _advance(self, unit: MachineUnit, t: float, changes: list[StatusChange]) -> None:
        """Evolve the machine's state from ``unit.last`` to ``t``."""
        if t <= unit.last:
            return
        tel = self._telemetry
        rng = self._rng
        while unit.status is _ERROR or unit.status is _MAINTENANCE:
            end = unit.until
            if end > t:
                unit.last = t
                return
            if unit.status is _ERROR:
                unit.wear /= 2
                reason = "repaired"
            else:
                unit.wear = 0.0
                reason = "maintenance done"
            unit.anomalous = False
            unit.until = math.inf
            unit.last = max(unit.last, end)
            self._set(unit, _RUNNING, end, reason, changes)
        if unit.status is _RUNNING:
            dt = t - unit.last
            if dt > 0:
                hours = dt / 3600.0
                rate = tel.error_rate_per_hour * (1.0 + tel.wear_error_factor * unit.wear)
                unit.wear = min(1.0, unit.wear + tel.wear_per_hour * hours)
                unit.cycles += dt / unit.mean_cycle
                if rng.random() < 1.0 - math.exp(-rate * hours):
                    unit.until = t + rng.uniform(*tel.repair_s)
                    self._set(unit, _ERROR, t, "breakdown", changes, "random")
                elif unit.wear >= tel.maintenance_at_wear:
                    unit.until = t + rng.uniform(*tel.maintenance_s)
                    self._set(unit, _MAINTENANCE, t, "maintenance", changes, "schedule")
        unit.last = t

    def _report(self, unit: MachineUnit, t: float) -> MachineTelemetry:
        """A telemetry event of the machine at ``t`` (after a command)."""
        return sensor_reading(unit, t, self._rng, self._ids)
