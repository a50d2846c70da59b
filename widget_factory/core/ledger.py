"""The inventory ledger: production, assembly and quality events become stock movements.

The inventory service feeds this ledger the events of three topics and publishes what
it returns on ``inventory-updates`` (docs/contract.md's InventoryUpdate): one signed
movement per unit, with ``current_stock`` = the stock of that ``sku`` after it, so a
consumer replaying the topic from the beginning arrives at the current stock levels.

Movements (``reason``):

- ``production``: a component enters stock (+1 on its type);
- ``assembly_consumption``: a widget used a component (-1 on the component's type);
- ``assembly``: a widget enters stock (+1 on its type), after its consumptions;
- ``quality_reject``: a widget failed its quality check (-1 on its type).

The three topics are read independently, so events arrive in any order, twice, or
again after a restart. The ledger therefore

- **defers** a movement that would remove a unit it has not seen enter stock yet (a
  widget read before its components, a failed check read before its widget), and
  emits it right after the unit's arrival; the ``source`` of a deferring event (an
  opaque token such as ``(topic, partition, offset)``) is reported by
  :meth:`InventoryLedger.pending_sources` until then, so the service never commits
  past an event whose movements are not yet written;
- **drops duplicates**: an event seen before (same ``event_id``) and a movement
  recorded before (same item and reason) change nothing. Every movement's
  ``event_id`` is derived from its item and reason, so a re-emission keeps its id;
- **never goes below zero**: a component claimed by two widgets is consumed once; the
  second claim is skipped and described in :attr:`InventoryLedger.conflicts`;
- **restarts** from its own topic: :meth:`InventoryLedger.restore` re-applies the
  recorded movements, whose ``current_stock`` is authoritative.

Memory stays bounded: units in stock are kept (they are needed to consume them), and
of the units that left stock and of the events seen, only the most recent
``recent_capacity`` ids, which is plenty to recognise retries and replays.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

from widget_factory.core.ids import event_id_from
from widget_factory.core.recent import RecentKeys
from widget_factory.schemas import (
    ComponentProduced,
    InventoryUpdate,
    QualityCheck,
    QualityStatus,
    WidgetAssembled,
)

__all__ = [
    "REASON_PRODUCTION",
    "REASON_CONSUMPTION",
    "REASON_ASSEMBLY",
    "REASON_REJECT",
    "MAX_CONFLICTS",
    "InventoryLedger",
    "component_type_of",
    "movement_event_id",
]

REASON_PRODUCTION: Final = "production"
REASON_CONSUMPTION: Final = "assembly_consumption"
REASON_ASSEMBLY: Final = "assembly"
REASON_REJECT: Final = "quality_reject"

MAX_CONFLICTS: Final = 1000
"""At most this many conflict messages are kept (the oldest go first)."""

ItemType = Literal["component", "widget"]


def component_type_of(component_id: str) -> str:
    """The component type (the ``sku``) named by a component id:
    ``COMP_METAL_FRAME_a1b2c3d4`` -> ``metal_frame``. Raises ``ValueError`` otherwise."""
    if component_id.startswith("COMP_"):
        body, sep, suffix = component_id[5:].rpartition("_")
        if sep and body and suffix:
            return body.lower()
    raise ValueError(f"not a component id of the form COMP_<TYPE>_<hex>: {component_id!r}")


def movement_event_id(item_id: str, reason: str) -> str:
    """The ``event_id`` of the one movement of ``item_id`` for ``reason``: deterministic,
    so a movement written again after a crash carries the same id."""
    return event_id_from("inventory", item_id, reason)


@dataclass(slots=True)
class _Deferred:
    """A removal waiting for its unit to enter stock."""

    owner: str
    """The widget consuming the component, or the check rejecting the widget."""
    batch_id: str
    updated_at: datetime
    source: Hashable


class InventoryLedger:
    """Stock per ``sku`` and the state of every unit; see the module docstring.

    ``warehouse`` is written as every update's ``warehouse_location``;
    ``recent_capacity`` bounds the ids remembered of units that left stock and of events
    seen (per kind), for dropping duplicates.
    """

    def __init__(self, warehouse: str, recent_capacity: int = 50_000) -> None:
        if recent_capacity < 1:
            raise ValueError(f"recent_capacity must be at least 1, got {recent_capacity}")
        self.warehouse = warehouse
        self.recent_capacity = recent_capacity
        self.conflicts: list[str] = []
        """Upstream inconsistencies the ledger refused to book (newest last)."""
        self.duplicates = 0
        """Events and movements dropped because they were already recorded."""
        self._stock: dict[str, int] = {}
        self._components: set[str] = set()  # in stock
        self._consumed: RecentKeys[str | None] = RecentKeys(
            recent_capacity
        )  # id -> widget (None: unknown)
        self._widgets: dict[str, str] = {}  # in stock: id -> sku
        self._removed: RecentKeys[str | None] = RecentKeys(
            recent_capacity
        )  # widgets that left stock
        self._seen: RecentKeys[str | None] = RecentKeys(recent_capacity)  # input event ids
        self._awaiting_component: dict[str, _Deferred] = {}  # consumption before production
        self._awaiting_widget: dict[str, _Deferred] = {}  # reject before assembly
        self._sources: dict[Hashable, int] = {}  # source -> deferred movements holding it

    # --- queries ----------------------------------------------------------------------

    def stock(self) -> dict[str, int]:
        """sku -> units in stock now (a copy; skus never moved are absent)."""
        return dict(self._stock)

    def pending_sources(self) -> set[Hashable]:
        """Sources of events with movements still deferred: do not commit past them."""
        return set(self._sources)

    @property
    def deferred(self) -> int:
        """Movements waiting for their unit to enter stock."""
        return len(self._awaiting_component) + len(self._awaiting_widget)

    def take_conflicts(self) -> list[str]:
        """The conflict messages recorded since the last call (for the service's log)."""
        taken, self.conflicts = self.conflicts, []
        return taken

    # --- events -----------------------------------------------------------------------

    def on_component(
        self, event: ComponentProduced, source: Hashable = None
    ) -> list[InventoryUpdate]:
        """A produced component enters stock, then any consumption that waited for it."""
        if not self._first_time(event.event_id):
            return []
        component_id = event.component_id
        if component_id in self._components or component_id in self._consumed:
            self.duplicates += 1
            return []
        sku = component_type_of(component_id)
        if sku != event.component_type:
            self._conflict(
                f"component {component_id} says it is a {event.component_type!r}; "
                f"booked as {sku!r}, the type its id names"
            )
        out: list[InventoryUpdate] = []
        self._book(
            out,
            "component",
            sku,
            component_id,
            1,
            REASON_PRODUCTION,
            event.batch_id,
            event.produced_at,
        )
        self._components.add(component_id)
        waiting = self._awaiting_component.pop(component_id, None)
        if waiting is not None:
            self._release(waiting.source)
            self._consume(
                out, component_id, sku, waiting.owner, waiting.batch_id, waiting.updated_at
            )
        return out

    def on_widget(self, event: WidgetAssembled, source: Hashable = None) -> list[InventoryUpdate]:
        """An assembled widget consumes its components, enters stock, and is rejected
        right away if its failed check came first."""
        if not self._first_time(event.event_id):
            return []
        widget_id = event.widget_id
        at = event.assembly_completed_at
        out: list[InventoryUpdate] = []
        for component_id in event.component_ids:
            self._claim(out, component_id, widget_id, event.batch_id, at, source)
        if widget_id in self._widgets or widget_id in self._removed:
            self.duplicates += 1
            return out
        sku = event.widget_type
        if self._book(out, "widget", sku, widget_id, 1, REASON_ASSEMBLY, event.batch_id, at):
            self._widgets[widget_id] = sku
        waiting = self._awaiting_widget.pop(widget_id, None)
        if waiting is not None:
            self._release(waiting.source)
            self._reject(out, widget_id, sku, waiting.batch_id, waiting.updated_at)
        return out

    def on_quality(self, event: QualityCheck, source: Hashable = None) -> list[InventoryUpdate]:
        """A failed check takes its widget out of stock (deferred until the widget is
        seen); a passed check moves nothing."""
        if not self._first_time(event.event_id) or event.status != QualityStatus.FAIL:
            return []
        widget_id = event.widget_id
        out: list[InventoryUpdate] = []
        sku = self._widgets.get(widget_id)
        if sku is not None:
            if sku != event.widget_type:
                self._conflict(
                    f"check {event.check_id} calls {widget_id} a {event.widget_type!r}; "
                    f"it was assembled as {sku!r}"
                )
            self._reject(out, widget_id, sku, event.check_id, event.checked_at)
        elif widget_id in self._removed or widget_id in self._awaiting_widget:
            self.duplicates += 1
        else:
            self._defer(
                self._awaiting_widget,
                widget_id,
                event.check_id,
                event.check_id,
                event.checked_at,
                source,
            )
        return out

    def restore(self, update: InventoryUpdate) -> None:
        """Re-apply one update of the ledger's own topic, read from the beginning after a
        restart (before any new event). Its ``current_stock`` is authoritative for its
        ``sku``; records seen twice are ignored. Consumers of restored components are
        unknown, so a widget claiming one later counts as a duplicate, not a conflict."""
        item_id = update.item_id
        change = update.quantity_change
        if update.item_type == "component":
            if change > 0:
                if item_id in self._components or item_id in self._consumed:
                    return
                self._components.add(item_id)
            elif change < 0:
                if item_id in self._consumed:
                    return
                self._components.discard(item_id)
                self._consumed.remember(item_id, None)
        elif change > 0:
            if item_id in self._widgets or item_id in self._removed:
                return
            self._widgets[item_id] = update.sku
        elif change < 0:
            if item_id in self._removed:
                return
            self._widgets.pop(item_id, None)
            self._removed.remember(item_id, None)
        self._stock[update.sku] = update.current_stock

    def expire_deferred(self, before: float) -> list[str]:
        """Give up on deferred movements of events older than ``before`` (simulated epoch
        seconds): their unit never arrived (an upstream bug, or its record expired).
        Frees their sources for committing; returns (and records as conflicts) one
        message per movement dropped."""
        messages: list[str] = []
        for awaiting, what in (
            (self._awaiting_component, "consumption of component"),
            (self._awaiting_widget, "reject of widget"),
        ):
            stale = [key for key, d in awaiting.items() if d.updated_at.timestamp() < before]
            for key in stale:
                waiting = awaiting.pop(key)
                self._release(waiting.source)
                message = f"gave up the {what} {key} by {waiting.owner}: it never entered stock"
                messages.append(message)
                self._conflict(message)
        return messages

    # --- internals --------------------------------------------------------------------

    def _first_time(self, event_id: str) -> bool:
        if event_id in self._seen:
            self.duplicates += 1
            return False
        self._seen.remember(event_id, None)
        return True

    def _conflict(self, message: str) -> None:
        if len(self.conflicts) >= MAX_CONFLICTS:
            del self.conflicts[0]
        self.conflicts.append(message)

    def _book(
        self,
        out: list[InventoryUpdate],
        item_type: ItemType,
        sku: str,
        item_id: str,
        change: int,
        reason: str,
        batch_id: str,
        at: datetime,
    ) -> bool:
        """Append the movement to ``out``; refuse it (False) if it would go below zero."""
        stock = self._stock.get(sku, 0) + change
        if stock < 0:
            self._conflict(f"{reason} of {item_id} would take {sku} below zero; skipped")
            return False
        self._stock[sku] = stock
        out.append(
            InventoryUpdate(
                event_id=movement_event_id(item_id, reason),
                item_type=item_type,
                sku=sku,
                item_id=item_id,
                warehouse_location=self.warehouse,
                quantity_change=change,
                current_stock=stock,
                updated_at=at,
                reason=reason,
                batch_id=batch_id,
            )
        )
        return True

    def _consume(
        self,
        out: list[InventoryUpdate],
        component_id: str,
        sku: str,
        widget_id: str,
        batch_id: str,
        at: datetime,
    ) -> None:
        if self._book(out, "component", sku, component_id, -1, REASON_CONSUMPTION, batch_id, at):
            self._components.discard(component_id)
            self._consumed.remember(component_id, widget_id)

    def _claim(
        self,
        out: list[InventoryUpdate],
        component_id: str,
        widget_id: str,
        batch_id: str,
        at: datetime,
        source: Hashable,
    ) -> None:
        """Widget ``widget_id`` used ``component_id``: consume it, or wait for it."""
        if component_id in self._components:
            self._consume(
                out, component_id, component_type_of(component_id), widget_id, batch_id, at
            )
            return
        if component_id in self._consumed:
            consumer = self._consumed[component_id]
            if consumer is None or consumer == widget_id:
                self.duplicates += 1
            else:
                self._conflict(
                    f"widget {widget_id} uses component {component_id}, already consumed "
                    f"by {consumer}; second consumption skipped"
                )
            return
        waiting = self._awaiting_component.get(component_id)
        if waiting is None:
            self._defer(self._awaiting_component, component_id, widget_id, batch_id, at, source)
        elif waiting.owner == widget_id:
            self.duplicates += 1
        else:
            self._conflict(
                f"widget {widget_id} uses component {component_id}, already claimed "
                f"by {waiting.owner}; second consumption skipped"
            )

    def _reject(
        self, out: list[InventoryUpdate], widget_id: str, sku: str, check_id: str, at: datetime
    ) -> None:
        if self._book(out, "widget", sku, widget_id, -1, REASON_REJECT, check_id, at):
            self._widgets.pop(widget_id, None)
            self._removed.remember(widget_id, check_id)

    def _defer(
        self,
        awaiting: dict[str, _Deferred],
        item_id: str,
        owner: str,
        batch_id: str,
        at: datetime,
        source: Hashable,
    ) -> None:
        awaiting[item_id] = _Deferred(owner, batch_id, at, source)
        if source is not None:
            self._sources[source] = self._sources.get(source, 0) + 1

    def _release(self, source: Hashable) -> None:
        if source is None:
            return
        left = self._sources[source] - 1
        if left:
            self._sources[source] = left
        else:
            del self._sources[source]
