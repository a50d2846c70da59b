"""What the assembly planner records and reports: changelog entries and step results.

A :class:`ChangeSet` is the unit the service writes to the changelog topic before it
emits the widgets the changes produce, and the unit a restarted station replays (see
:mod:`widget_factory.core.assembly`). Its entries are plain, array-like structs so the
changelog stays compact. A :class:`StepResult` is what one planner step tells the
service: widgets to send, shortages to log, starvations to raise as alerts. An
:class:`OrderState` is an accepted order's entry in the planner's book.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field

import msgspec

from widget_factory.schemas import WidgetAssembled

__all__ = [
    "Stocked",
    "OrderRecord",
    "BuildRecord",
    "ChangeSet",
    "OrderState",
    "Shortage",
    "Starvation",
    "LateOrder",
    "StarvationEnded",
    "StepResult",
]


# --- changelog entries -------------------------------------------------------------------


class Stocked(msgspec.Struct, array_like=True, frozen=True, gc=False):
    """A component put into a station's stock. At unlimited speed a station process can
    hold 100,000s of these (it reads far ahead of its clock), so they are kept small:
    no garbage-collector header (they hold no containers, so they can form no cycle),
    and the names many share are interned (:meth:`with_shared_names`)."""

    station_id: str
    component_id: str
    component_type: str
    defects: int
    produced_at: float
    machine_id: str = ""
    degraded: bool = False
    """Machine and condition, for quality to trace failures (absent in older changelogs)."""

    def with_shared_names(self) -> Stocked:
        """This entry with its station, type and machine names interned, as the planner
        makes them live (a decoder makes a new string for every record it reads)."""
        return Stocked(
            sys.intern(self.station_id),
            self.component_id,
            sys.intern(self.component_type),
            self.defects,
            self.produced_at,
            sys.intern(self.machine_id),
            self.degraded,
        )


class OrderRecord(msgspec.Struct, array_like=True, frozen=True):
    order_id: str
    widget_type: str
    quantity: int
    priority: int
    created_at: float
    due_at: float | None = None


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


# --- the order book ----------------------------------------------------------------------


@dataclass
class OrderState:
    """An accepted order in the planner's book: units started and delivered so far."""

    record: OrderRecord
    started: int = 0
    delivered: int = 0
    finished_at: float = -math.inf
    """When its latest unit delivered so far was completed (simulated)."""

    @property
    def open_units(self) -> int:
        return self.record.quantity - self.started

    @property
    def sort_key(self) -> tuple[int, float, str]:
        return (-self.record.priority, self.record.created_at, self.record.order_id)


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
    """A station starved for ``starvation_alert_s`` with orders waiting, found at ``at``
    (simulated; None from older callers)."""

    station_id: str
    since: float
    missing: tuple[str, ...]
    at: float | None = None


@dataclass(frozen=True)
class StarvationEnded:
    """A starvation reported earlier (since ``since``) ended at ``at``: a build started,
    or no order is left waiting for the station."""

    station_id: str
    since: float
    at: float


@dataclass(frozen=True)
class LateOrder:
    """An order whose last unit was completed ``late_by`` simulated seconds after its due date."""

    order_id: str
    due_at: float
    completed_at: float

    @property
    def late_by(self) -> float:
        return self.completed_at - self.due_at


@dataclass
class StepResult:
    completed: list[BuildRecord] = field(default_factory=list)
    started: list[BuildRecord] = field(default_factory=list)
    shortages: list[Shortage] = field(default_factory=list)
    starvations: list[Starvation] = field(default_factory=list)
    starvation_ends: list[StarvationEnded] = field(default_factory=list)
