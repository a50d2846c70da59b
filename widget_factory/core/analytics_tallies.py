"""Per-window tallies of the analytics core: what one tumbling window has counted so far.

Kept apart from :mod:`widget_factory.core.analytics_windows` (which decides when a window
closes and what it publishes) so each stays small. Pure: no Kafka, no clock.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from widget_factory.core.windows import window_start
from widget_factory.schemas import MachineStatus

__all__ = ["UnitTally", "WindowTally", "FamilyWindows", "ratio", "rounded"]

_STATUSES = tuple(s.value for s in MachineStatus)


@dataclass
class UnitTally:
    """One machine or station in one window (the OEE inputs)."""

    status_s: dict[str, float] = field(default_factory=lambda: dict.fromkeys(_STATUSES, 0.0))
    made: int = 0
    good: int = 0
    inspected: int = 0
    passed: int = 0
    nominal_s: float = 0.0
    nominal_known: bool = True

    def count_made(self, nominal_s: float | None) -> None:
        """One more unit made, and the time it should have taken (None: not known, so
        this window's performance cannot be computed)."""
        self.made += 1
        if nominal_s is None:
            self.nominal_known = False
        else:
            self.nominal_s += nominal_s


@dataclass
class WindowTally:
    seen: set[str] = field(default_factory=set)
    counts: Counter[str] = field(default_factory=Counter)
    defective: Counter[str] = field(default_factory=Counter)
    durations: dict[str, list[float]] = field(default_factory=dict)
    checks: Counter[str] = field(default_factory=Counter)
    passed: Counter[str] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    failed: int = 0
    units: dict[str, UnitTally] = field(default_factory=dict)
    change: Counter[str] = field(default_factory=Counter)
    updates: Counter[str] = field(default_factory=Counter)

    def unit(self, unit_id: str) -> UnitTally:
        unit = self.units.get(unit_id)
        if unit is None:
            unit = self.units[unit_id] = UnitTally()
        return unit


@dataclass
class FamilyWindows:
    name: str
    windows: dict[float, WindowTally] = field(default_factory=dict)
    closed_until: float | None = None
    late: int = 0
    late_unreported: int = 0

    def window(self, t: float, size: float, event_id: str | None = None) -> WindowTally | None:
        """The open window holding ``t``; None (and counted late) if it closed, or if
        ``event_id`` was already counted in it (a duplicate on the wire)."""
        start = window_start(t, size)
        if self.closed_until is not None and start < self.closed_until:
            self.late += 1
            self.late_unreported += 1
            return None
        window = self.windows.get(start)
        if window is None:
            window = self.windows[start] = WindowTally()
        if event_id is not None:
            if event_id in window.seen:
                return None
            window.seen.add(event_id)
        return window


def ratio(numerator: float, denominator: float) -> float | None:
    return None if denominator <= 0 else numerator / denominator


def rounded(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)
