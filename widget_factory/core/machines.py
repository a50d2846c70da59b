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

Commands (the walkthrough's ``simulate_anomaly``, stop, start, maintenance, kanban's
hold and release) given to a running service go through :meth:`MachineFleet.order`: each
takes effect at the machine's first report at or after the command's time, and that
report carries it. Status therefore changes only at report instants, so a report at
``r`` promises the status until ``r + interval``; component production relies on that
promise to run ahead of the telemetry it has read (core/status_watermark.py). The
methods named after the commands act at the time they are given and return a report of
their own (building blocks, and what :meth:`order` applies at a report instant). Status
changes are returned as :class:`StatusChange` records: the service logs them, and
component production learns the status from the telemetry it publishes. Times are
floats: simulated seconds since the Unix epoch.
"""

from __future__ import annotations

import contextlib
import heapq
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import attrgetter
from typing import TYPE_CHECKING, TypeVar

from widget_factory.core.fast_encode import BATCH_TIMES, TelemetryRecord
from widget_factory.core.ids import DrawnIds, EventIds, IdSource
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

if TYPE_CHECKING:  # the batch path imports numpy, which only a reporting fleet needs
    from widget_factory.core.draws import DoubleStream
    from widget_factory.core.report_batch import ReportPlan
    from widget_factory.core.telemetry_text import ReportTimes

__all__ = [
    "BASE_POWER_W",
    "DEFAULT_BASE_POWER_W",
    "COMMAND_NAMES",
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

_BATCH_FROM = 64
"""Reports due at once from which a batch is planned: a plan costs some 300 µs whatever
its size, a report made alone about 5 µs, and a paced factory has a few due per call."""

COMMAND_NAMES = frozenset(
    {
        "inject_anomaly",
        "stop_machine",
        "start_machine",
        "maintenance",
        "kanban_hold",
        "kanban_release",
    }
)
"""Commands :meth:`MachineFleet.order` accepts (``FactoryCommand.command`` on the wire)."""


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
        # Draws read ahead for a batch of reports (core/report_batch.py) when the ids come
        # from a generator of their own: the same doubles, in the same order.
        self._stream: DoubleStream | None = None
        if ids.generator is not rng:
            from widget_factory.core.draws import DoubleStream

            rng = self._stream = DoubleStream(rng)
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
        self._templates: list[bytes] | None = None
        """Each machine's running report with slots (core/telemetry_text.py), when
        reports are made a batch at a time."""
        self._times: ReportTimes | None = None
        if self._stream is not None:
            from widget_factory.core.telemetry_text import ReportTimes, RunningTemplate

            self._times = ReportTimes()
            # (a machine named like a template's mark: every report made alone)
            with contextlib.suppress(ValueError):
                self._templates = [RunningTemplate(u).text for u in units]
        self._heap = [(start + rng.random() * self._interval, u.index) for u in units]
        heapq.heapify(self._heap)
        self._pending: list[StatusChange] = []
        """Changes found while serving a command, returned by the next report_until."""
        self._held: set[str] = set()
        """Machines parked by kanban (core/kanban.py): IDLE whenever they could run."""
        self._orders: dict[int, list[tuple[float, str, str]]] = {}
        """Per machine (by index), commands waiting for its next report: (time, command,
        cause), in the order they were given."""

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
        keys and timestamps): the telemetry service's fast path, a batch at a time."""
        stream = self._stream
        if stream is None or self._templates is None:
            return self._reports_until(now, sensor_record)  # one generator: draws, ids
        due = self._take_due(now)
        changes, self._pending = self._pending, []
        records: list[TelemetryRecord] = []
        if len(due) >= _BATCH_FROM and BATCH_TIMES[0] <= due[0][0] and due[-1][0] < BATCH_TIMES[1]:
            self._batch_records(due, stream, records, changes)
        else:  # a few reports (a paced factory): made alone, cheaper than planning them
            for t, index in due:
                records.append(self._step(self._units[index], t, changes, sensor_record, self._ids))
        changes.sort(key=attrgetter("at"))
        return records, changes

    def _take_due(self, now: float) -> list[tuple[float, int]]:
        """The reports due at or before ``now`` as (time, machine index), in order; each
        machine's next report goes back on the heap."""
        heap = self._heap
        interval = self._interval
        heapreplace = heapq.heapreplace
        due = []
        while heap and heap[0][0] <= now:
            t, index = entry = heap[0]
            due.append(entry)
            heapreplace(heap, (t + interval, index))
        return due

    def _reports_until(
        self, now: float, report: Callable[[MachineUnit, float, random.Random, EventIds], R]
    ) -> tuple[list[R], list[StatusChange]]:
        units = self._units
        step = self._step
        ids = self._ids
        changes, self._pending = self._pending, []
        reports = [step(units[index], t, changes, report, ids) for t, index in self._take_due(now)]
        changes.sort(key=attrgetter("at"))
        return reports, changes

    def _step(
        self,
        unit: MachineUnit,
        t: float,
        changes: list[StatusChange],
        report: Callable[[MachineUnit, float, random.Random, EventIds], R],
        ids: EventIds,
    ) -> R:
        """One report, made alone: the machine evolves to ``t``, starts or parks, carries
        out its commands, then reports."""
        self._advance(unit, t, changes)
        held = self._held
        if unit.status is _IDLE and unit.id not in held:
            self._set(unit, _RUNNING, t, "started", changes)
        elif unit.status is _RUNNING and held and unit.id in held:  # repaired while held
            self._set(unit, _IDLE, t, "kanban hold", changes)
        if self._orders and unit.index in self._orders:
            self._carry_out(unit, t, changes)
        return report(unit, t, self._rng, ids)

    def _batch_records(
        self,
        due: list[tuple[float, int]],
        stream: DoubleStream,
        records: list[TelemetryRecord],
        changes: list[StatusChange],
    ) -> None:
        """The reports ``due`` as records: runs of them planned together
        (core/report_batch.py), each report the plan cannot vouch for made alone."""
        import numpy as np

        from widget_factory.core.draws import event_id_text
        from widget_factory.core.report_batch import plan_reports
        from widget_factory.core.telemetry_text import ReportTimes, encoded_numbers

        units = self._units
        templates = self._templates
        assert templates is not None and self._times is not None
        total = len(due)
        text = event_id_text(self._ids.generator, total)
        ids = [text[i : i + 36] for i in range(0, 36 * total, 36)]
        times = np.array([t for t, _ in due])
        machines = np.array([index for _, index in due], dtype=np.intp)
        micro = ReportTimes.microseconds(times)
        milliseconds = ReportTimes.milliseconds(micro)
        days, clocks, fractions = self._times.parts(micro)
        machine_list = machines.tolist()
        texts = [templates[m] for m in machine_list]
        done = 0
        while done < total:
            plan = plan_reports(
                times[done:],
                machines[done:],
                units,
                self._held,
                self._orders,
                self._telemetry,
                stream,
                stream.gauss_next is not None,
            )
            running = [done + p for p in plan.running]
            values = [
                texts[i] % (ids[i], days[i], clocks[i], fractions[i], t, v, w, c, e)
                for i, t, v, w, c, e in zip(
                    running,
                    encoded_numbers(plan.temperature),
                    encoded_numbers(plan.vibration),
                    encoded_numbers(plan.power),
                    encoded_numbers(plan.cycle_count),
                    encoded_numbers(plan.efficiency),
                    strict=True,
                )
            ]
            made = list(
                map(
                    TelemetryRecord,
                    [units[machine_list[i]].key for i in running],
                    values,
                    [milliseconds[i] for i in running],
                )
            )
            if len(made) == plan.count:
                records += made
                stream.seek(stream.position + plan.draws)
            else:
                self._merge_alone(due, done, plan, stream, made, ids, records, changes)
            for index, wear, cycles, last in plan.evolved:
                unit = units[index]
                unit.wear, unit.cycles, unit.last = wear, cycles, last
            done += plan.count
            if done < total:
                t, index = due[done]
                event_id = DrawnIds([ids[done].decode()])
                records.append(self._step(units[index], t, changes, sensor_record, event_id))
                done += 1

    def _merge_alone(
        self,
        due: list[tuple[float, int]],
        done: int,
        plan: ReportPlan,
        stream: DoubleStream,
        made: list[TelemetryRecord],
        ids: list[bytes],
        records: list[TelemetryRecord],
        changes: list[StatusChange],
    ) -> None:
        """The plan's reports in order: the running machines' ``made``, and between them
        the reports of machines down, quiet or off, each made by the scalar code from
        the doubles the plan set aside for it."""
        from widget_factory.core.report_batch import RUNNING_REPORT

        base = stream.position
        starts = plan.starts
        made_next = iter(made).__next__
        for p, kind in enumerate(plan.kinds):
            if kind == RUNNING_REPORT:
                records.append(made_next())
                continue
            t, index = due[done + p]
            unit = self._units[index]
            stream.seek(base + starts[p])
            self._advance(unit, t, changes)  # (no draws: down, quiet or off until after t)
            records.append(sensor_record(unit, t, stream, DrawnIds([ids[done + p].decode()])))
            taken = stream.position - base
            planned = starts[p + 1] if p + 1 < plan.count else plan.draws
            if taken != planned:
                raise AssertionError(f"{unit.id} at {t}: at draw {taken}, not {planned}")
        stream.seek(base + plan.draws)

    def order(self, command: str, machine_id: str, at: float, cause: str = "command") -> float:
        """A command given at ``at``: it takes effect at the machine's first report at or
        after ``at`` (returned), which reports it; :meth:`report_until` returns its change.

        ``cause`` is the origin ("command" or "scenario"). Commands for one machine
        take effect in the order given. One whose report instant lies past the end of a
        bounded run never takes effect (:meth:`pending_orders`)."""
        if command not in COMMAND_NAMES:
            raise ValueError(f"unknown machine command {command!r}")
        unit = self._unit(machine_id)
        due = next(t for t, index in self._heap if index == unit.index)
        while due < at:
            due += self._interval
        self._orders.setdefault(unit.index, []).append((at, command, cause))
        return due

    def pending_orders(self) -> int:
        """Commands given that have not taken effect yet."""
        return sum(len(waiting) for waiting in self._orders.values())

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
        """Drive the machine into ERROR at ``at`` with anomalous readings until it is repaired.

        The walkthrough's ``simulate_anomaly``. Repair takes ``telemetry.repair_s`` from
        then. The change always says "anomaly injected" with the command's cause, so the
        answer key and the alert name what caused the fault:

        - a random breakdown drawn for the very instant of the command (the draw covers
          the time since the last report and is dated at its end) is superseded: the
          command is what put the machine in ERROR then;
        - on a machine already in ERROR from a breakdown the change is ERROR -> ERROR:
          the breakdown ends and the anomaly begins at this instant;
        - on a machine already anomalous it is None: the fault goes on, and its repair
          starts again from now (a machine failing again before it is fixed).
        """
        return self._act_now("inject_anomaly", machine_id, at, cause)

    def stop(
        self, machine_id: str, at: float, cause: str = "command"
    ) -> tuple[MachineTelemetry, StatusChange | None]:
        """Shut the machine down until :meth:`start`; a pending repair or maintenance is
        dropped (and a breakdown drawn for the very instant superseded)."""
        return self._act_now("stop_machine", machine_id, at, cause)

    def start(
        self, machine_id: str, at: float, cause: str = "command"
    ) -> tuple[MachineTelemetry, StatusChange | None]:
        """SHUTDOWN -> IDLE now, then RUNNING at its next report; otherwise a no-op (None)."""
        return self._act_now("start_machine", machine_id, at, cause)

    def maintain(
        self, machine_id: str, at: float, cause: str = "command"
    ) -> tuple[MachineTelemetry, StatusChange | None]:
        """Scheduled maintenance now, for ``telemetry.maintenance_s``; it resets the wear.

        Starts from any status (a breakdown drawn for the very instant is superseded);
        None when the machine is already under maintenance.
        """
        return self._act_now("maintenance", machine_id, at, cause)

    def hold(
        self, machine_id: str, at: float, cause: str = "kanban"
    ) -> tuple[MachineTelemetry, StatusChange | None]:
        """Kanban parks the machine: RUNNING -> IDLE now, and IDLE after any repair or
        maintenance until :meth:`release`. Only ``start`` overrides a SHUTDOWN."""
        return self._act_now("kanban_hold", machine_id, at, cause)

    def release(
        self, machine_id: str, at: float, cause: str = "kanban"
    ) -> tuple[MachineTelemetry, StatusChange | None]:
        """Kanban restarts the machine: IDLE -> RUNNING now (other statuses stay)."""
        return self._act_now("kanban_release", machine_id, at, cause)

    # --- internals ------------------------------------------------------------------------

    def _unit(self, machine_id: str) -> MachineUnit:
        unit = self._by_id.get(machine_id)
        if unit is None:
            raise UnknownMachine(machine_id, list(self._by_id))
        return unit

    def _act_now(
        self, command: str, machine_id: str, at: float, cause: str
    ) -> tuple[MachineTelemetry, StatusChange | None]:
        unit = self._unit(machine_id)
        self._advance(unit, at, self._pending)
        change = self._act(command, unit, at, cause, self._pending)
        return sensor_reading(unit, at, self._rng, self._ids), change

    def _carry_out(self, unit: MachineUnit, t: float, changes: list[StatusChange]) -> None:
        """Apply the machine's commands given at or before its report at ``t``."""
        waiting = self._orders.pop(unit.index)
        later = [entry for entry in waiting if entry[0] > t]
        if later:
            self._orders[unit.index] = later
        for at, command, cause in waiting:
            if at <= t:
                change = self._act(command, unit, t, cause, changes)
                if change is not None:
                    changes.append(change)

    def _act(
        self, command: str, unit: MachineUnit, at: float, cause: str, drawn: list[StatusChange]
    ) -> StatusChange | None:
        """One command on a machine already evolved to ``at``; ``drawn`` holds the
        changes of that evolution (a breakdown drawn for ``at`` is superseded by a command
        that takes the machine out of RUNNING itself)."""
        rng, tel = self._rng, self._telemetry
        status = unit.status
        if command == "inject_anomaly":
            if status is _ERROR and unit.anomalous:  # failing again before it is fixed
                unit.until = max(unit.until, at + rng.uniform(*tel.repair_s))
                return None
            self._supersede_breakdown(unit, at, drawn)
            unit.anomalous = True
            unit.until = at + rng.uniform(*tel.repair_s)
            change = self._set(unit, _ERROR, at, "anomaly injected", cause=cause)
            if change is None:  # under repair after a breakdown: the anomaly takes over
                change = StatusChange(
                    unit.id, _ERROR, _ERROR, at, "anomaly injected", cause, unit.until
                )
            return change
        if command == "stop_machine":
            self._supersede_breakdown(unit, at, drawn)
            change = self._set(unit, _SHUTDOWN, at, "stopped", cause=cause)
            if change is not None:
                unit.anomalous = False
                unit.until = math.inf
            return change
        if command == "start_machine":
            if status is _SHUTDOWN:
                return self._set(unit, _IDLE, at, "started", cause=cause)
            return None
        if command == "maintenance":
            if status is _MAINTENANCE:
                return None
            self._supersede_breakdown(unit, at, drawn)
            unit.anomalous = False
            unit.until = at + rng.uniform(*tel.maintenance_s)
            return self._set(unit, _MAINTENANCE, at, "maintenance", cause=cause)
        # kanban: park (RUNNING -> IDLE) or restart (IDLE -> RUNNING), one move
        if command == "kanban_hold":
            self._held.add(unit.id)
            before, after, reason = _RUNNING, _IDLE, "kanban hold"
        else:
            self._held.discard(unit.id)
            before, after, reason = _IDLE, _RUNNING, "kanban release"
        return self._set(unit, after, at, reason, cause=cause) if unit.status is before else None

    def _supersede_breakdown(
        self, unit: MachineUnit, at: float, pending: list[StatusChange]
    ) -> None:
        """Drop a random breakdown of ``unit`` dated ``at`` that the advance to a command
        just drew (the last of ``pending``): the machine was running up to the command."""
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
