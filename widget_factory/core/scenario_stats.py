"""What a scenario run showed: its events folded into series by simulated time.

Pure: the scenario runner feeds it the events it reads (and lag samples it takes);
times are simulated seconds since the scenario's start, so phases are cut on event
time, not on when a record happened to be read. The metrics measured from these series
(names in :data:`widget_factory.core.scenario_plan.METRICS`) and the expectation checks
are in :mod:`widget_factory.core.scenario_checks`; the text reports in
:mod:`widget_factory.core.scenario_report`.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from widget_factory.core.scenario_checks import Selector, measure
from widget_factory.core.scenario_plan import Phase
from widget_factory.factory_config import FactoryConfig
from widget_factory.schemas import (
    ComponentProduced,
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

__all__ = ["Observations", "BuiltWidget"]

_DOWN = {MachineStatus.ERROR, MachineStatus.MAINTENANCE, MachineStatus.SHUTDOWN}


@dataclass(frozen=True)
class BuiltWidget:
    """A widget seen assembled: when (simulated seconds since the start), what, how long."""

    t: float
    widget_type: str
    duration: float
    order_id: str | None
    component_defects: int
    degraded_components: int = 0


class Observations:
    """Everything a scenario run produced, by simulated time since its start."""

    def __init__(
        self, start: float, duration: float, config: FactoryConfig, settle: float = 0.0
    ) -> None:
        self.start = start
        self.duration = duration
        self.config = config
        self.settle = settle
        """Simulated seconds at the start of each phase left out of its rates: a command
        takes a moment to travel through Kafka and take effect."""
        self._seen: set[str] = set()
        self.components: list[tuple[float, str]] = []
        self.widgets: dict[str, BuiltWidget] = {}
        self.checks: list[tuple[float, str, bool, tuple[str, ...], str]] = []
        self.stock: dict[str, list[tuple[float, int]]] = {}
        """Per component SKU, (time, level after the movements up to then), by event time:
        rebuilt from ``quantity_change`` sorted by event time, since the ledger's running
        ``current_stock`` follows processing order (in virtual time that is not time order)."""
        self._changes: dict[str, list[tuple[float, int]]] = {}
        self._stock_base: dict[str, int] = {}
        self.orders: dict[str, tuple[float, str, int]] = {}
        self.alerts: list[tuple[float, str, str]] = []
        self.telemetry: dict[str, list[tuple[float, MachineStatus, float]]] = {}
        self.lag: dict[str, list[tuple[float, int]]] = {}
        self.late_reports: list[float] = []
        """Times of telemetry reports read after a newer one of their machine (sent late:
        a machine's reports share a partition, so they are read in the order sent)."""
        self._newest_report: dict[str, float] = {}

    # --- input ---------------------------------------------------------------------------

    def add(self, event: Event) -> None:
        if event.event_id in self._seen:
            return
        self._seen.add(event.event_id)
        t = event.occurred_at.timestamp() - self.start
        if isinstance(event, ComponentProduced):
            self.components.append((t, event.component_type))
        elif isinstance(event, WidgetAssembled):
            self.widgets[event.widget_id] = BuiltWidget(
                t,
                event.widget_type,
                event.assembly_duration_seconds,
                event.order_id,
                event.component_defects,
                sum(f.made_while_degraded for f in event.component_flaws),
            )
        elif isinstance(event, QualityCheck):
            self.checks.append(
                (
                    t,
                    event.widget_type,
                    event.status is QualityStatus.PASS,
                    tuple(event.defects_found),
                    event.widget_id,
                )
            )
        elif isinstance(event, InventoryUpdate):
            if event.item_type == "component":
                if event.sku not in self._stock_base:
                    # The level before the first movement seen (0 on a fresh cluster).
                    self._stock_base[event.sku] = event.current_stock - event.quantity_change
                self._changes.setdefault(event.sku, []).append((t, event.quantity_change))
        elif isinstance(event, ProductionOrder):
            self.orders[event.order_id] = (t, event.widget_type, event.quantity)
        elif isinstance(event, FactoryAlert):
            self.alerts.append((t, event.kind, event.source_id))
        elif isinstance(event, MachineTelemetry):
            self.telemetry.setdefault(event.machine_id, []).append(
                (t, event.status, event.metrics.efficiency_percent)
            )
            newest = self._newest_report.get(event.machine_id, -math.inf)
            if t < newest:
                self.late_reports.append(t)
            else:
                self._newest_report[event.machine_id] = t

    def add_lag(self, t: float, group: str, total: int) -> None:
        self.lag.setdefault(group, []).append((t, total))

    def finish(self) -> None:
        """Sort every series by time (records of different partitions interleave)."""
        self.components.sort()
        self.checks.sort()
        self.stock = {}
        for sku, changes in self._changes.items():
            level = self._stock_base.get(sku, 0)
            levels: list[tuple[float, int]] = []
            for t, change in sorted(changes, key=lambda item: item[0]):
                level += change
                levels.append((t, level))
            self.stock[sku] = levels
        for reports in self.telemetry.values():
            reports.sort(key=lambda item: item[0])
        for samples in self.lag.values():
            samples.sort(key=lambda item: item[0])
        self.alerts.sort()

    # --- helpers -------------------------------------------------------------------------

    def rate_window(self, phase: Phase) -> tuple[Phase, float]:
        """The part of the phase rates are counted over, and its length in hours: from
        ``settle`` after its start to its end or the end of production, whichever is
        first (what finishes while the factory drains is in the totals, not the rates)."""
        end = min(phase.end, self.duration)
        window = Phase(phase.label, min(phase.start + self.settle, end), end)
        return window, max(0.0, window.end - window.start) / 3600.0

    @staticmethod
    def within(t: float, phase: Phase) -> bool:
        return phase.start <= t < phase.end

    def end_of(self, phase: Phase) -> float:
        """The last moment of the phase (its end is exclusive: a step at the boundary
        belongs to the next phase)."""
        return self.duration if math.isinf(phase.end) else phase.end - 1e-3

    def stock_at(self, t: float, sku: str | None) -> int:
        skus = [sku] if sku else list(self.stock)
        total = 0
        for name in skus:
            series = self.stock.get(name, [])
            index = bisect.bisect_right(series, t, key=lambda item: item[0])
            if index:
                total += series[index - 1][1]
        return total

    def scarcest_at(self, t: float) -> tuple[str, int] | None:
        """The component with the least stock at ``t`` (name, units), if any moved."""
        levels = [(self.stock_at(t, sku), sku) for sku in self.stock]
        if not levels:
            return None
        units, sku = min(levels)
        return sku, units

    def waiting_at(self, t: float) -> int:
        built: dict[str, int] = {}
        for widget in self.widgets.values():
            if widget.order_id in self.orders and widget.t <= t:
                built[widget.order_id] = built.get(widget.order_id, 0) + 1
        return sum(
            max(0, quantity - built.get(order_id, 0))
            for order_id, (created, _type, quantity) in self.orders.items()
            if created <= t
        )

    def extremes(
        self, phase: Phase, times: Iterable[float], value_at: Callable[[float], int]
    ) -> list[int]:
        """``value_at`` at the phase start, at every time of ``times`` within the phase
        (where the value can change) and at its end."""
        moments = [phase.start] + sorted(t for t in times if self.within(t, phase))
        moments.append(self.end_of(phase))
        return [value_at(t) for t in moments]

    def pass_rate(self, phase: Phase, widget_type: str | None, defects: str | None) -> float | None:
        """Checks of the widgets *built* in the phase (by the check's time when the widget
        was not seen): quality belongs to when a widget was made, not when it was checked."""
        passed = total = 0
        for t, kind, ok, _found, widget_id in self.checks:
            widget = self.widgets.get(widget_id)
            if not self.within(widget.t if widget else t, phase) or widget_type not in (
                None,
                kind,
            ):
                continue
            if defects is not None:
                if widget is None:
                    continue
                if defects in ("degraded", "healthy"):
                    if (widget.degraded_components > 0) != (defects == "degraded"):
                        continue
                elif (widget.component_defects > 0) != (defects == "some"):
                    continue
            total += 1
            passed += ok
        return passed / total if total else None

    def down_at(self, t: float) -> int:
        down = 0
        for series in self.telemetry.values():
            index = bisect.bisect_right(series, t, key=lambda item: item[0])
            if index and series[index - 1][1] in _DOWN:
                down += 1
        return down

    # --- metrics -------------------------------------------------------------------------

    def metric(self, name: str, phase: Phase, selector: Selector) -> float | None:
        """The metric ``name`` over ``phase`` (see :func:`scenario_checks.measure`)."""
        return measure(self, name, phase, selector)
