"""True OEE of every assembly station, per window, from the assembly simulation's own
state (published as ``oee_truth`` records with ``target_type`` ``station`` on
``factory-ground-truth``; the machines' are core/oee_truth.py).

Per station and window ``[start, end)`` (tumbling, aligned to the epoch, the analytics
service's size; the run's first window counts from the run's start), each instant is
one of, in this order of precedence:

- **shutdown** (``shutdown_s``): the station's status is ``shutdown``: planned out;
- **down**: ``error`` or ``maintenance`` (a breakdown, a repair): a loss, not published
  on its own (it is what the other times leave of the window);
- **idle** (``idle_s``): status ``idle``, or no order the station could build is
  waiting (no demand to meet): planned out, like a machine parked by kanban;
- **starved** (``starved_s``): within one of the answer key's starvation spells (the
  ``fault_truth`` records of kind ``starvation``: orders waiting, components lacking for
  ``starvation_alert_s`` or more): a loss;
- **producing** (``producing_s``): the rest, the run time (building, or between two
  builds for less than a starvation).

Statuses are those the planner follows from the station's telemetry. **availability** =
producing / (window - shutdown - idle); **performance** = ideal time of the widgets
completed in the window (each its type's ``assembly_time_s``) / producing, at most 1;
**quality** = good / made, ``made`` the widgets completed in the window and ``good``
those whose quality check passes: the check is a pure function of the factory
configuration, the seed and the widget (core/inspection.py), so assembly knows the
verdict quality control will publish, provided both run with the same seed (as
``widget-factory run`` gives every service). **oee** = their product; a factor with
nothing to divide by is None, and so is the OEE.

A window is closed once the planner has passed its end and no shortage still open
could become a starvation dated back into it. A turn learnt after its window closed
(an order read late) counts from the first open window on. A process restarted from
its changelog publishes the windows after its restart only (:meth:`resume_at`).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence

from widget_factory.core.analytics_windows import DEFAULT_WINDOW_S
from widget_factory.core.assembly_records import BuildRecord
from widget_factory.core.clock import to_datetime
from widget_factory.core.ids import event_id_from
from widget_factory.core.inspection import QualityInspection
from widget_factory.core.station_timeline import StationTurn
from widget_factory.core.windows import window_start
from widget_factory.factory_config import FactoryConfig
from widget_factory.schemas import FaultTruth, MachineStatus, OeeTruth, QualityStatus

__all__ = ["StationOeeTruthTracker"]

_SHUTDOWN, _DOWN, _IDLE, _STARVED, _PRODUCING = range(5)
_DOWN_STATUSES = frozenset({MachineStatus.ERROR, MachineStatus.MAINTENANCE})


class _Station:
    """One station's state at the start of its first open window, and the turns since."""

    __slots__ = ("status", "demand", "starved", "turns")

    def __init__(self) -> None:
        self.status = MachineStatus.RUNNING
        self.demand = True
        self.starved = False
        self.turns: list[tuple[float, int, str, object]] = []
        """(at, sequence, what, value), told in any order; sorted when a window closes."""

    def kind(self) -> int:
        if self.status is MachineStatus.SHUTDOWN:
            return _SHUTDOWN
        if self.status in _DOWN_STATUSES:
            return _DOWN
        if self.status is MachineStatus.IDLE or not self.demand:
            return _IDLE
        return _STARVED if self.starved else _PRODUCING

    def apply(self, what: str, value: object) -> None:
        if what == "status":
            assert isinstance(value, MachineStatus)
            self.status = value
        elif what == "demand":
            self.demand = bool(value)
        else:
            self.starved = bool(value)


class StationOeeTruthTracker:
    """See the module docstring. ``stations``: those of one assembly process; ``start``:
    the run's start (nothing is counted before); ``seed``: the run's, for the verdicts."""

    def __init__(
        self,
        config: FactoryConfig,
        stations: Sequence[str],
        start: float,
        seed: int | None,
        window_s: float = DEFAULT_WINDOW_S,
    ) -> None:
        self._size = window_s
        self._first = start
        self._closed_until = window_start(start, window_s)
        self._stations = {s: _Station() for s in stations}
        self._ideal = {name: spec.assembly_time_s for name, spec in config.widget_types.items()}
        self._inspection = QualityInspection(config, seed)
        self._output: dict[tuple[str, float], list[float]] = defaultdict(lambda: [0, 0, 0.0])
        """(station, window start) -> [made, good, ideal seconds]."""
        self._seq = 0

    def resume_at(self, t: float) -> None:
        """A restarted process (its stations replayed from the changelog) goes on at
        ``t``: the windows before are not published again, and the one holding ``t``,
        of which this process knows only a part, not at all."""
        size = self._size
        self._closed_until = max(self._closed_until, math.ceil(t / size) * size)
        self._first = max(self._first, self._closed_until)

    def turns(self, turns: Iterable[StationTurn]) -> None:
        """Status and demand turns noted by the planner (core/station_timeline.py)."""
        for turn in turns:
            if turn.status is not None:
                self._turn(turn.station_id, turn.at, "status", turn.status)
            if turn.demand is not None:
                self._turn(turn.station_id, turn.at, "demand", turn.demand)

    def starvations(self, records: Iterable[FaultTruth]) -> None:
        """The answer key's starvation records (begin and end) of these stations."""
        for record in records:
            if record.kind != "starvation":
                continue
            if record.phase == "begin":
                self._turn(record.target_id, record.started_at.timestamp(), "starved", True)
            elif record.ended_at is not None:
                self._turn(record.target_id, record.ended_at.timestamp(), "starved", False)

    def built(self, builds: Iterable[BuildRecord]) -> None:
        """Completed builds: each counts in the window of its completion, good when its
        quality check will pass."""
        size = self._size
        for build in builds:
            if build.station_id not in self._stations:
                continue
            widget = build.widget
            tally = self._output[(build.station_id, window_start(build.completes_at, size))]
            tally[0] += 1
            if self._inspection.inspect(widget, "", 0.0).status is QualityStatus.PASS:
                tally[1] += 1
            tally[2] += self._ideal.get(widget.widget_type, 0.0)

    def close_until(self, t: float) -> list[OeeTruth]:
        """Records of every window that ends at or before ``t``, oldest first."""
        records: list[OeeTruth] = []
        size = self._size
        while self._closed_until + size <= t:
            begin = self._closed_until
            end = begin + size
            for station_id, station in self._stations.items():
                seconds = self._account(station, max(begin, self._first), end)
                records.append(self._record(station_id, begin, end, seconds))
            self._closed_until = end
        return records

    def _turn(self, station_id: str, at: float, what: str, value: object) -> None:
        station = self._stations.get(station_id)
        if station is not None:
            self._seq += 1
            station.turns.append((at, self._seq, what, value))

    @staticmethod
    def _account(station: _Station, begin: float, end: float) -> list[float]:
        """Seconds of each kind in ``[begin, end)``; applies the turns before ``end``."""
        seconds = [0.0] * 5
        due = sorted(turn for turn in station.turns if turn[0] < end)
        if due:
            station.turns = [turn for turn in station.turns if turn[0] >= end]
        cursor = begin
        for at, _seq, what, value in due:
            if at > cursor:
                seconds[station.kind()] += at - cursor
                cursor = at
            station.apply(what, value)
        if end > cursor:
            seconds[station.kind()] += end - cursor
        return seconds

    def _record(self, station_id: str, begin: float, end: float, seconds: list[float]) -> OeeTruth:
        made_f, good_f, ideal = self._output.pop((station_id, begin), (0, 0, 0.0))
        made, good = int(made_f), int(good_f)
        producing, shutdown, idle = seconds[_PRODUCING], seconds[_SHUTDOWN], seconds[_IDLE]
        planned = end - max(begin, self._first) - shutdown - idle
        availability = None if planned <= 1e-9 else producing / planned
        performance = None if producing <= 0 else min(ideal, producing) / producing
        quality = None if made <= 0 else good / made
        oee = (
            None
            if availability is None or performance is None or quality is None
            else availability * performance * quality
        )
        return OeeTruth(
            event_id=event_id_from("oee_truth", station_id, f"{begin:.3f}"),
            target_id=station_id,
            target_type="station",
            window_start=to_datetime(begin),
            window_end=to_datetime(end),
            producing_s=round(producing, 3),
            shutdown_s=round(shutdown, 3),
            idle_s=round(idle, 3),
            starved_s=round(seconds[_STARVED], 3),
            made=made,
            good=good,
            availability=_ratio(availability),
            performance=_ratio(performance),
            quality=_ratio(quality),
            oee=_ratio(oee),
        )


def _ratio(value: float | None) -> float | None:
    return None if value is None else round(value, 6)
