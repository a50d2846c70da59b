"""What the assembly planner tells the stations' true OEE (core/station_oee_truth.py).

The planner knows, as it steps, two things about each station that the widgets alone do
not show: the status it follows from telemetry (a station under repair starts nothing),
and whether any order it could build is waiting (a station with none has no demand to
meet). :class:`StationTimeline` notes each change of either as a :class:`StationTurn`;
the service hands them to the tracker. Pure: times are simulated epoch seconds.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from widget_factory.core.assembly_records import OrderState
from widget_factory.schemas import MachineStatus

__all__ = ["StationTurn", "StationTimeline"]


@dataclass(frozen=True, slots=True)
class StationTurn:
    """From ``at`` on, station ``station_id`` has ``status`` (when not None) and, when
    ``demand`` is not None, an order it could build (True) or none (False)."""

    station_id: str
    at: float
    status: MachineStatus | None = None
    demand: bool | None = None


class StationTimeline:
    """The turns of one planner's stations, noted as it steps (see the module docstring).

    ``waiting`` and ``wanted`` are told at each start the planner tries; only a change is
    noted. A demand that comes back is dated when it came: the later of the wait's start
    and the earliest creation among the orders now waiting (the planner may learn of an
    order a little after it was made)."""

    def __init__(self, stations: Iterable[str]) -> None:
        self._status = dict.fromkeys(stations, MachineStatus.RUNNING)
        self._waiting_since: dict[str, float] = {}
        self._turns: list[StationTurn] = []

    def status(self, station_id: str, status: MachineStatus, at: float) -> None:
        if station_id in self._status and self._status[station_id] != status:
            self._status[station_id] = status
            self._turns.append(StationTurn(station_id, at, status=status))

    def waiting(self, station_id: str, at: float) -> None:
        """No order the station could build is waiting at ``at``."""
        if station_id not in self._waiting_since:
            self._waiting_since[station_id] = at
            self._turns.append(StationTurn(station_id, at, demand=False))

    def wanted(self, station_id: str, orders: Sequence[OrderState]) -> None:
        """``orders`` (not empty) are waiting for the station."""
        since = self._waiting_since.pop(station_id, None)
        if since is not None:
            came = min((o.record.created_at for o in orders), default=since)
            self._turns.append(StationTurn(station_id, max(since, came), demand=True))

    def take(self) -> list[StationTurn]:
        """The turns noted since the last call, in the order they were noted."""
        turns, self._turns = self._turns, []
        return turns


def unsettled_since(starved_since: Iterable[tuple[float | None, bool]]) -> float:
    """The earliest start of a shortage not yet reported as a starvation, from each
    station's (``starved_since``, ``starvation_reported``); inf when there is none. Such a
    shortage may still turn out a starvation dated back to its start, so the stations'
    windows after it cannot be closed yet."""
    return min(
        (since for since, reported in starved_since if since is not None and not reported),
        default=math.inf,
    )
