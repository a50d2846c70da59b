"""Production orders: the walkthrough's opening orders, and random demand over time.

Every generated order is due :func:`lead_time` after it is made: its units' assembly time
plus ``simulation.order_slack_s`` for the queue ahead of it and for components to arrive.
Demand is sized in factory.toml against the factory's capacity (:mod:`.capacity`).
"""

from __future__ import annotations

import math
import random

from widget_factory.core.clock import to_datetime
from widget_factory.core.ids import IdSource
from widget_factory.factory_config import FactoryConfig
from widget_factory.schemas import ProductionOrder

__all__ = ["OrderGenerator", "make_order", "lead_time"]


def lead_time(config: FactoryConfig, widget_type: str, quantity: int) -> float:
    """Simulated seconds from an order to its due date: ``quantity`` units of the type's
    assembly time, plus ``simulation.order_slack_s``."""
    spec = config.widget_types[widget_type]
    return quantity * spec.assembly_time_s + config.simulation.order_slack_s


def make_order(
    ids: IdSource,
    widget_type: str,
    quantity: int,
    priority: int,
    at: float,
    due_at: float | None = None,
) -> ProductionOrder:
    return ProductionOrder(
        event_id=ids.event_id(),
        order_id=ids.order_id(),
        widget_type=widget_type,
        quantity=quantity,
        priority=priority,
        created_at=to_datetime(at),
        due_at=None if due_at is None else to_datetime(due_at),
    )


class OrderGenerator:
    """Demand: the config's opening orders, then random orders about every
    ``simulation.order_interval_s`` (exponential gaps), of a random buildable type,
    ``order_quantity`` units and ``order_priority``; each due :func:`lead_time` later."""

    def __init__(
        self, config: FactoryConfig, rng: random.Random, ids: IdSource, start: float
    ) -> None:
        self._config = config
        self._rng = rng
        self._ids = ids
        self._types = sorted({w for s in config.stations for w in s.builds})
        self._next = start + self._gap()

    def _gap(self) -> float:
        return self._rng.expovariate(1.0 / self._config.simulation.order_interval_s)

    def initial_orders(self, at: float) -> list[ProductionOrder]:
        return [
            self._order(spec.widget_type, spec.quantity, spec.priority, at)
            for spec in self._config.assembly.initial_orders
        ]

    def _order(self, widget_type: str, quantity: int, priority: int, at: float) -> ProductionOrder:
        due = at + lead_time(self._config, widget_type, quantity)
        return make_order(self._ids, widget_type, quantity, priority, at, due)

    def next_time(self) -> float:
        return self._next if self._types else math.inf

    def orders_until(self, now: float) -> list[ProductionOrder]:
        orders: list[ProductionOrder] = []
        sim = self._config.simulation
        while self._types and self._next <= now:
            orders.append(
                self._order(
                    self._rng.choice(self._types),
                    self._rng.randint(*sim.order_quantity),
                    self._rng.randint(*sim.order_priority),
                    self._next,
                )
            )
            self._next += self._gap()
        return orders
