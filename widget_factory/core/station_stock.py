"""A station's stock and kits: the state the assembly planner keeps per station.

Each component type's stock is a :class:`StockBin` that hands out the earliest-made
component first, whatever order the components arrived in. :class:`StationState` is
one station's stock, build and starvation bookkeeping; :func:`pick_kit` chooses the
components of one build and :func:`assemble_widget` makes the widget they become. Pure data and arithmetic: the planner
(:mod:`widget_factory.core.assembly`) decides what to build.
"""

from __future__ import annotations

import heapq
import math
import random
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from widget_factory.core.assembly_records import (
    BuildRecord,
    OrderRecord,
    Shortage,
    Starvation,
    StepResult,
    Stocked,
)
from widget_factory.core.clock import to_datetime
from widget_factory.core.ids import IdSource, event_id_from
from widget_factory.factory_config import FactoryConfig, StationSpec
from widget_factory.schemas import ComponentFlaw, MachineStatus, WidgetAssembled

__all__ = ["StockBin", "StationState", "recipe_needs", "pick_kit", "assemble_widget"]


class StockBin:
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
@dataclass
class StationState:
    spec: StationSpec
    recipes: dict[str, tuple[str, ...]]
    uses: frozenset[str]
    stock: dict[str, StockBin] = field(default_factory=dict)
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

    def fed(self) -> None:
        """A build started, or no order waits for this station: nothing lacks."""
        self.shortage = None
        self.starved_since = None
        self.starvation_reported = False

    def lacks(
        self,
        widget_type: str,
        order_id: str,
        missing: tuple[str, ...],
        now: float,
        alert_after: float,
        result: StepResult,
    ) -> None:
        """Its best order lacks ``missing``: a shortage is said once, a starvation once
        it has lasted ``alert_after`` seconds."""
        shortage_key = (widget_type, missing)
        if self.shortage != shortage_key:
            self.shortage = shortage_key
            result.shortages.append(Shortage(self.spec.id, widget_type, order_id, missing))
        if self.starved_since is None:
            self.starved_since = now
        if not self.starvation_reported and now - self.starved_since >= alert_after:
            self.starvation_reported = True
            result.starvations.append(Starvation(self.spec.id, self.starved_since, missing, now))

    def block(
        self, now: float, created: Iterable[float], order_version: int, alert_after: float
    ) -> None:
        """Remember a failed start: it is retried once the orders or the station's stock
        change, or when a component made later, a later order (``created``: when the
        orders it could build were made), or the starvation alert's moment comes due."""
        wake = self.next_made_after(now, math.inf)
        for at in created:
            if now < at < wake:
                wake = at
        if self.starved_since is not None and not self.starvation_reported:
            wake = min(wake, self.starved_since + alert_after)
        self.blocked = (order_version, self.stock_version)
        self.wake_at = wake

    def next_made_after(self, t: float, before: float) -> float:
        """The earliest production time of a first-in-line component after ``t`` and
        before ``before`` (``before`` when none is): when a waiting kit may complete."""
        for stock in self.stock.values():
            if stock.size:
                made = stock.first().produced_at
                if t < made < before:
                    before = made
        return before

    def missing(self, recipe: tuple[str, ...], at: float = math.inf) -> tuple[str, ...]:
        """Types of ``recipe`` this station lacks, counting only components made by ``at``."""
        lacking: list[str] = []
        for component_type, n in recipe_needs(recipe):
            stock = self.stock.get(component_type)
            if stock is None or stock.size < n or stock.first().produced_at > at:
                lacking.append(component_type)
        return tuple(lacking)

    def ready(self, recipe: tuple[str, ...], at: float) -> bool:
        """``not missing(recipe, at)``, without building the list (the hot path)."""
        stock = self.stock
        for component_type, n in recipe_needs(recipe):
            bin_ = stock.get(component_type)
            if bin_ is None or bin_.size < n or bin_.first().produced_at > at:
                return False
        return True


_NEEDS: dict[tuple[str, ...], tuple[tuple[str, int], ...]] = {}


def recipe_needs(recipe: tuple[str, ...]) -> tuple[tuple[str, int], ...]:
    """``recipe`` as (component type, units) pairs, computed once per recipe."""
    needs = _NEEDS.get(recipe)
    if needs is None:
        counts: dict[str, int] = {}
        for component_type in recipe:
            counts[component_type] = counts.get(component_type, 0) + 1
        needs = _NEEDS[recipe] = tuple(counts.items())
    return needs


def pick_kit(station: StationState, recipe: tuple[str, ...]) -> list[Stocked]:
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


def assemble_widget(
    config: FactoryConfig,
    rng: random.Random,
    ids: IdSource,
    station_id: str,
    order: OrderRecord,
    components: list[Stocked],
    started_at: float,
) -> BuildRecord:
    """The build of one widget of ``order`` from ``components`` at ``station_id``: its
    assembly time drawn from ``rng`` around the widget type's, its worker from the crew."""
    spec = config.widget_types[order.widget_type]
    jitter = config.simulation.assembly_jitter
    duration = spec.assembly_time_s * rng.uniform(1 - jitter, 1 + jitter)
    completes_at = started_at + duration
    widget_type = order.widget_type
    widget_id = ids.widget_id(widget_type)
    widget = WidgetAssembled(
        # From the widget id, whose counter the changelog restores: a restarted
        # station never reissues an event id (its random stream starts over).
        event_id=event_id_from("widget_assembled", widget_id),
        widget_id=widget_id,
        widget_type=widget_type,
        assembly_station_id=station_id,
        component_ids=[c.component_id for c in components],
        assembly_started_at=to_datetime(started_at),
        assembly_completed_at=to_datetime(completes_at),
        assembly_duration_seconds=round(duration, 3),
        worker_id=rng.choice(config.assembly.workers),
        batch_id=_batch_id(station_id, to_datetime(started_at)),
        order_id=order.order_id,
        component_defects=sum(c.defects for c in components),
        component_flaws=[
            ComponentFlaw(
                c.component_id,
                c.machine_id or "UNKNOWN",
                c.defects,
                c.degraded,
                to_datetime(c.produced_at),
            )
            for c in components
            if c.defects or c.degraded
        ],
    )
    return BuildRecord(station_id, widget, completes_at)


def _batch_id(station_id: str, at: datetime) -> str:
    return f"ASSY_{station_id.rsplit('_', 1)[-1]}_{at:%Y%m%d_%H}"
