"""What the factory looks like right now, folded from its events (pure: no Kafka).

The monitor feeds it every event it reads; it keeps the latest status of each machine,
stock per SKU, the order book (units ordered minus units assembled), recent alerts and
quality-control pass rates per widget type. :class:`RateMeter` turns end-offset
snapshots into records per second per topic: the rate at which the factory *writes*,
independent of how fast the watcher happens to read.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

from widget_factory.schemas import (
    Event,
    FactoryAlert,
    InventoryUpdate,
    MachineStatus,
    MachineTelemetry,
    ProductionOrder,
    QualityCheck,
    QualityStatus,
    WidgetAssembled,
)

__all__ = ["FactoryView", "OrderBook", "RateMeter", "QualityTally", "GroupLag"]


@dataclass(frozen=True)
class GroupLag:
    """A consumer group's lag: records written but not yet committed, by topic."""

    group: str
    total: int
    by_topic: Mapping[str, int]
    committed: bool
    """False when the group has committed nothing yet."""


@dataclass
class QualityTally:
    passed: int = 0
    failed: int = 0
    defects: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return self.passed + self.failed

    @property
    def pass_rate(self) -> float | None:
        return self.passed / self.total if self.total else None


class OrderBook:
    """Units ordered and units assembled, per order; works whichever topic is read first."""

    def __init__(self) -> None:
        self.orders: dict[str, ProductionOrder] = {}
        self.built: dict[str, int] = {}

    def add_order(self, order: ProductionOrder) -> None:
        self.orders.setdefault(order.order_id, order)

    def add_widget(self, widget: WidgetAssembled) -> None:
        if widget.order_id:
            self.built[widget.order_id] = self.built.get(widget.order_id, 0) + 1

    def waiting(self) -> dict[str, int]:
        """Widget type -> units ordered but not yet assembled."""
        result: dict[str, int] = {}
        for order_id, order in self.orders.items():
            open_units = order.quantity - self.built.get(order_id, 0)
            if open_units > 0:
                result[order.widget_type] = result.get(order.widget_type, 0) + open_units
        return result

    def open_orders(self) -> int:
        return sum(1 for o in self.orders.values() if o.quantity > self.built.get(o.order_id, 0))

    def units_waiting(self) -> int:
        return sum(self.waiting().values())


class FactoryView:
    """Latest state of the factory from its events; ``apply`` them in any order."""

    def __init__(self, *, alerts_kept: int = 8) -> None:
        self.machines: dict[str, MachineTelemetry] = {}
        self.component_stock: dict[str, int] = {}
        self.widget_stock: dict[str, int] = {}
        self.book = OrderBook()
        self.alerts: deque[FactoryAlert] = deque(maxlen=alerts_kept)
        self.quality: dict[str, QualityTally] = {}
        self.widgets: dict[str, int] = {}
        self.sim_now: float | None = None
        """Latest simulated time seen in any event (epoch seconds)."""
        self._seen_checks: set[str] = set()

    def apply(self, event: Event) -> None:
        at = event.occurred_at.timestamp()
        if not isinstance(event, ProductionOrder) and (self.sim_now is None or at > self.sim_now):
            self.sim_now = at
        if isinstance(event, MachineTelemetry):
            previous = self.machines.get(event.machine_id)
            if previous is None or event.timestamp >= previous.timestamp:
                self.machines[event.machine_id] = event
        elif isinstance(event, InventoryUpdate):
            # current_stock is the ledger's running level; all updates of a SKU share one
            # partition, in the ledger's order, so the last one read is the current level.
            target = self.component_stock if event.item_type == "component" else self.widget_stock
            target[event.sku] = event.current_stock
        elif isinstance(event, ProductionOrder):
            self.book.add_order(event)
        elif isinstance(event, WidgetAssembled):
            self.book.add_widget(event)
            self.widgets[event.widget_type] = self.widgets.get(event.widget_type, 0) + 1
        elif isinstance(event, QualityCheck):
            if event.event_id in self._seen_checks:
                return  # a re-sent check carries the same event id
            self._seen_checks.add(event.event_id)
            tally = self.quality.setdefault(event.widget_type, QualityTally())
            if event.status is QualityStatus.PASS:
                tally.passed += 1
            else:
                tally.failed += 1
                for defect in event.defects_found:
                    tally.defects[defect] = tally.defects.get(defect, 0) + 1
        elif isinstance(event, FactoryAlert):
            self.alerts.append(event)

    def status_counts(self) -> dict[MachineStatus, int]:
        counts: dict[MachineStatus, int] = {}
        for report in self.machines.values():
            counts[report.status] = counts.get(report.status, 0) + 1
        return counts

    def quality_total(self) -> QualityTally:
        total = QualityTally()
        for tally in self.quality.values():
            total.passed += tally.passed
            total.failed += tally.failed
        return total


class RateMeter:
    """Records per second per topic, from snapshots of end offsets over a sliding window.

    Only partitions present in both ends of the window count, so a partition whose end
    was not known yet at the first snapshot does not look like a burst."""

    def __init__(self, window_s: float = 5.0) -> None:
        self.window_s = window_s
        self._samples: deque[tuple[float, dict[tuple[str, int], int]]] = deque()

    def add(self, wall: float, ends: Mapping[tuple[str, int], int]) -> None:
        self._samples.append((wall, dict(ends)))
        while len(self._samples) > 2 and wall - self._samples[1][0] >= self.window_s:
            self._samples.popleft()

    def totals(self) -> dict[str, int]:
        """Records written so far (end offsets summed over partitions), per topic."""
        totals: dict[str, int] = {}
        if self._samples:
            for (topic, _partition), end in self._samples[-1][1].items():
                totals[topic] = totals.get(topic, 0) + end
        return totals

    def rate(self, topic: str) -> float | None:
        """Records written per wall second over the window; None until two samples."""
        if len(self._samples) < 2:
            return None
        (t0, first), (t1, last) = self._samples[0], self._samples[-1]
        keys = [k for k in last if k[0] == topic and k in first]
        if t1 <= t0 or not keys:
            return None
        return sum(max(0, last[k] - first[k]) for k in keys) / (t1 - t0)
