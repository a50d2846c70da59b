"""The answer key: the simulation's own record of every fault it causes.

A fault is a spell in which a machine or station does not do its job: a breakdown or an
injected anomaly (ERROR), maintenance, a commanded shutdown, or a station starved of
components with orders waiting; also a worn machine's quality drift (its records come
from component production: core/quality_drift.py). Each gets exactly one ``begin`` and
one ``end`` :class:`~widget_factory.schemas.FaultTruth` record, published on ``factory-ground-truth``
so users can score their own detectors against what really happened.

:class:`FaultTracker` turns the machine state machine's :class:`StatusChange` records
into those pairs; :class:`StarvationTruth` does it for the assembly planner's
starvations (a station starved for ``simulation.starvation_alert_s`` with orders waiting:
shorter waits for a component are the normal rhythm of assembly, not faults). Everything is derived from simulated times and ids, so
the same seed gives the same records, event ids included.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

from widget_factory.core.assembly_records import StepResult
from widget_factory.core.clock import to_datetime
from widget_factory.core.ids import event_id_from
from widget_factory.core.machines import StatusChange
from widget_factory.factory_config import FactoryConfig
from widget_factory.schemas import FaultEffects, FaultTruth, MachineStatus

__all__ = [
    "FAULT_KINDS",
    "FAULT_CAUSES",
    "CycleTimes",
    "FaultTracker",
    "fault_id",
    "fault_kind",
    "fault_cause",
    "starvation_begin",
    "starvation_end",
    "StarvationTruth",
]

FAULT_KINDS: Final = (
    "breakdown",
    "anomaly",
    "maintenance",
    "shutdown",
    "starvation",
    "quality_drift",
)
"""Fault kinds the simulation causes (quality drifts: core/quality_drift.py)."""

FAULT_CAUSES: Final = ("random", "command", "scenario", "schedule", "supply", "wear")

_FAULT_STATUSES: Final = frozenset(
    {MachineStatus.ERROR, MachineStatus.MAINTENANCE, MachineStatus.SHUTDOWN}
)

Kind = Literal["breakdown", "anomaly", "maintenance", "shutdown", "starvation", "quality_drift"]
Cause = Literal["random", "command", "scenario", "schedule", "supply", "wear"]


def fault_id(target_id: str, kind: str, started_at: float) -> str:
    """The fault's id: the same target, kind and start (to the millisecond) give the same."""
    return event_id_from("fault", target_id, kind, f"{started_at:.3f}")


class CycleTimes:
    """Mean seconds per unit of output of every target, to estimate what a fault cost:
    a machine's mean cycle (components), a station's mean assembly time (widgets)."""

    def __init__(self, config: FactoryConfig) -> None:
        self._by_id: dict[str, tuple[Literal["component", "widget"], float]] = {}
        for machine in config.machines:
            low, high = machine.cycle_time_s
            self._by_id[machine.id] = ("component", max((low + high) / 2, 1e-9))
        for station in config.stations:
            times = [config.widget_types[w].assembly_time_s for w in station.builds]
            self._by_id[station.id] = ("widget", max(sum(times) / len(times), 1e-9))

    def target_type(self, target_id: str) -> Literal["machine", "station"]:
        unit = self._by_id.get(target_id, ("component", 1.0))[0]
        return "station" if unit == "widget" else "machine"

    def effects(self, target_id: str, started_at: float, ended_at: float) -> FaultEffects:
        """Output lost over the spell: whole mean cycles that fit in it. Faults of this
        simulation stop output entirely, so nothing is made while degraded."""
        unit, mean = self._by_id.get(target_id, ("component", 1.0))
        lost = int(max(0.0, ended_at - started_at) / mean)
        return FaultEffects(unit=unit, units_not_made=lost, widgets_influenced=None)


@dataclass
class _Open:
    fault_id: str
    kind: Kind
    cause: Cause
    started_at: float
    expected_end: float | None


def fault_cause(change: StatusChange) -> Cause:
    """What started the fault a change begins, in the answer key's words."""
    cause = change.cause
    if cause in FAULT_CAUSES:
        return cause  # type: ignore[return-value]
    if change.reason == "breakdown":
        return "random"
    return "command"


def fault_kind(change: StatusChange) -> Kind:
    """The kind of fault a change into ERROR, MAINTENANCE or SHUTDOWN begins."""
    if change.current is MachineStatus.SHUTDOWN:
        return "shutdown"
    if change.current is MachineStatus.MAINTENANCE:
        return "maintenance"
    return "anomaly" if change.reason == "anomaly injected" else "breakdown"


class FaultTracker:
    """Machine faults from status changes: see the module docstring.

    A fault is one spell in ERROR, MAINTENANCE or SHUTDOWN. A command that changes the
    status (a stop during a repair) ends the fault and begins another at the same
    instant; so does an anomaly injected into a machine under repair after a breakdown
    (an ERROR -> ERROR change): the breakdown ends and an anomaly, with the command's
    cause, begins.
    """

    def __init__(self, config: FactoryConfig) -> None:
        self._cycles = CycleTimes(config)
        self._open: dict[str, _Open] = {}

    def observe(self, change: StatusChange) -> list[FaultTruth]:
        """The records a status change makes: an end, a begin, both, or none."""
        records: list[FaultTruth] = []
        machine_id = change.machine_id
        current = self._open.pop(machine_id, None)
        if current is not None:
            records.append(self._end(machine_id, current, change.at, open_at_end=False))
        if change.current in _FAULT_STATUSES:
            kind = fault_kind(change)
            opened = _Open(
                fault_id(machine_id, kind, change.at),
                kind,
                fault_cause(change),
                change.at,
                change.until if change.until != float("inf") else None,
            )
            self._open[machine_id] = opened
            records.append(
                FaultTruth(
                    event_id=event_id_from("fault_truth", opened.fault_id, "begin"),
                    phase="begin",
                    fault_id=opened.fault_id,
                    target_id=machine_id,
                    target_type=self._cycles.target_type(machine_id),
                    kind=kind,
                    cause=opened.cause,
                    started_at=to_datetime(change.at),
                    expected_end_at=None
                    if opened.expected_end is None
                    else to_datetime(opened.expected_end),
                )
            )
        return records

    def observe_all(self, changes: list[StatusChange]) -> list[FaultTruth]:
        return [record for change in changes for record in self.observe(change)]

    def open_faults(self) -> dict[str, str]:
        """Machine id → kind of each fault not yet ended."""
        return {machine_id: f.kind for machine_id, f in self._open.items()}

    def close_all(self, at: float) -> list[FaultTruth]:
        """End every open fault at ``at`` (the end of the run), marked ``open_at_end``."""
        records = [
            self._end(machine_id, opened, max(at, opened.started_at), open_at_end=True)
            for machine_id, opened in sorted(self._open.items())
        ]
        self._open.clear()
        return records

    def _end(self, machine_id: str, opened: _Open, at: float, *, open_at_end: bool) -> FaultTruth:
        return FaultTruth(
            event_id=event_id_from("fault_truth", opened.fault_id, "end"),
            phase="end",
            fault_id=opened.fault_id,
            target_id=machine_id,
            target_type=self._cycles.target_type(machine_id),
            kind=opened.kind,
            cause=opened.cause,
            started_at=to_datetime(opened.started_at),
            ended_at=to_datetime(at),
            expected_end_at=None
            if opened.expected_end is None
            else to_datetime(opened.expected_end),
            open_at_end=open_at_end,
            effects=self._cycles.effects(machine_id, opened.started_at, at),
        )


def starvation_begin(cycles: CycleTimes, station_id: str, since: float) -> FaultTruth:
    """A station has been starved since ``since`` for long enough to be a fault (the
    configured ``starvation_alert_s``): its begin record, dated ``since``."""
    return _starvation(station_id, since, "begin")


def starvation_end(
    cycles: CycleTimes, station_id: str, since: float, at: float, *, open_at_end: bool = False
) -> FaultTruth:
    """The starvation that began at ``since`` ended at ``at`` (a build started, or no
    order was left waiting; or the run ended, ``open_at_end``)."""
    at = max(at, since)
    return _starvation(
        station_id,
        since,
        "end",
        ended_at=to_datetime(at),
        open_at_end=open_at_end,
        effects=cycles.effects(station_id, since, at),
    )


def _starvation(
    station_id: str,
    since: float,
    phase: Literal["begin", "end"],
    *,
    ended_at: datetime | None = None,
    open_at_end: bool = False,
    effects: FaultEffects | None = None,
) -> FaultTruth:
    """What a starvation's begin and end records share: the id (from station and start),
    target, kind and cause; the end record adds when it ended and what it cost."""
    fid = fault_id(station_id, "starvation", since)
    return FaultTruth(
        event_id=event_id_from("fault_truth", fid, phase),
        phase=phase,
        fault_id=fid,
        target_id=station_id,
        target_type="station",
        kind="starvation",
        cause="supply",
        started_at=to_datetime(since),
        ended_at=ended_at,
        open_at_end=open_at_end,
        effects=effects,
    )


class StarvationTruth:
    """Starvation records from the assembly planner's steps.

    Only starvations that begin before ``cutoff`` (the end of a bounded run, or a drain)
    count: a station idling while the run drains is not a fault. An end is capped at the
    cutoff and marked ``open_at_end`` there."""

    def __init__(self, config: FactoryConfig) -> None:
        self._cycles = CycleTimes(config)

    def from_step(self, result: StepResult, cutoff: float) -> list[FaultTruth]:
        records = [
            starvation_begin(self._cycles, s.station_id, s.since)
            for s in result.starvations
            if s.since < cutoff
        ]
        for ended in result.starvation_ends:
            if ended.since < cutoff:
                records.append(
                    starvation_end(
                        self._cycles,
                        ended.station_id,
                        ended.since,
                        min(ended.at, cutoff),
                        open_at_end=ended.at > cutoff,
                    )
                )
        return records

    def close(
        self, open_spells: list[tuple[str, float]], at: float, cutoff: float
    ) -> list[FaultTruth]:
        """End records for starvations still going when the process stops."""
        return [
            starvation_end(self._cycles, station_id, since, min(at, cutoff), open_at_end=True)
            for station_id, since in open_spells
            if since < cutoff
        ]
