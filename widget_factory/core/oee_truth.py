"""True OEE of every production machine, per window, from the production simulation's
own state (published as ``oee_truth`` records on ``factory-ground-truth``).

The same definitions as the analytics service's ``machine_oee`` (docs/analytics.md),
computed from what the simulation did rather than from the streams: **availability** =
running time / (window - time shut down - time idle); **performance** = nominal time of
what it made (count x the middle of its ``cycle_time_s``) / running time, at most 1; **quality** = components made without defects / made; **oee** = their product
(None when a factor is undefined). Idle, like a shutdown, is time not planned for
production: a machine parked by kanban (its component at the stock ceiling,
core/kanban.py) has no demand to meet, so that time is no availability loss. Windows are tumbling, aligned to the epoch like the
analytics service's. Inputs must come in simulated-time order (status changes and
components), as the production service makes them.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from widget_factory.core.clock import to_datetime
from widget_factory.core.ids import event_id_from
from widget_factory.core.windows import split_interval, window_start
from widget_factory.factory_config import FactoryConfig
from widget_factory.schemas import ComponentProduced, MachineStatus, OeeTruth

__all__ = ["OeeTruthTracker"]


@dataclass
class _Window:
    producing_s: float = 0.0
    shutdown_s: float = 0.0
    idle_s: float = 0.0
    made: int = 0
    good: int = 0


def _ratio(part: float, whole: float) -> float | None:
    return None if whole <= 0 else part / whole


class OeeTruthTracker:
    """See the module docstring. ``start``: the run's start (nothing is counted before)."""

    def __init__(self, config: FactoryConfig, start: float, window_s: float = 60.0) -> None:
        self._size = window_s
        self._nominal = {m.id: (m.cycle_time_s[0] + m.cycle_time_s[1]) / 2 for m in config.machines}
        self._status = {m.id: MachineStatus.RUNNING for m in config.machines}
        self._since = dict.fromkeys(self._nominal, start)
        self._windows: dict[float, dict[str, _Window]] = defaultdict(
            lambda: {m: _Window() for m in self._nominal}
        )
        self._closed_until = window_start(start, window_s)
        self._first = start

    def status(self, machine_id: str, status: MachineStatus, at: float) -> None:
        """The machine's status as production follows it, from ``at`` on."""
        if machine_id not in self._status:
            return
        self._account(machine_id, at)
        self._status[machine_id] = status

    def made(self, event: ComponentProduced) -> None:
        window = self._windows[window_start(event.produced_at.timestamp(), self._size)]
        unit = window.get(event.machine_id)
        if unit is None:
            return
        unit.made += 1
        if event.quality_metrics.defect_count == 0:
            unit.good += 1

    def close_until(self, t: float) -> list[OeeTruth]:
        """Records of every window that ends at or before ``t``, oldest first."""
        records: list[OeeTruth] = []
        while self._closed_until + self._size <= t:
            begin = self._closed_until
            end = begin + self._size
            for machine_id in self._nominal:
                self._account(machine_id, end)
            window = self._windows.pop(begin, None) or {m: _Window() for m in self._nominal}
            observed = end - max(begin, self._first)
            for machine_id, unit in window.items():
                records.append(self._record(machine_id, begin, end, observed, unit))
            self._closed_until = end
        return records

    def _account(self, machine_id: str, until: float) -> None:
        since = self._since[machine_id]
        if until <= since:
            return
        status = self._status[machine_id]
        for begin, seconds in split_interval(since, until, self._size):
            unit = self._windows[begin][machine_id]
            if status is MachineStatus.RUNNING:
                unit.producing_s += seconds
            elif status is MachineStatus.IDLE:
                unit.idle_s += seconds
            elif status is MachineStatus.SHUTDOWN:
                unit.shutdown_s += seconds
        self._since[machine_id] = until

    def _record(
        self, machine_id: str, begin: float, end: float, observed: float, unit: _Window
    ) -> OeeTruth:
        availability = _ratio(unit.producing_s, observed - unit.shutdown_s - unit.idle_s)
        nominal = unit.made * self._nominal[machine_id]
        performance = _ratio(min(nominal, unit.producing_s), unit.producing_s)
        quality = _ratio(unit.good, unit.made)
        factors = (availability, performance, quality)
        oee = (
            None
            if any(f is None for f in factors)
            else ((availability or 0.0) * (performance or 0.0) * (quality or 0.0))
        )
        return OeeTruth(
            event_id=event_id_from("oee_truth", machine_id, f"{begin:.3f}"),
            target_id=machine_id,
            window_start=to_datetime(begin),
            window_end=to_datetime(end),
            producing_s=round(unit.producing_s, 3),
            shutdown_s=round(unit.shutdown_s, 3),
            idle_s=round(unit.idle_s, 3),
            made=unit.made,
            good=unit.good,
            availability=_round(availability),
            performance=_round(performance),
            quality=_round(quality),
            oee=_round(oee),
        )


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)
