"""Kanban: component production follows demand instead of piling stock up.

Each component type has a **ceiling** and a **reorder point** (units). The producer
counts its stock of a type: the components it made that no widget has consumed yet.
Its *position* is that stock plus what it may still make (the allowance of
:meth:`ComponentProduction.allow`). When the position falls to the reorder point, the
producer orders up to the ceiling: the allowance grows by ``ceiling - position``. A
machine whose type has no allowance left parks (reports ``idle``) until the next order.
So stock never passes the ceiling, and a type whose stock runs out always has units on
order: its machines are never parked while stations wait for it.

Where the default figures come from (:func:`kanban_limits`): random orders arrive every
``simulation.order_interval_s`` on average, of ``order_quantity`` units (the mean of the
range), of a type drawn uniformly among the widget types some station builds
(core/orders.py). A component type's expected use per hour is then widgets per hour
times its count in each recipe, averaged over those widget types. The ceiling holds
``kanban.ceiling_hours`` of that use (at least ``kanban.min_ceiling`` units) and the
reorder point the same share of it as ``kanban.reorder_hours`` of ``ceiling_hours``
(below the ceiling). ``kanban.limits`` fixes the
figures of a type. With the reference factory (15 widgets per hour) that is 60 metal
frames, housings and boards at the ceiling, 30 of each at the reorder point.

Stock counts only the components this producer made, by id: a restarted producer does
not count what an earlier one left (those are consumed first, so the count catches up).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from widget_factory.factory_config import FactoryConfig

__all__ = [
    "KanbanHold",
    "KanbanLimit",
    "KanbanBoard",
    "component_type_of",
    "expected_hourly_use",
    "kanban_limits",
]


@dataclass(frozen=True)
class KanbanHold:
    """A machine parked (``held``) or restarted by kanban at ``at`` (simulated epoch s)."""

    machine_id: str
    at: float
    held: bool


@dataclass(frozen=True)
class KanbanLimit:
    """A component type's stock ceiling and reorder point, in units, and the expected
    use per simulated hour they were derived from (None when fixed by the config)."""

    ceiling: int
    reorder: int
    hourly_use: float | None = None


def expected_hourly_use(config: FactoryConfig) -> dict[str, float]:
    """Expected consumption of each component type, in units per simulated hour."""
    sim = config.simulation
    widgets_per_hour = 3600.0 / sim.order_interval_s * (sum(sim.order_quantity) / 2.0)
    buildable = sorted({w for s in config.stations for w in s.builds})
    use = dict.fromkeys(config.component_types, 0.0)
    for widget_type in buildable:
        for component in config.widget_types[widget_type].recipe:
            use[component] += widgets_per_hour / len(buildable)
    return use


def kanban_limits(config: FactoryConfig) -> dict[str, KanbanLimit]:
    """Ceiling and reorder point of every component type (see the module docstring)."""
    spec = config.kanban
    limits: dict[str, KanbanLimit] = {}
    for component, use in expected_hourly_use(config).items():
        fixed = spec.limits.get(component)
        if fixed is not None:
            limits[component] = KanbanLimit(fixed.ceiling, fixed.reorder)
            continue
        ceiling = max(math.ceil(use * spec.ceiling_hours), spec.min_ceiling)
        # the same share of the ceiling, also when min_ceiling raised it
        reorder = min(math.ceil(ceiling * spec.reorder_hours / spec.ceiling_hours), ceiling - 1)
        limits[component] = KanbanLimit(ceiling, reorder, use)
    return limits


def component_type_of(component_id: str) -> str | None:
    """The type in a component id ``COMP_<TYPE>_<8 hex>`` (core/ids.py), or None."""
    if not component_id.startswith("COMP_"):
        return None
    body, sep, _serial = component_id[5:].rpartition("_")
    return body.lower() if sep and body else None


class KanbanBoard:
    """The producer's stock per component type and the orders kanban places.

    ``produced`` and ``consumed`` keep the stock (ids made and not yet seen in a widget);
    ``orders`` says how many more units each type may make, given what is still allowed.
    """

    def __init__(self, limits: Mapping[str, KanbanLimit]) -> None:
        self.limits = dict(limits)
        self._stock: dict[str, set[str]] = {name: set() for name in self.limits}
        self._owner: dict[str, str] = {}

    def stock(self, component_type: str) -> int:
        return len(self._stock[component_type])

    def produced(self, component_type: str, component_id: str) -> None:
        stock = self._stock.get(component_type)
        if stock is not None:
            stock.add(component_id)
            self._owner[component_id] = component_type

    def consumed(self, component_ids: Iterable[str]) -> int:
        """Remove consumed components from stock; returns how many were ours."""
        ours = 0
        for component_id in component_ids:
            component_type = self._owner.pop(component_id, None)
            if component_type is not None:
                self._stock[component_type].discard(component_id)
                ours += 1
        return ours

    def order(self, component_type: str, allowed: float) -> float:
        """Units to add to the allowance of ``component_type`` (0: none).

        ``allowed`` is what the machines may still make. When stock plus that is at or
        below the reorder point, order up to the ceiling."""
        limit = self.limits[component_type]
        position = len(self._stock[component_type]) + allowed
        if position <= limit.reorder:
            return limit.ceiling - position
        return 0

    def orders(self, allowed: Mapping[str, float]) -> dict[str, float]:
        """Every type's order (only those above 0), given each type's allowance left."""
        out: dict[str, float] = {}
        for component_type in self.limits:
            units = self.order(component_type, allowed.get(component_type, 0))
            if units > 0:
                out[component_type] = units
        return out
