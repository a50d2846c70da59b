"""The audit: does what the topics hold satisfy every invariant of the contract?

Fed every event of ``component-production``, ``widget-assembly``, ``quality-control``
and ``inventory-updates`` (each partition in offset order), it counts what happened and
lists every violation with the ids involved. Duplicates on the wire (the same
``event_id`` twice) are counted and dropped first, as any consumer would.

Invariants (docs/contract.md): 1 every used component was produced; 2 no component is used
twice; 3 a widget's components match its recipe; 4 at the end every produced component
is in exactly one widget or in stock; 5 every widget has exactly one quality check;
6 replaying inventory-updates gives the stock levels (each ``current_stock`` equals the
previous plus ``quantity_change``, never below zero); 7 no component was produced while
its machine's telemetry (``machine-telemetry``) said it was down (core/audit_status.py).

The invariants are checked on the records that could be read. A record that could not
be read is accounted for only by its dead letter (``factory-deadletter`` headers name its
topic, partition and offset): the service that consumes it refused it on purpose. One
with no dead letter was skipped by nobody knows whom, so a pass would be hollow: the
audit is then ``inconclusive`` and lists it.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field

from widget_factory.core.audit_status import StatusHistory, produced_while_down
from widget_factory.core.ids import type_of_component
from widget_factory.schemas import (
    ComponentProduced,
    InventoryUpdate,
    MachineTelemetry,
    QualityCheck,
    QualityStatus,
    WidgetAssembled,
)

__all__ = ["Audit", "AuditReport", "Violation", "Unreadable", "INVARIANTS", "AUDIT_STATUSES"]

AUDIT_STATUSES: dict[str, int] = {"passed": 0, "failed": 1, "inconclusive": 3}
"""Each outcome and the exit status ``widget-factory audit`` gives it (2: could not run)."""

INVARIANTS: dict[int, str] = {
    1: "every component used in a widget was produced",
    2: "no component is used in more than one widget",
    3: "a widget's components match its type's recipe",
    4: "every produced component is in exactly one widget or still in stock",
    5: "every assembled widget has exactly one quality check",
    6: "replaying inventory-updates gives the current stock levels",
    7: "no component is produced while its machine's telemetry says it is down",
}

_MAX_IDS = 20
"""Ids listed per violation; the count says how many there are in all."""


@dataclass(frozen=True)
class Violation:
    invariant: int
    message: str
    ids: tuple[str, ...] = ()
    count: int = 1

    def to_dict(self) -> dict[str, object]:
        return {
            "invariant": self.invariant,
            "rule": INVARIANTS[self.invariant],
            "message": self.message,
            "count": self.count,
            "ids": list(self.ids),
        }


@dataclass(frozen=True)
class Unreadable:
    """A record of an audited topic that is not a valid event."""

    topic: str
    partition: int
    offset: int
    error: str

    @property
    def where(self) -> str:
        return f"{self.topic}[{self.partition}]@{self.offset}"

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class AuditReport:
    counts: dict[str, int] = field(default_factory=dict)
    duplicates: dict[str, int] = field(default_factory=dict)
    stock: dict[str, int] = field(default_factory=dict)
    violations: list[Violation] = field(default_factory=list)
    unreadable: int = 0
    """Records of the audited topics that are not valid events (dead-lettered or not)."""
    unaccounted: list[Unreadable] = field(default_factory=list)
    """Unreadable records without a dead letter: what makes the audit inconclusive."""
    upgraded: dict[str, int] = field(default_factory=dict)
    """Walkthrough-shaped records read, by kind of upgrade (set by the reader)."""

    @property
    def invariants_hold(self) -> bool:
        return not self.violations

    @property
    def status(self) -> str:
        """``failed`` (an invariant is broken), ``inconclusive`` (every invariant holds on
        what could be read, but an unreadable record has no dead letter) or ``passed``."""
        if self.violations:
            return "failed"
        return "inconclusive" if self.unaccounted else "passed"

    @property
    def ok(self) -> bool:
        """Passed: every invariant holds and every record is accounted for."""
        return self.status == "passed"

    @property
    def exit_status(self) -> int:
        return AUDIT_STATUSES[self.status]

    def to_dict(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "status": self.status,
            "unreadable_records": self.unreadable,
            "unaccounted_unreadable": [u.to_dict() for u in self.unaccounted],
            "upgraded_records": self.upgraded,
            "counts": self.counts,
            "duplicates_dropped": self.duplicates,
            "stock": self.stock,
            "violations": [v.to_dict() for v in self.violations],
            "invariants": {str(k): v for k, v in INVARIANTS.items()},
        }


class Audit:
    """Accumulates events, then :meth:`report` checks the invariants."""

    def __init__(self, recipes: Mapping[str, tuple[str, ...]]) -> None:
        self._recipes = recipes
        self._seen: set[str] = set()
        self.duplicates: Counter[str] = Counter()
        self.components: dict[str, str] = {}
        self._component_repeats: list[str] = []
        self.widgets: dict[str, WidgetAssembled] = {}
        self._widget_repeats: list[str] = []
        self.checks: dict[str, list[QualityCheck]] = defaultdict(list)
        self._stock_running: dict[str, int] = {}
        self._ledger_breaks: list[str] = []
        self._negative: list[str] = []
        self._ledger_items: Counter[tuple[str, str]] = Counter()
        self.updates = 0
        self._unreadable: list[Unreadable] = []
        self._dead_lettered: set[tuple[str, int, int]] = set()
        self.made_on: list[tuple[str, str, float]] = []
        self.status_history = StatusHistory()

    def add_unreadable(self, topic: str, partition: int, offset: int, error: str) -> None:
        """A record of an audited topic that could not be read as its event."""
        self._unreadable.append(Unreadable(topic, partition, offset, error))

    def add_dead_letter(self, topic: str, partition: int, offset: int) -> None:
        """A dead letter's origin (its ``source.*`` headers): accounts for that record."""
        self._dead_lettered.add((topic, partition, offset))

    def _first_time(self, topic: str, event_id: str) -> bool:
        if event_id in self._seen:
            self.duplicates[topic] += 1
            return False
        self._seen.add(event_id)
        return True

    def add_component(self, event: ComponentProduced) -> None:
        if not self._first_time("component-production", event.event_id):
            return
        if event.component_id in self.components:
            self._component_repeats.append(event.component_id)
            return
        self.components[event.component_id] = event.component_type
        self.made_on.append((event.component_id, event.machine_id, event.produced_at.timestamp()))

    def add_telemetry(self, event: MachineTelemetry) -> None:
        if self._first_time("machine-telemetry", event.event_id):
            self.status_history.add(event.machine_id, event.timestamp.timestamp(), event.status)

    def add_widget(self, event: WidgetAssembled) -> None:
        if not self._first_time("widget-assembly", event.event_id):
            return
        if event.widget_id in self.widgets:
            self._widget_repeats.append(event.widget_id)
            return
        self.widgets[event.widget_id] = event

    def add_check(self, event: QualityCheck) -> None:
        if not self._first_time("quality-control", event.event_id):
            return
        self.checks[event.widget_id].append(event)

    def add_update(self, event: InventoryUpdate) -> None:
        """Updates of one sku must arrive in their partition's order (they share a key)."""
        if not self._first_time("inventory-updates", event.event_id):
            return
        self.updates += 1
        previous = self._stock_running.get(event.sku, 0)
        if event.current_stock != previous + event.quantity_change:
            self._ledger_breaks.append(
                f"{event.sku}: {previous} {event.quantity_change:+d} recorded as {event.current_stock} ({event.event_id})"
            )
        if event.current_stock < 0:
            self._negative.append(event.event_id)
        self._stock_running[event.sku] = event.current_stock
        self._ledger_items[(event.item_id, event.reason)] += 1

    # --- the checks ----------------------------------------------------------------------

    def report(self) -> AuditReport:
        report = AuditReport()
        violations = report.violations

        def violation(invariant: int, message: str, ids: list[str]) -> None:
            if ids:
                violations.append(Violation(invariant, message, tuple(ids[:_MAX_IDS]), len(ids)))

        usage: defaultdict[str, list[str]] = defaultdict(list)
        unknown: list[str] = []
        wrong_recipe: list[str] = []
        for widget in self.widgets.values():
            for component_id in widget.component_ids:
                usage[component_id].append(widget.widget_id)
                if component_id not in self.components:
                    unknown.append(f"{component_id} in {widget.widget_id}")
            recipe = self._recipes.get(widget.widget_type)
            types = sorted(
                self.components.get(c, type_of_component(c)) for c in widget.component_ids
            )
            if recipe is None or types != sorted(recipe):
                wrong_recipe.append(widget.widget_id)
        violation(1, "components used but never produced", unknown)
        violation(1, "component ids produced more than once", self._component_repeats)
        used_twice = [f"{c} in {', '.join(w)}" for c, w in usage.items() if len(w) > 1]
        violation(2, "components used in more than one widget", used_twice)
        violation(2, "widget ids assembled more than once", self._widget_repeats)
        violation(3, "widgets whose components do not match their recipe", wrong_recipe)

        produced_by_type: Counter[str] = Counter(self.components.values())
        used_by_type: Counter[str] = Counter(
            self.components.get(c, type_of_component(c)) for c in usage if c in self.components
        )
        widgets_by_type: Counter[str] = Counter(w.widget_type for w in self.widgets.values())
        rejected_by_type: Counter[str] = Counter()
        passed = failed = 0
        uninspected: list[str] = []
        inspected_twice: list[str] = []
        for widget_id, widget in self.widgets.items():
            checks = self.checks.get(widget_id, [])
            if not checks:
                uninspected.append(widget_id)
            elif len(checks) > 1:
                inspected_twice.append(widget_id)
            if checks:
                if checks[0].status is QualityStatus.PASS:
                    passed += 1
                else:
                    failed += 1
                    rejected_by_type[widget.widget_type] += 1
        orphan_checks = [w for w in self.checks if w not in self.widgets]
        violation(5, "widgets without a quality check", uninspected)
        violation(5, "widgets with more than one distinct quality check", inspected_twice)
        violation(5, "quality checks of widgets never assembled", orphan_checks)

        # 4: what the ledger holds must account for every component not in a widget.
        stock = dict(self._stock_running)
        mismatched = []
        for sku in sorted(set(produced_by_type) | {s for s in stock if s in produced_by_type}):
            expected = produced_by_type[sku] - used_by_type[sku]
            if stock.get(sku, 0) != expected:
                mismatched.append(f"{sku}: in stock {stock.get(sku, 0)}, expected {expected}")
        for sku in sorted(widgets_by_type):
            expected = widgets_by_type[sku] - rejected_by_type[sku]
            if stock.get(sku, 0) != expected:
                mismatched.append(f"{sku}: in stock {stock.get(sku, 0)}, expected {expected}")
        violation(4, "stock levels that do not account for every unit", mismatched)
        missing_production = [
            c for c in self.components if (c, "production") not in self._ledger_items
        ]
        missing_use = [
            c
            for c in usage
            if c in self.components and (c, "assembly_consumption") not in self._ledger_items
        ]
        repeated = [
            f"{item} ({reason}) x{n}" for (item, reason), n in self._ledger_items.items() if n > 1
        ]
        violation(4, "produced components the ledger never booked", missing_production)
        violation(4, "used components the ledger never took out of stock", missing_use)
        violation(6, "movements booked more than once", repeated)
        violation(
            6,
            "updates whose current_stock is not the previous plus quantity_change",
            self._ledger_breaks,
        )
        violation(6, "updates with negative stock", self._negative)
        violation(
            7,
            "components produced while their machine was down",
            produced_while_down(self.status_history, self.made_on),
        )

        report.counts = {
            "components_produced": len(self.components),
            "components_used": sum(1 for c in usage if c in self.components),
            "components_in_stock": sum(stock.get(t, 0) for t in produced_by_type),
            "widgets_assembled": len(self.widgets),
            "widgets_inspected": passed + failed,
            "widgets_passed": passed,
            "widgets_failed": failed,
            "inventory_updates": self.updates,
        }
        report.duplicates = dict(self.duplicates)
        report.stock = dict(sorted(stock.items()))
        report.unreadable = len(self._unreadable)
        report.unaccounted = [
            u
            for u in self._unreadable
            if (u.topic, u.partition, u.offset) not in self._dead_lettered
        ]
        return report
