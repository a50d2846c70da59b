"""Machine status model and telemetry readings of every machine that reports telemetry.

Production machines and assembly stations each report every
``simulation.telemetry_interval_s`` simulated seconds (staggered by a random offset).
Between two reports a RUNNING machine wears (``telemetry.wear_per_hour``, 0 new to 1
worn out), counts cycles (elapsed time over its mean cycle time), may break down (a
Poisson rate ``error_rate_per_hour * (1 + wear_error_factor * wear)``) and goes to
scheduled maintenance at ``maintenance_at_wear``. A repair (``repair_s``) halves the
wear; maintenance (``maintenance_s``) resets it. Readings are shaped by status: running
warm and busy, error hot, shaking and near-zero power, maintenance and idle cool and quiet.

Commands (the walkthrough's ``simulate_anomaly``, stop, start, maintenance) act at once
and return an immediate report. Status changes are returned as :class:`StatusChange`
records: the service logs them, and component production learns the status from the
telemetry it publishes. Times are floats: simulated seconds since the Unix epoch.
"""

from __future__ import annotations

import heapq
import math
import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import attrgetter
from typing import Final

from widget_factory.core.ids import IdSource
from widget_factory.errors import FactoryError
from widget_factory.factory_config import FactoryConfig, LocationSpec
from widget_factory.schemas import Location, MachineStatus, MachineTelemetry, TelemetryMetrics

__all__ = [
    "BASE_POWER_W",
    "DEFAULT_BASE_POWER_W",
    "StatusChange",
    "UnknownMachine",
    "MachineFleet",
]

BASE_POWER_W: Final[dict[str, float]] = {
    "metal_forming": 2200.0,
    "injection_molding": 2500.0,
    "electronics_assembly": 1200.0,
    "battery_assembly": 1000.0,
    "display_assembly": 900.0,
    "calibration": 800.0,
    "motor_assembly": 1500.0,
    "widget_assembly": 1100.0,
}
"""Mean power draw of a RUNNING machine by machine type, in watts (± 5% per reading)."""

DEFAULT_BASE_POWER_W: Final = 1500.0
"""Mean running power of a machine type missing from :data:`BASE_POWER_W`, in watts."""

_RUNNING = MachineStatus.RUNNING
_IDLE = MachineStatus.IDLE
_ERROR = MachineStatus.ERROR
_MAINTENANCE = MachineStatus.MAINTENANCE
_SHUTDOWN = MachineStatus.SHUTDOWN
_TWO_PI: Final = 2.0 * math.pi


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


class _Unit:
    """One reporting machine: constants and state (slots, for speed)."""

    __slots__ = (
        "index",
        "id",
        "machine_type",
        "location",
        "mean_cycle",
        "base_power",
        "status",
        "wear",
        "cycles",
        "last",
        "until",
        "anomalous",
    )

    def __init__(
        self,
        index: int,
        machine_id: str,
        machine_type: str,
        location: LocationSpec,
        mean_cycle: float,
        wear: float,
        start: float,
    ) -> None:
        self.index = index
        self.id = machine_id
        self.machine_type = machine_type
        self.location = Location(location.building, location.floor, location.line)
        self.mean_cycle = mean_cycle
        self.base_power = BASE_POWER_W.get(machine_type, DEFAULT_BASE_POWER_W)
        self.status = _RUNNING
        self.wear = wear
        self.cycles = 0.0
        """Cycles completed, as a float so short intervals are not lost; reported as int."""
        self.last = start
        """Time up to which the state has evolved."""
        self.until = math.inf
        """End of the current ERROR or MAINTENANCE."""
        self.anomalous = False
        """An injected anomaly: anomalous readings until repaired."""


class MachineFleet:
    """All machines that report telemetry: production machines and assembly stations."""

    def __init__(
        self, config: FactoryConfig, rng: random.Random, ids: IdSource, start: float
    ) -> None:
        self._rng = rng
        self._ids = ids
        self._interval = config.simulation.telemetry_interval_s
        self._telemetry = config.telemetry
        units: list[_Unit] = []
        for machine in config.machines:
            mean = (machine.cycle_time_s[0] + machine.cycle_time_s[1]) / 2
            units.append(
                self._unit_for(
                    len(units), machine.id, machine.machine_type, machine.location, mean, start
                )
            )
        for station in config.stations:
            times = [config.widget_types[w].assembly_time_s for w in station.builds]
            mean = sum(times) / len(times)
            units.append(
                self._unit_for(
                    len(units), station.id, station.machine_type, station.location, mean, start
                )
            )
        self._units = units
        self._by_id = {u.id: u for u in units}
        self._heap = [(start + rng.random() * self._interval, u.index) for u in units]
        heapq.heapify(self._heap)
        self._pending: list[StatusChange] = []
        """Changes found while serving a command, returned by the next report_until."""
        self._held: set[str] = set()
        """Machines parked by kanban (core/kanban.py): IDLE whenever they could run."""

    def _unit_for(
        self,
        index: int,
        machine_id: str,
        machine_type: str,
        location: LocationSpec,
        mean_cycle: float,
        start: float,
    ) -> _Unit:
        wear = self._rng.uniform(0.0, 0.5)
        return _Unit(index, machine_id, machine_type, location, max(mean_cycle, 1e-9), wear, start)

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
        heap = self._heap
        units = self._units
        interval = self._interval
        reports: list[MachineTelemetry] = []
        append = reports.append
        advance = self._advance
        report = self._report
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
            append(report(unit, t))
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
        unit = self._command(machine_id, at)
        self._held.add(unit.id)
        change = (
            self._set(unit, _IDLE, at, "kanban hold", cause=cause)
            if unit.status is _RUNNING
            else None
        )
        return self._report(unit, at), change

    def release(
        self, machine_id: str, at: float, cause: str = "kanban"
    ) -> tuple[MachineTelemetry, StatusChange | None]:
        """Kanban restarts the machine: IDLE -> RUNNING now (other statuses stay)."""
        unit = self._command(machine_id, at)
        self._held.discard(unit.id)
        change = (
            self._set(unit, _RUNNING, at, "kanban release", cause=cause)
            if unit.status is _IDLE
            else None
        )
        return self._report(unit, at), change

    # --- internals ------------------------------------------------------------------------

    def _unit(self, machine_id: str) -> _Unit:
        unit = self._by_id.get(machine_id)
        if unit is None:
            raise UnknownMachine(machine_id, list(self._by_id))
        return unit

    def _command(self, machine_id: str, at: float) -> _Unit:
        """The machine, its state evolved up to ``at`` (changes kept for report_until)."""
        unit = self._unit(machine_id)
        self._advance(unit, at, self._pending)
        return unit

    def _supersede_breakdown(self, unit: _Unit, at: float) -> None:
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
        unit: _Unit,
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

    def _advance(self, unit: _Unit, t: float, changes: list[StatusChange]) -> None:
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

    def _report(self, unit: _Unit, t: float) -> MachineTelemetry:
        """A telemetry event of the machine at ``t``, readings shaped by its status."""
        rng = self._rng
        status = unit.status
        if status is _RUNNING:  # (the common case: four normals from two Box-Muller pairs)
            wear = unit.wear
            rand = rng.random
            r = math.sqrt(-2.0 * math.log(1.0 - rand()))
            a = _TWO_PI * rand()
            temperature = 50.0 + 4.0 * r * math.cos(a) + 15.0 * wear
            vibration = 2.0 + 0.4 * r * math.sin(a) + 3.0 * wear
            r = math.sqrt(-2.0 * math.log(1.0 - rand()))
            a = _TWO_PI * rand()
            power = unit.base_power * (1.0 + 0.05 * r * math.cos(a))
            efficiency = 95.0 - 20.0 * wear + 2.0 * r * math.sin(a)
        elif status is _ERROR and unit.anomalous:
            temperature = rng.gauss(115.0, 5.0)
            vibration = rng.gauss(12.0, 1.5)
            power = rng.uniform(0.0, 20.0)
            efficiency = rng.uniform(0.0, 5.0)
        elif status is _ERROR:
            temperature = rng.gauss(85.0, 6.0)
            vibration = rng.gauss(7.0, 1.0)
            power = rng.uniform(5.0, 50.0)
            efficiency = rng.uniform(0.0, 20.0)
        elif status is _SHUTDOWN:
            temperature = rng.gauss(22.0, 1.0)
            vibration = power = efficiency = 0.0
        else:  # MAINTENANCE, IDLE
            temperature = rng.gauss(26.0, 1.5)
            vibration = rng.gauss(0.1, 0.05)
            power = rng.uniform(50.0, 150.0)
            efficiency = 0.0
        return MachineTelemetry(
            event_id=self._ids.event_id(),
            machine_id=unit.id,
            machine_type=unit.machine_type,
            timestamp=datetime.fromtimestamp(t, UTC),
            status=status,
            metrics=TelemetryMetrics(  # round(x * 100) / 100: round(x, 2) at a quarter the cost
                round(temperature * 100.0) / 100.0,
                round(vibration * 100.0) / 100.0 if vibration > 0.0 else 0.0,
                round(power * 100.0) / 100.0 if power > 0.0 else 0.0,
                int(unit.cycles),
                0.0
                if efficiency <= 0.0
                else 100.0
                if efficiency >= 100.0
                else round(efficiency * 100.0) / 100.0,
            ),
            location=unit.location,
        )
