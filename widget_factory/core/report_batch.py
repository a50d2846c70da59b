"""Many telemetry reports at once: the draws, wear and readings of a run of reports.

At ``--speed max`` the telemetry service makes hundreds of reports per step, and in
Python each cost about 8 µs, most of it drawing and shaping four readings and evolving
the machine between reports, one float at a time. Those steps are the same arithmetic
for every running machine, so :func:`plan_reports` does them for a whole run of reports
with numpy: it reads the generator's next doubles ahead (core/draws.py), works out which
double each report takes, evolves wear and cycles machine by machine
(``numpy.cumsum`` adds in the same order as the scalar code), and computes the rounded
readings of every running machine's report.

It stops at the first report it cannot vouch for, which the fleet then makes one at a
time with the scalar code (core/machines.py), exactly as before:

- a report whose machine has a command waiting, is about to start, end a repair or
  maintenance, or is held by kanban while running;
- a running machine's report whose draw may mean a breakdown (the draw within a hair of
  its probability: ``numpy.exp`` may differ from ``math.exp`` in the last bit) or whose
  wear reaches maintenance;
- a reading within a hair of a rounding boundary, or near zero, where the last bit of
  ``numpy.log``, ``cos`` or ``sin`` could change the text.

Everything else is exactly what the scalar code computes: the same doubles in the same
order, the same operations in the same order (IEEE addition and multiplication, correctly
rounded square roots, round-half-even), so the same bytes. Reports of machines that are
down, under maintenance, parked or shut down take a known number of doubles (their
readings come from ``gauss`` and ``uniform``; a lone ``gauss`` of a shut-down machine
takes two or none, alternately) and are still made by the scalar code, in order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
from numpy.typing import NDArray

from widget_factory.core.draws import DoubleStream
from widget_factory.core.machine_state import MachineUnit
from widget_factory.factory_config import TelemetrySpec
from widget_factory.schemas import MachineStatus

__all__ = ["RUNNING_REPORT", "ReportPlan", "plan_reports"]

RUNNING_REPORT: Final = 0
"""A running machine's report computed here (it takes five doubles)."""
_DOWN: Final = 1  # in ERROR until after this report: gauss, gauss, uniform, uniform
_QUIET: Final = 2  # maintenance until after it, or parked by kanban: gauss x2, uniform
_OFF: Final = 3  # shut down: one gauss (two doubles or none, alternately)
_ALONE: Final = 4  # made by the scalar code alone

_DRAWS: Final = np.array([5, 4, 3, 0, 0])
"""Doubles a report of each kind takes (a shut-down machine's: see below)."""
_TWO_PI: Final = 2.0 * np.pi
_RUNNING: Final = MachineStatus.RUNNING
_ERROR: Final = MachineStatus.ERROR
_MAINTENANCE: Final = MachineStatus.MAINTENANCE
_IDLE: Final = MachineStatus.IDLE
_HAIR: Final = 1e-6
"""How near a rounding boundary (in hundredths) or zero a reading must not come."""
WINDOW: Final = 2048
"""Reports planned at most at once: a report made alone replans only what follows it
within this many, so a batch with several costs little more than one without."""


@dataclass(frozen=True)
class ReportPlan:
    """The first ``count`` reports of a run: what each is and where its doubles start
    (counted from the stream's position when planned); the readings of the running
    machines' reports among them, in order; each running machine's state after its last
    report here."""

    count: int
    kinds: list[int]
    starts: list[int]
    draws: int
    """Doubles the ``count`` reports take in all."""
    running: list[int]
    """Which of them are running machines' reports (the readings are theirs, in order)."""
    temperature: list[float]
    vibration: list[float]
    power: list[float]
    cycle_count: list[int]
    efficiency: list[float]
    evolved: list[tuple[int, float, float, float]]
    """(machine index, wear, cycles, time of its last report) of each running machine."""


_EMPTY = ReportPlan(0, [], [], 0, [], [], [], [], [], [], [])


def _machine_kinds(
    units: list[MachineUnit], held: set[str], ordered: dict[int, list[tuple[float, str, str]]]
) -> tuple[list[int], list[float]]:
    """What each machine's reports are, from its state (which only the scalar code
    changes), and until when (a repair or maintenance ends at its report: made alone)."""
    kind_of = []
    until_of = []
    for unit in units:
        status = unit.status
        until = np.inf
        if unit.index in ordered:
            kind = _ALONE
        elif status is _RUNNING:
            kind = _ALONE if unit.id in held else RUNNING_REPORT
        elif status is _ERROR:
            kind, until = _DOWN, unit.until
        elif status is _MAINTENANCE:
            kind, until = _QUIET, unit.until
        elif status is _IDLE:
            kind = _QUIET if unit.id in held else _ALONE
        else:
            kind = _OFF
        kind_of.append(kind)
        until_of.append(until)
    return kind_of, until_of


def plan_reports(
    times: NDArray[np.float64],
    machines: NDArray[np.intp],
    units: list[MachineUnit],
    held: set[str],
    ordered: dict[int, list[tuple[float, str, str]]],
    spec: TelemetrySpec,
    stream: DoubleStream,
    gauss_cached: bool,
) -> ReportPlan:
    """Plan the reports at ``times`` of the machines ``machines`` (indexes into
    ``units``), in that order, up to the first one the scalar code must make (at most
    :data:`WINDOW` of them).

    ``gauss_cached``: the stream holds half a gauss pair (``gauss_next``). Nothing is
    taken from the stream: the fleet takes each report's doubles as it makes it."""
    times = times[:WINDOW]
    machines = machines[:WINDOW]
    kind_of, until_of = _machine_kinds(units, held, ordered)
    kinds = np.array(kind_of)[machines]
    kinds[np.array(until_of)[machines] <= times] = _ALONE
    alone = np.flatnonzero(kinds == _ALONE)
    count = int(alone[0]) if len(alone) else len(times)
    if count == 0:
        return _EMPTY
    kinds = kinds[:count]
    times = times[:count]
    machines = machines[:count]
    draws = _DRAWS[kinds]
    off = np.flatnonzero(kinds == _OFF)
    if len(off):  # a lone gauss: two doubles when none is cached, and it flips
        draws[off] = np.where((np.arange(len(off)) % 2 == 0) ^ gauss_cached, 2, 0)
    ends = np.cumsum(draws)
    doubles = stream.peek(int(ends[-1]))

    running = np.flatnonzero(kinds == RUNNING_REPORT)
    machine_count = len(units)
    # Each machine's reports in order, as rows of a table with a column per machine (a
    # machine's k-th report in row k + 1, row 0 its state before): cumulative sums down
    # the columns add in the scalar code's order, and the gaps add 0.0, which changes
    # nothing.
    mine = machines[running]
    order = np.argsort(mine, kind="stable")
    ranked = mine[order]
    row = np.empty(len(running), dtype=np.intp)
    row[order] = np.arange(len(running)) - np.searchsorted(ranked, ranked) + 1
    rows = int(row.max()) + 1 if len(running) else 1
    state = np.array([(unit.last, unit.wear, unit.cycles, unit.mean_cycle) for unit in units])
    clock = np.zeros((rows, machine_count))
    clock[0] = state[:, 0]
    clock[row, mine] = times[running]
    dt = times[running] - clock[row - 1, mine]
    hours = dt / 3600.0
    table = np.zeros((rows, machine_count))
    table[0] = state[:, 1]
    table[row, mine] = spec.wear_per_hour * hours
    worn_table = np.minimum(1.0, np.cumsum(table, axis=0))
    wear_before = worn_table[row - 1, mine]
    worn = worn_table[row, mine]
    table[0] = state[:, 2]
    table[row, mine] = dt / state[mine, 3]
    cycle_table = np.cumsum(table, axis=0)

    at = ends[running] - 5
    rate = spec.error_rate_per_hour * (1.0 + spec.wear_error_factor * wear_before)
    chance = 1.0 - np.exp(-rate * hours)
    irregular = (
        (dt <= 0.0)
        | (doubles[at] < chance * (1.0 + 1e-9) + 1e-300)
        | (worn >= spec.maintenance_at_wear - 1e-12)
    )
    r = np.sqrt(-2.0 * np.log(1.0 - doubles[at + 1]))
    a = _TWO_PI * doubles[at + 2]
    r2 = np.sqrt(-2.0 * np.log(1.0 - doubles[at + 3]))
    a2 = _TWO_PI * doubles[at + 4]
    base = np.array([unit.base_power for unit in units])[mine]
    raw = np.stack(
        (
            50.0 + 4.0 * r * np.cos(a) + 15.0 * worn,  # temperature
            2.0 + 0.4 * r * np.sin(a) + 3.0 * worn,  # vibration
            base * (1.0 + 0.05 * r2 * np.cos(a2)),  # power
            95.0 - 20.0 * worn + 2.0 * r2 * np.sin(a2),  # efficiency
        )
    )
    # round(x * 100.0) / 100.0: half to even, as Python's round; where the last bit of
    # numpy's log, cos or sin could move x across a boundary, or near zero, make it alone
    hundredths = raw * 100.0
    readings = np.rint(hundredths) / 100.0
    close = np.abs(np.abs(hundredths - np.floor(hundredths)) - 0.5) < _HAIR
    close |= np.abs(hundredths) < 1.0
    irregular |= close.any(axis=0)
    # Python's rules: vibration and power at or below zero read 0.0; efficiency clamps
    readings[1:3][raw[1:3] <= 0.0] = 0.0
    readings[3][raw[3] <= 0.0] = 0.0
    readings[3][raw[3] >= 100.0] = 100.0

    stop = np.flatnonzero(irregular)
    kept = int(stop[0]) if len(stop) else len(running)
    if len(stop):
        count = int(running[kept])
    # each running machine's state after its last report among the first count: its
    # row is how many of its reports those are
    reports = np.bincount(mine[:kept], minlength=machine_count)
    moved = np.flatnonzero(reports)
    last = reports[moved]
    evolved = list(
        zip(
            moved.tolist(),
            worn_table[last, moved].tolist(),
            cycle_table[last, moved].tolist(),
            clock[last, moved].tolist(),
            strict=True,
        )
    )
    temperature, vibration, power, efficiency = readings[:, :kept].tolist()
    return ReportPlan(
        count=count,
        kinds=kinds[:count].tolist(),
        starts=(ends[:count] - draws[:count]).tolist(),
        draws=int(ends[count - 1]) if count else 0,
        running=running[:kept].tolist(),
        temperature=temperature,
        vibration=vibration,
        power=power,
        cycle_count=np.trunc(cycle_table[row[:kept], mine[:kept]]).astype(np.int64).tolist(),
        efficiency=efficiency,
        evolved=evolved,
    )
