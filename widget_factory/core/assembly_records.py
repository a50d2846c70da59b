"""What the assembly planner records and reports: changelog entries and step results.

A :class:`ChangeSet` is the unit the service writes to the changelog topic before it
emits the widgets the changes produce, and the unit a restarted station replays (see
:mod:`widget_factory.core.assembly`). Its entries are plain, array-like structs so the
changelog stays compact. A :class:`StepResult` is what one planner step tells the
service: widgets to send, shortages to log, starvations to raise as alerts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec

from widget_factory.schemas import WidgetAssembled

__all__ = [
    "Stocked",
    "OrderRecord",
    "BuildRecord",
    "ChangeSet",
    "Shortage",
    "Starvation",
    "StepResult",
]


# --- changelog entries -------------------------------------------------------------------


class Stocked(msgspec.Struct, array_like=True, frozen=True):
    station_id: str
    component_id: str
    component_type: str
    defects: int
    produced_at: float


class OrderRecord(msgspec.Struct, array_like=True, frozen=True):
    order_id: str
    widget_type: str
    quantity: int
    priority: int
    created_at: float


class BuildRecord(msgspec.Struct, frozen=True):
    station_id: str
    widget: WidgetAssembled
    completes_at: float


class ChangeSet(msgspec.Struct, kw_only=True):
    """What one step changed; the unit written to (and replayed from) the changelog."""

    instance: str
    stocked: list[Stocked] = []
    orders: list[OrderRecord] = []
    started: list[BuildRecord] = []
    delivered: list[str] = []
    positions: dict[str, int] = {}
    counters: dict[str, int] = {}

    def __bool__(self) -> bool:
        return bool(self.stocked or self.orders or self.started or self.delivered or self.positions)


# --- step results ------------------------------------------------------------------------


@dataclass(frozen=True)
class Shortage:
    """A free station lacks components for its best order: said once per shortage."""

    station_id: str
    widget_type: str
    order_id: str
    missing: tuple[str, ...]


@dataclass(frozen=True)
class Starvation:
    """A station starved for ``starvation_alert_s`` with orders waiting."""

    station_id: str
    since: float
    missing: tuple[str, ...]


@dataclass
class StepResult:
    completed: list[BuildRecord] = field(default_factory=list)
    started: list[BuildRecord] = field(default_factory=list)
    shortages: list[Shortage] = field(default_factory=list)
    starvations: list[Starvation] = field(default_factory=list)
