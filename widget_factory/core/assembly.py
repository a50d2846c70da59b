"""Assembly stations: component stock, the order book, and building widgets by recipe.

The planner is event-sourced. Every change of state (a component put into a station's
stock, an order accepted, a build started, a widget delivered) is first written as an
entry of a :class:`ChangeSet`, then applied. The service writes each change set to the
changelog topic before it emits the widgets the changes produce, so a crashed station
is rebuilt exactly by replaying its change sets: no component vanishes from stock and
none is used twice.

The changelog entries and step results are in :mod:`widget_factory.core.assembly_records`,
a station's stock and kit picking in :mod:`widget_factory.core.station_stock`.

Each component goes to exactly one station, the one that needs it most; a station builds
the highest-priority order it has every component for, taking the earliest-made
components of its stock first, and takes the widget type's assembly time (simulated).
"""

from __future__ import annotations

import math
import random
import sys
from collections.abc import Iterable

from widget_factory.core.assembly_records import (
    BuildRecord,
    ChangeSet,
    LateOrder,
    OrderRecord,
    OrderState,
    StarvationEnded,
    StepResult,
    Stocked,
)
from widget_factory.core.ids import IdSource, type_of_component
from widget_factory.core.recent import RecentKeys
from widget_factory.core.station_stock import StationState, StockBin, assemble_widget, pick_kit
from widget_factory.core.station_timeline import StationTimeline
from widget_factory.factory_config import FactoryConfig
from widget_factory.schemas import (
    ComponentProduced,
    MachineStatus,
    ProductionOrder,
)

__all__ = ["AssemblyPlanner", "BUILDING_STATUSES", "UNPLACED"]

BUILDING_STATUSES = frozenset({MachineStatus.RUNNING, MachineStatus.IDLE})
"""A station starts new builds only in these statuses (as learnt from telemetry)."""

_MAX_EVENTS_PER_STEP = 1_000_000
"""A bound on the event loop of one step, so a bug can never hang a station."""

UNPLACED = "UNPLACED"
"""Pseudo-station holding components no local station can use (in scaled-out runs)."""


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
        self.stations: dict[str, StationState] = {}
        for station_id in station_ids:
            spec = config.station_by_id[station_id]
            station_recipes = {w: recipes[w] for w in spec.builds}
            uses = frozenset(c for recipe in station_recipes.values() for c in recipe)
            self.stations[station_id] = StationState(spec, station_recipes, uses)
        self.instance = instance or "+".join(sorted(self.stations))
        self._unplaced: dict[str, StockBin] = {}
        self.orders: dict[str, OrderState] = {}
        self._finished_orders: RecentKeys[None] = RecentKeys(recent_capacity)
        self._builds: dict[str, BuildRecord] = {}
        self._placed: set[str] = set()
        self._used: RecentKeys[None] = RecentKeys(recent_capacity)
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
        self._open_cache: dict[str, tuple[int, list[OrderState]]] = {}
        self.timeline: StationTimeline | None = None
        """Set by a service that publishes the stations' true OEE: their status and
        demand turns, noted as they happen (core/station_timeline.py)."""

    # --- the change log ------------------------------------------------------------------

    def take_changes(self) -> ChangeSet:
        """The changes since the last call (to be written before their effects are emitted)."""
        changes, self._pending = self._pending, ChangeSet(instance=self.instance)
        changes.counters = self._ids.counters
        return changes

    def replay(self, changes: ChangeSet) -> None:
        """Rebuild state from a change set read back from the changelog."""
        for stocked in changes.stocked:
            self._apply_stocked(stocked.with_shared_names())
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
        # names shared by many components are interned: stock can hold 100,000s of them
        component_type = sys.intern(event.component_type)
        station_id = self._choose_station(component_type)
        stocked = Stocked(
            station_id,
            component_id,
            component_type,
            event.quality_metrics.defect_count,
            event.produced_at.timestamp(),
            sys.intern(event.machine_id),
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
            if self.timeline is not None:
                self.timeline.status(machine_id, status, self._time)

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
            upcoming = station.next_made_after(t, upcoming)
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

    def _open_orders(self, station: StationState) -> list[OrderState]:
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

    def _try_start(
        self, station: StationState, now: float, result: StepResult
    ) -> BuildRecord | None:
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
        self, station: StationState, candidates: list[OrderState], now: float, result: StepResult
    ) -> BuildRecord | None:
        if self.timeline is not None:
            if candidates:
                self.timeline.wanted(station.spec.id, candidates)
            else:
                self.timeline.waiting(station.spec.id, now)
        if not candidates:
            station.fed()
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
        top = candidates[0].record
        missing = station.missing(station.recipes[top.widget_type], now)
        limit = self._config.simulation.starvation_alert_s
        station.lacks(top.widget_type, top.order_id, missing, now, limit, result)
        self._block(station, now)
        return None

    def _block(self, station: StationState, now: float) -> None:
        created = (o.record.created_at for o in self._open_orders(station))
        limit = self._config.simulation.starvation_alert_s
        station.block(now, created, self._order_version, limit)

    def _start(
        self, station: StationState, order: OrderState, recipe: tuple[str, ...], now: float
    ) -> BuildRecord | None:
        components = pick_kit(station, recipe)
        ready_at = max(c.produced_at for c in components)
        started_at = min(now, max(station.free_at, ready_at, order.record.created_at))
        if started_at >= self.cutoff:
            return None
        build = assemble_widget(
            self._config,
            self._rng,
            self._ids,
            station.spec.id,
            order.record,
            components,
            started_at,
        )
        self._pending.started.append(build)
        self._apply_started(build)
        station.fed()
        return build

    # --- applying changes (shared by live steps and replays) ----------------------------

    def _apply_stocked(self, stocked: Stocked) -> None:
        if stocked.component_id in self._placed or stocked.component_id in self._used:
            return  # replayed twice: applying a change set is idempotent
        station = self.stations.get(stocked.station_id)
        stock = station.stock if station is not None else self._unplaced
        stock.setdefault(stocked.component_type, StockBin()).add(stocked)
        self._placed.add(stocked.component_id)
        if station is not None:
            station.stock_version += 1

    def _apply_order(self, record: OrderRecord) -> None:
        if record.order_id not in self.orders and record.order_id not in self._finished_orders:
            self.orders[record.order_id] = OrderState(record)
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

    def _take_from_stock(self, station: StationState, component_id: str) -> None:
        stock = station.stock.get(type_of_component(component_id))
        if stock is not None and component_id in self._placed:
            stock.remove(component_id)
            station.stock_version += 1
        self._placed.discard(component_id)
        self._used.remember(component_id, None)

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
            self._finished_orders.remember(order.record.order_id, None)
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
