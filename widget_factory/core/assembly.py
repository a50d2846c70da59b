"""Assembly stations: component stock, the order book, and building widgets by recipe.

The planner is event-sourced. Every change of state (a component put into a station's
stock, an order accepted, a build started, a widget delivered) is first written as an
entry of a :class:`ChangeSet`, then applied. The service writes each change set to the
changelog topic before it emits the widgets the changes produce, so a crashed station
is rebuilt exactly by replaying its change sets: no component vanishes from stock and
none is used twice.

Each component goes to exactly one station, the one that needs it most; a station builds
the highest-priority order it has every component for, taking the earliest-made
components of its stock first, and takes the widget type's assembly time (simulated).
"""

from __future__ import annotations

import heapq
import math
import random
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import msgspec

from widget_factory.core.clock import to_datetime
from widget_factory.core.ids import IdSource, event_id_from
from widget_factory.factory_config import FactoryConfig, StationSpec
from widget_factory.schemas import (
    ComponentFlaw,
    ComponentProduced,
    MachineStatus,
    ProductionOrder,
    WidgetAssembled,
)

__all__ = [
    "Stocked",
    "BuildRecord",
    "OrderRecord",
    "ChangeSet",
    "Shortage",
    "Starvation",
    "LateOrder",
    "StarvationEnded",
    "StepResult",
    "AssemblyPlanner",
    "BUILDING_STATUSES",
]

BUILDING_STATUSES = frozenset({MachineStatus.RUNNING, MachineStatus.IDLE})
"""A station starts new builds only in these statuses (as learnt from telemetry)."""

_MAX_EVENTS_PER_STEP = 1_000_000
"""A bound on the event loop of one step, so a bug can never hang a station."""

UNPLACED = "UNPLACED"
"""Pseudo-station holding components no local station can use (in scaled-out runs)."""


# --- changelog entries -------------------------------------------------------------------


class Stocked(msgspec.Struct, array_like=True, frozen=True):
    station_id: str
    component_id: str
    component_type: str
    defects: int
    produced_at: float
    machine_id: str = ""
    degraded: bool = False
    """Machine and condition, for quality to trace failures (absent in older changelogs)."""


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


# --- state -------------------------------------------------------------------------------


class _Bin:
    """One component type's stock at a station: earliest-made first, whatever order the
    components arrived in (partitions are read one after another)."""

    __slots__ = ("_heap", "_removed", "size")

    def __init__(self) -> None:
        self._heap: list[tuple[float, str, Stocked]] = []
        self._removed: set[str] = set()
        self.size = 0

    def add(self, item: Stocked) -> None:
        heapq.heappush(self._heap, (item.produced_at, item.component_id, item))
        self.size += 1

    def _settle(self) -> None:
        while self._heap and self._heap[0][1] in self._removed:
            self._removed.discard(heapq.heappop(self._heap)[1])

    def first(self) -> Stocked:
        self._settle()
        return self._heap[0][2]

    def remove(self, component_id: str) -> None:
        self.size -= 1
        heap = self._heap
        if heap and heap[0][1] == component_id:  # the usual case: the earliest is taken
            heapq.heappop(heap)
        else:
            self._removed.add(component_id)
        self._settle()


@dataclass
class _Order:
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


@dataclass
class _Station:
    spec: StationSpec
    recipes: dict[str, tuple[str, ...]]
    uses: frozenset[str]
    stock: dict[str, _Bin] = field(default_factory=dict)
    build: BuildRecord | None = None
    free_at: float = 0.0
    status: MachineStatus = MachineStatus.RUNNING
    shortage: tuple[str, tuple[str, ...]] | None = None
    starved_since: float | None = None
    starvation_reported: bool = False
    built: int = 0
    stock_version: int = 0
    blocked: tuple[int, int] | None = None
    """(order version, stock version) when a start last failed: until either changes, or
    ``wake_at`` passes, trying again would fail the same way."""
    wake_at: float = math.inf

    def count(self, component_type: str) -> int:
        stock = self.stock.get(component_type)
        return stock.size if stock else 0

    def missing(self, recipe: tuple[str, ...], at: float = math.inf) -> tuple[str, ...]:
        """Types of ``recipe`` this station lacks, counting only components made by ``at``."""
        lacking: list[str] = []
        for component_type, n in _needs(recipe):
            stock = self.stock.get(component_type)
            if stock is None or stock.size < n or stock.first().produced_at > at:
                lacking.append(component_type)
        return tuple(lacking)

    def ready(self, recipe: tuple[str, ...], at: float) -> bool:
        """``not missing(recipe, at)``, without building the list (the hot path)."""
        stock = self.stock
        for component_type, n in _needs(recipe):
            bin_ = stock.get(component_type)
            if bin_ is None or bin_.size < n or bin_.first().produced_at > at:
                return False
        return True


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


class AssemblyPlanner:
    """The stations of one assembly process. See the module docstring."""

    def __init__(
        self,
        config: FactoryConfig,
        station_ids: Iterable[str],
        rng: random.Random,
        ids: IdSource,
        *,
        instance: str | None = None,
        recent_capacity: int = 50_000,
    ) -> None:
        self._config = config
        self._rng = rng
        self._ids = ids
        recipes = config.recipes
        self.stations: dict[str, _Station] = {}
        for station_id in station_ids:
            spec = config.station_by_id[station_id]
            station_recipes = {w: recipes[w] for w in spec.builds}
            uses = frozenset(c for recipe in station_recipes.values() for c in recipe)
            self.stations[station_id] = _Station(spec, station_recipes, uses)
        self.instance = instance or "+".join(sorted(self.stations))
        self._unplaced: dict[str, _Bin] = {}
        self.orders: dict[str, _Order] = {}
        self._finished_orders: OrderedDict[str, None] = OrderedDict()
        self._builds: dict[str, BuildRecord] = {}
        self._placed: set[str] = set()
        self._used: OrderedDict[str, None] = OrderedDict()
        self._recent_capacity = recent_capacity
        self._pending = ChangeSet(instance=self.instance)
        self._time = -math.inf
        self.cutoff = math.inf
        """No build starts at or after this simulated time (the end of a bounded run, or
        the moment a drain was asked for); builds in progress still finish."""
        self.orders_completed: list[str] = []
        self.orders_late: list[LateOrder] = []
        """Completed orders that missed their due date, since the service last took them."""
        self.late_orders = 0
        """Orders completed after their due date, in all."""
        self._order_version = 0
        self._open_cache: dict[str, tuple[int, list[_Order]]] = {}

    # --- the change log ------------------------------------------------------------------

    def take_changes(self) -> ChangeSet:
        """The changes since the last call (to be written before their effects are emitted)."""
        changes, self._pending = self._pending, ChangeSet(instance=self.instance)
        changes.counters = self._ids.counters
        return changes

    def replay(self, changes: ChangeSet) -> None:
        """Rebuild state from a change set read back from the changelog."""
        for stocked in changes.stocked:
            self._apply_stocked(stocked)
        for order in changes.orders:
            self._apply_order(order)
        for build in changes.started:
            self._apply_started(build)
        for widget_id in changes.delivered:
            self._apply_delivered(widget_id)
        self._ids.restore(changes.counters)

    def open_starvations(self) -> list[tuple[str, float]]:
        """(station id, since) of every starvation reported and not yet over."""
        return [
            (sid, s.starved_since)
            for sid, s in self.stations.items()
            if s.starvation_reported and s.starved_since is not None
        ]

    def in_progress(self) -> list[BuildRecord]:
        """Builds started and not yet delivered."""
        return sorted(self._builds.values(), key=lambda b: b.completes_at)

    def recovered_completions(self) -> list[BuildRecord]:
        """After a replay: builds that finished before the crash but whose widget was not
        confirmed delivered. The service emits them again (same ``event_id``)."""
        current = {id(s.build) for s in self.stations.values() if s.build is not None}
        return [b for b in self.in_progress() if id(b) not in current]

    # --- inputs --------------------------------------------------------------------------

    def receive_component(self, event: ComponentProduced) -> str | None:
        """Put a component into the stock of the station that needs it most.

        Returns the station id (``UNPLACED`` when no local station can use it), or None
        for a component already received or used (a duplicate).
        """
        component_id = event.component_id
        if component_id in self._placed or component_id in self._used:
            return None
        component_type = event.component_type
        station_id = self._choose_station(component_type)
        stocked = Stocked(
            station_id,
            component_id,
            component_type,
            event.quality_metrics.defect_count,
            event.produced_at.timestamp(),
            event.machine_id,
            event.made_while_degraded,
        )
        self._pending.stocked.append(stocked)
        self._apply_stocked(stocked)
        return station_id

    def add_order(self, order: ProductionOrder) -> bool:
        """Accept an order; False for a duplicate or a widget type this factory lacks."""
        if order.order_id in self.orders or order.order_id in self._finished_orders:
            return False
        if order.widget_type not in self._config.widget_types:
            return False
        record = OrderRecord(
            order.order_id,
            order.widget_type,
            order.quantity,
            order.priority,
            order.created_at.timestamp(),
            None if order.due_at is None else order.due_at.timestamp(),
        )
        self._pending.orders.append(record)
        self._apply_order(record)
        return True

    def set_status(self, machine_id: str, status: MachineStatus) -> None:
        station = self.stations.get(machine_id)
        if station is not None:
            station.status = status
            station.blocked = None

    def record_position(self, topic: str, partition: int, next_offset: int) -> None:
        self._pending.positions[f"{topic}:{partition}"] = next_offset

    def delivered(self, widget_id: str) -> None:
        """The widget's record is acknowledged by the broker: the build is finished."""
        if widget_id in self._builds:
            self._pending.delivered.append(widget_id)
            self._apply_delivered(widget_id)

    # --- time ----------------------------------------------------------------------------

    def next_completion(self) -> float:
        """When the earliest build on a station completes (inf when none is running)."""
        return min(
            (s.build.completes_at for s in self.stations.values() if s.build is not None),
            default=math.inf,
        )

    def step(self, now: float) -> StepResult:
        """Finish builds due by ``now`` and start new ones, in simulated-time order.

        Time moves from one event to the next (a build completing, an order's creation,
        a component's production), so a station only ever sees the orders and components
        that existed at that moment, however far ``now`` jumps (virtual time).
        """
        result = StepResult()
        t = self._time
        for _ in range(_MAX_EVENTS_PER_STEP):
            t = min(self._next_event_after(t), now) if t < now else now
            self._step_at(t, result)
            if t >= now:
                break
        self._time = max(self._time, now)
        return result

    def _next_event_after(self, t: float) -> float:
        upcoming = math.inf
        for station in self.stations.values():
            if station.build is not None and t < station.build.completes_at < upcoming:
                upcoming = station.build.completes_at
            for stock in station.stock.values():
                if stock.size:
                    made = stock.first().produced_at
                    if t < made < upcoming:
                        upcoming = made
        for order in self.orders.values():
            created = order.record.created_at
            if t < created < upcoming and order.open_units > 0:
                upcoming = created
        return upcoming

    def _step_at(self, now: float, result: StepResult) -> None:
        for station in self.stations.values():
            while True:
                if station.build is not None:
                    if station.build.completes_at > now:
                        break
                    result.completed.append(station.build)
                    station.free_at = station.build.completes_at
                    station.build = None
                    station.built += 1
                if station.status not in BUILDING_STATUSES or station.free_at >= self.cutoff:
                    break
                if (
                    station.blocked == (self._order_version, station.stock_version)
                    and now < station.wake_at
                ):
                    break  # nothing it depends on changed since its last failed start
                build = self._try_start(station, now, result)
                if build is None:
                    break
                result.started.append(build)

    # --- decisions -----------------------------------------------------------------------

    def _choose_station(self, component_type: str) -> str:
        best: tuple[int, int, int] | None = None
        chosen = UNPLACED
        for index, station in enumerate(self.stations.values()):
            if component_type not in station.uses:
                continue
            candidates = self._open_orders(station)
            plan = candidates[0] if candidates else None
            need = 0
            if plan is not None:
                recipe = station.recipes[plan.record.widget_type]
                need = recipe.count(component_type) - station.count(component_type)
            key = (-max(need, 0), station.count(component_type), index)
            if best is None or key < best:
                best, chosen = key, station.spec.id
        return chosen

    def _open_orders(self, station: _Station) -> list[_Order]:
        """Orders this station could build, best first (cached until the orders change)."""
        cached = self._open_cache.get(station.spec.id)
        if cached is not None and cached[0] == self._order_version:
            return cached[1]
        orders = sorted(
            (
                o
                for o in self.orders.values()
                if o.open_units > 0 and o.record.widget_type in station.recipes
            ),
            key=lambda o: o.sort_key,
        )
        self._open_cache[station.spec.id] = (self._order_version, orders)
        return orders

    def _try_start(self, station: _Station, now: float, result: StepResult) -> BuildRecord | None:
        candidates = [o for o in self._open_orders(station) if o.record.created_at <= now]
        if station.starvation_reported and station.starved_since is not None:
            since = station.starved_since
            build = self._attempt_start(station, candidates, now, result)
            if station.starved_since is None:
                at = now if build is None else build.widget.assembly_started_at.timestamp()
                result.starvation_ends.append(StarvationEnded(station.spec.id, since, at))
            return build
        return self._attempt_start(station, candidates, now, result)

    def _attempt_start(
        self, station: _Station, candidates: list[_Order], now: float, result: StepResult
    ) -> BuildRecord | None:
        if not candidates:
            station.starved_since = None
            station.starvation_reported = False
            station.shortage = None
            self._block(station, now)
            return None
        kits: dict[str, bool] = {}
        for order in candidates:
            widget_type = order.record.widget_type
            recipe = station.recipes[widget_type]
            ready = kits.get(widget_type)
            if ready is None:
                ready = kits[widget_type] = station.ready(recipe, now)
            if ready:
                return self._start(station, order, recipe, now)
            if len(kits) == len(station.recipes):
                break  # every type this station builds lacks something
        top = candidates[0]
        missing = station.missing(station.recipes[top.record.widget_type], now)
        shortage_key = (top.record.widget_type, missing)
        if station.shortage != shortage_key:
            station.shortage = shortage_key
            result.shortages.append(
                Shortage(station.spec.id, top.record.widget_type, top.record.order_id, missing)
            )
        if station.starved_since is None:
            station.starved_since = now
        limit = self._config.simulation.starvation_alert_s
        if not station.starvation_reported and now - station.starved_since >= limit:
            station.starvation_reported = True
            result.starvations.append(
                Starvation(station.spec.id, station.starved_since, missing, now)
            )
        self._block(station, now)
        return None

    def _block(self, station: _Station, now: float) -> None:
        """Remember a failed start: it is retried once the orders or the station's stock
        change, or when a component made later, a later order, or the starvation alert's
        moment comes due."""
        wake = math.inf
        for stock in station.stock.values():
            if stock.size:
                made = stock.first().produced_at
                if now < made < wake:
                    wake = made
        for order in self._open_orders(station):
            if now < order.record.created_at < wake:
                wake = order.record.created_at
        if station.starved_since is not None and not station.starvation_reported:
            wake = min(wake, station.starved_since + self._config.simulation.starvation_alert_s)
        station.blocked = (self._order_version, station.stock_version)
        station.wake_at = wake

    def _start(
        self, station: _Station, order: _Order, recipe: tuple[str, ...], now: float
    ) -> BuildRecord | None:
        components = _pick(station, recipe)
        ready_at = max(c.produced_at for c in components)
        started_at = min(now, max(station.free_at, ready_at, order.record.created_at))
        if started_at >= self.cutoff:
            return None
        spec = self._config.widget_types[order.record.widget_type]
        jitter = self._config.simulation.assembly_jitter
        duration = spec.assembly_time_s * self._rng.uniform(1 - jitter, 1 + jitter)
        completes_at = started_at + duration
        widget_type = order.record.widget_type
        widget_id = self._ids.widget_id(widget_type)
        widget = WidgetAssembled(
            # From the widget id, whose counter the changelog restores: a restarted
            # station never reissues an event id (its random stream starts over).
            event_id=event_id_from("widget_assembled", widget_id),
            widget_id=widget_id,
            widget_type=widget_type,
            assembly_station_id=station.spec.id,
            component_ids=[c.component_id for c in components],
            assembly_started_at=to_datetime(started_at),
            assembly_completed_at=to_datetime(completes_at),
            assembly_duration_seconds=round(duration, 3),
            worker_id=self._rng.choice(self._config.assembly.workers),
            batch_id=_batch_id(station.spec.id, to_datetime(started_at)),
            order_id=order.record.order_id,
            component_defects=sum(c.defects for c in components),
            component_flaws=[
                ComponentFlaw(c.component_id, c.machine_id or "UNKNOWN", c.defects, c.degraded)
                for c in components
                if c.defects or c.degraded
            ],
        )
        build = BuildRecord(station.spec.id, widget, completes_at)
        self._pending.started.append(build)
        self._apply_started(build)
        station.shortage = None
        station.starved_since = None
        station.starvation_reported = False
        return build

    # --- applying changes (shared by live steps and replays) ----------------------------

    def _apply_stocked(self, stocked: Stocked) -> None:
        if stocked.component_id in self._placed or stocked.component_id in self._used:
            return  # replayed twice: applying a change set is idempotent
        station = self.stations.get(stocked.station_id)
        stock = station.stock if station is not None else self._unplaced
        stock.setdefault(stocked.component_type, _Bin()).add(stocked)
        self._placed.add(stocked.component_id)
        if station is not None:
            station.stock_version += 1

    def _apply_order(self, record: OrderRecord) -> None:
        if record.order_id not in self.orders and record.order_id not in self._finished_orders:
            self.orders[record.order_id] = _Order(record)
            self._order_version += 1

    def _apply_started(self, build: BuildRecord) -> None:
        widget = build.widget
        if widget.widget_id in self._builds:
            return
        station = self.stations.get(build.station_id)
        if station is None:
            return
        for component_id in widget.component_ids:
            self._take_from_stock(station, component_id)
        self._builds[widget.widget_id] = build
        station.build = build
        station.free_at = max(station.free_at, build.completes_at)
        order = self.orders.get(widget.order_id or "")
        if order is not None:
            order.started += 1
            self._order_version += 1

    def _take_from_stock(self, station: _Station, component_id: str) -> None:
        stock = station.stock.get(_type_of(component_id))
        if stock is not None and component_id in self._placed:
            stock.remove(component_id)
            station.stock_version += 1
        self._placed.discard(component_id)
        self._used[component_id] = None
        if len(self._used) > self._recent_capacity:
            self._used.popitem(last=False)

    def _apply_delivered(self, widget_id: str) -> None:
        build = self._builds.pop(widget_id, None)
        if build is None:
            return
        station = self.stations.get(build.station_id)
        if station is not None and station.build is build:
            station.build = None
            station.free_at = max(station.free_at, build.completes_at)
        order = self.orders.get(build.widget.order_id or "")
        if order is None:
            return
        order.delivered += 1
        order.finished_at = max(order.finished_at, build.completes_at)
        if order.delivered >= order.record.quantity:
            due = order.record.due_at
            if due is not None and order.finished_at > due:
                self.late_orders += 1
                self.orders_late.append(LateOrder(order.record.order_id, due, order.finished_at))
            self._order_version += 1
            del self.orders[order.record.order_id]
            self._finished_orders[order.record.order_id] = None
            if len(self._finished_orders) > self._recent_capacity:
                self._finished_orders.popitem(last=False)
            self.orders_completed.append(order.record.order_id)

    # --- views ---------------------------------------------------------------------------

    def stock_levels(self) -> dict[str, dict[str, int]]:
        """Per station (and ``UNPLACED``), component type → units in stock."""
        levels = {
            sid: {t: b.size for t, b in s.stock.items() if b.size}
            for sid, s in self.stations.items()
        }
        unplaced = {t: b.size for t, b in self._unplaced.items() if b.size}
        if unplaced:
            levels[UNPLACED] = unplaced
        return levels

    def stocked_ids(self) -> set[str]:
        return set(self._placed)

    def orders_waiting(self) -> int:
        return sum(o.open_units for o in self.orders.values())


_NEEDS: dict[tuple[str, ...], tuple[tuple[str, int], ...]] = {}


def _needs(recipe: tuple[str, ...]) -> tuple[tuple[str, int], ...]:
    """``recipe`` as (component type, units) pairs, computed once per recipe."""
    needs = _NEEDS.get(recipe)
    if needs is None:
        counts: dict[str, int] = {}
        for component_type in recipe:
            counts[component_type] = counts.get(component_type, 0) + 1
        needs = _NEEDS[recipe] = tuple(counts.items())
    return needs


def _pick(station: _Station, recipe: tuple[str, ...]) -> list[Stocked]:
    """The earliest-made components for ``recipe`` (which may name a type twice)."""
    picked: list[Stocked] = []
    for component_type in recipe:
        stock = station.stock[component_type]
        if component_type in recipe[: len(picked)]:
            taken = {c.component_id for c in picked}
            candidates = sorted(
                entry
                for entry in stock._heap
                if entry[1] not in stock._removed and entry[1] not in taken
            )
            picked.append(candidates[0][2])
        else:
            picked.append(stock.first())
    return picked


def _type_of(component_id: str) -> str:
    """``COMP_METAL_FRAME_a1b2c3d4`` → ``metal_frame``."""
    return component_id[5:-9].lower()


def _batch_id(station_id: str, at: datetime) -> str:
    return f"ASSY_{station_id.rsplit('_', 1)[-1]}_{at:%Y%m%d_%H}"
