"""Well-formed events a consuming service still refuses, and why.

A record can decode into a valid event and still be poison: its key names another item
than its value (it sits in the wrong partition, so ordering per item breaks), its time
is years away from anything the factory is doing, or it reuses the ``event_id`` of an
event already read with different facts (two events claim one identity; which one is
true cannot be known). Consumers dead-letter these (docs/contract.md, "Dead letters").

Repeats are not poison: an event read again with the same facts (a producer's retry,
a re-emission after a crash) is a duplicate, dropped as before. What counts as "the
same facts" is what consumers act on (:func:`facts`), not every byte: a quality check
emitted again after a crash keeps its ``event_id`` and verdict while its inspector or
time may differ.
"""

from __future__ import annotations

import sys
from collections.abc import Collection
from enum import Enum
from typing import Final

from widget_factory.core.recent import RecentKeys
from widget_factory.schemas import (
    ComponentProduced,
    Event,
    FactoryCommand,
    ProductionOrder,
    QualityCheck,
    WidgetAssembled,
    encode,
)

__all__ = ["Seen", "EventMemory", "facts", "misfit", "TIME_HORIZON_S"]

TIME_HORIZON_S: Final = 366 * 24 * 3600.0
"""An event time further than this from both the consumer's clock and the record's own
timestamp is refused: a year and a day, far beyond any run's span or clock skew."""


class Seen(Enum):
    """How an event's ``event_id`` relates to what a consumer read before."""

    NEW = "new"
    REPEAT = "repeat"
    """Read before with the same facts: a duplicate, dropped."""
    CONFLICT = "conflict"
    """Read before with different facts: dead-lettered as a conflicting duplicate."""


def facts(event: Event) -> object:
    """What consumers act on, for comparing two events under one ``event_id``.

    Kept for tens of thousands of events, so type names are interned: one string per
    type instead of one per event (a decoder makes a new one for every record)."""
    if isinstance(event, ComponentProduced):
        return (event.component_id, sys.intern(event.component_type))
    if isinstance(event, WidgetAssembled):
        return (event.widget_id, sys.intern(event.widget_type), tuple(event.component_ids))
    if isinstance(event, QualityCheck):
        return (event.widget_id, sys.intern(event.widget_type), event.status)
    if isinstance(event, ProductionOrder):
        return (event.order_id, event.widget_type, event.quantity)
    if isinstance(event, FactoryCommand):
        return (event.command, event.target_id)
    return encode(event)


class EventMemory:
    """The facts of the last ``capacity`` event ids read, to tell repeats from conflicts.

    Bounded: an id older than that is forgotten and would read as new (repeats come
    within seconds; the ledger and downstream consumers still drop them by id)."""

    def __init__(self, capacity: int = 50_000) -> None:
        self._facts: RecentKeys[object] = RecentKeys(capacity)

    def __len__(self) -> int:
        return len(self._facts)

    def check(self, event: Event) -> Seen:
        """Classify ``event``; a new one is remembered, a conflict is not (the first
        version stays the true one)."""
        known = self._facts.get(event.event_id)
        these = facts(event)
        if known is None:
            self._facts.remember(event.event_id, these)
            return Seen.NEW
        return Seen.REPEAT if known == these else Seen.CONFLICT


def _unknown_type(
    event: Event, component_types: Collection[str], widget_types: Collection[str]
) -> str | None:
    if isinstance(event, ComponentProduced) and event.component_type not in component_types:
        return f"unknown component type {event.component_type!r} - at `$.component_type`"
    if (
        isinstance(event, WidgetAssembled | QualityCheck | ProductionOrder)
        and event.widget_type not in widget_types
    ):
        return f"unknown widget type {event.widget_type!r} - at `$.widget_type`"
    return None


def misfit(
    event: Event,
    key: bytes | None,
    *,
    now: float,
    record_time: float | None,
    horizon: float = TIME_HORIZON_S,
    component_types: Collection[str] | None = None,
    widget_types: Collection[str] | None = None,
) -> str | None:
    """Why a decoded ``event`` read under ``key`` is refused, or None when it fits.

    ``now`` is the consumer's clock (simulated epoch seconds); ``record_time`` the
    record's own timestamp (our producers set it to the event's time), if it has one.
    A record without a key is not checked for one. ``component_types`` and
    ``widget_types``, when given, are the configuration's: other types are unknown
    enum values (the schema admits any well-formed name, configuration may add types)."""
    if component_types is not None and widget_types is not None:
        unknown = _unknown_type(event, component_types, widget_types)
        if unknown is not None:
            return unknown
    if key is not None and key != event.kafka_key.encode():
        shown = key[:80].decode(errors="replace")
        return f"key {shown!r} disagrees with the value's {event.kafka_key!r}"
    at = event.occurred_at.timestamp()
    references = [now] if record_time is None else [now, record_time]
    if min(abs(at - r) for r in references) > horizon:
        return (
            f"event time {event.occurred_at.isoformat()} is more than a year from the "
            "consumer's clock and the record's timestamp"
        )
    return None
