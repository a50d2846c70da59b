"""Reading the walkthrough's event shapes: upgrades applied on read, and their tally.

The walkthrough's own producers write the contract's field names with no envelope
(no ``event_id``, ``event_type``, ``schema_version``), naive local times from
``datetime.now().isoformat()``, and quality checks without ``widget_type``. Those are
valid walkthrough events, so :func:`widget_factory.schemas.decode_as` reads them after
:func:`upgrade_document` fills what they lack; it is reached only when the fast, strict
decode has already failed, so our own events pay nothing for it.

A record counts as walkthrough-shaped only when it carries **none** of the envelope's
fields: an event with an envelope promised our contract (UTC times, every field), and
one that breaks it is still refused, as before.

The derived ``event_id`` is a version 5 UUID of the event type (which the topic names,
one to one) and the record's value bytes. Re-reading the same record gives the same id,
and a duplicate of a record (a producer's retry, a second send of the same event) has
the same bytes, hence the same id, so every consumer's deduplication drops it. An id
from the entity and its time (``component_id`` + ``produced_at``) would also be stable,
but would merge two different telemetry readings that share a machine and a timestamp;
the key adds nothing, being the entity id already in the value.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, datetime
from hashlib import sha1
from typing import Any, Final

import msgspec

from widget_factory.core.ids import NAMESPACE
from widget_factory.schema_types import SchemaError, decode_error

__all__ = [
    "ENVELOPE",
    "TOPIC_EVENT_TYPES",
    "NO_ENVELOPE",
    "NAIVE_TIMES",
    "WIDGET_TYPE_FROM_ID",
    "UPGRADE_KINDS",
    "derived_event_id",
    "widget_type_of",
    "upgrade_document",
    "read_upgraded",
    "read_upgraded_or_refuse",
    "ReadUpgrades",
    "read_notes",
    "SkippedRecords",
]

ENVELOPE: Final = ("event_id", "event_type", "schema_version")

TOPIC_EVENT_TYPES: Final[dict[str, str]] = {
    "component-production": "component_produced",
    "widget-assembly": "widget_assembled",
    "quality-control": "quality_check",
    "machine-telemetry": "machine_telemetry",
    "inventory-updates": "inventory_update",
    "production-orders": "production_order",
    "factory-alerts": "factory_alert",
    "factory-commands": "factory_command",
    "factory-metrics": "factory_metric",
}
"""The event type each topic carries (docs/contract.md's table): what a record without
``event_type`` is read as."""

NO_ENVELOPE: Final = "no envelope: event_id derived"
NAIVE_TIMES: Final = "naive times read as UTC"
WIDGET_TYPE_FROM_ID: Final = "widget_type taken from widget_id"
UPGRADE_KINDS: Final = (NO_ENVELOPE, NAIVE_TIMES, WIDGET_TYPE_FROM_ID)

_TIME_FIELDS: Final[dict[str, tuple[str, ...]]] = {
    "component_produced": ("produced_at",),
    "widget_assembled": ("assembly_started_at", "assembly_completed_at"),
    "quality_check": ("checked_at",),
    "machine_telemetry": ("timestamp",),
    "inventory_update": ("updated_at",),
    "production_order": ("created_at",),
    "factory_alert": ("raised_at",),
    "factory_command": ("issued_at",),
    "factory_metric": ("window_start", "window_end"),
}

_NAMESPACE_BYTES: Final = NAMESPACE.bytes
_UUID5_CLEAR: Final = 0xFFFFFFFF_FFFF_0FFF_3FFF_FFFFFFFFFFFF
_UUID5_SET: Final = 0x00000000_0000_5000_8000_000000000000


def derived_event_id(event_type: str, value: bytes | str) -> str:
    """The ``event_id`` of a record without one: a UUIDv5 of its event type and bytes."""
    raw = value.encode() if isinstance(value, str) else value
    digest = sha1(_NAMESPACE_BYTES + event_type.encode() + b"\x00" + raw).digest()
    h = (int.from_bytes(digest[:16]) & _UUID5_CLEAR | _UUID5_SET).to_bytes(16).hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def widget_type_of(widget_id: object) -> str | None:
    """``basic_widget`` from ``WIDGET_BASIC_WIDGET_1a2b3c4d``; None for anything else."""
    if not isinstance(widget_id, str) or not widget_id.startswith("WIDGET_"):
        return None
    head, _, suffix = widget_id.rpartition("_")
    name = head[len("WIDGET_") :].lower()
    return name if name and suffix else None


def _as_utc(value: object) -> str | None:
    """``value`` with ``+00:00`` when it is a naive ISO time; None when it needs nothing."""
    if not isinstance(value, str):
        return None
    if (
        (len(value) == 19 or (len(value) == 26 and value[20:].isdigit()))
        and value[10] == "T"
        and value[13] == value[16] == ":"
    ):
        return value + "+00:00"  # isoformat()'s own naive shape: validation parses it next
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None  # left for validation to name
    if moment.tzinfo is not None:
        return None
    return moment.replace(tzinfo=UTC).isoformat()


def upgrade_document(
    document: dict[str, Any], event_type: str, value: bytes | str
) -> tuple[str, ...] | None:
    """Fill, in place, what a walkthrough-shaped ``document`` of ``event_type`` lacks.

    Returns the kinds of upgrade applied (:data:`UPGRADE_KINDS`), or None when the
    document carries any envelope field: then it is ours, and is not touched.
    """
    if "event_id" in document or "event_type" in document or "schema_version" in document:
        return None
    document["event_id"] = derived_event_id(event_type, value)
    document["event_type"] = event_type
    document["schema_version"] = 1
    kinds = [NO_ENVELOPE]
    naive = False
    for name in _TIME_FIELDS.get(event_type, ()):
        utc = _as_utc(document.get(name))
        if utc is not None:
            document[name] = utc
            naive = True
    if naive:
        kinds.append(NAIVE_TIMES)
    if event_type == "quality_check" and "widget_type" not in document:
        widget_type = widget_type_of(document.get("widget_id"))
        if widget_type is not None:
            document["widget_type"] = widget_type
            kinds.append(WIDGET_TYPE_FROM_ID)
    return tuple(kinds)


_object_decoder = msgspec.json.Decoder(dict[str, Any])


def read_upgraded(
    data: bytes | str,
    event_type: str | None,
    target: Any,
    topic: str,
    upgrades: ReadUpgrades | None,
) -> Any:
    """A walkthrough-shaped record of ``event_type`` upgraded and converted to ``target``.

    None when the record is not walkthrough-shaped (not a JSON object, or it carries an
    envelope field) or its type is unknown; ``msgspec.ValidationError`` when it is, but
    is still not a valid event. Counted in ``upgrades`` under ``topic``. Reached only
    after the strict decode failed, so our own events never pay for it."""
    if event_type is None:
        return None
    try:
        document = _object_decoder.decode(data)
    except msgspec.DecodeError:
        return None
    kinds = upgrade_document(document, event_type, data)
    if kinds is None:
        return None
    event = msgspec.convert(document, target)
    if upgrades is not None:
        upgrades.record(topic or event_type, kinds)
    return event


def read_upgraded_or_refuse(
    data: bytes | str,
    event_type: str | None,
    target: Any,
    topic: str,
    upgrades: ReadUpgrades | None,
    exc: Exception,
) -> Any:
    """:func:`read_upgraded`, or else the strict decode's error ``exc`` as a
    :class:`~widget_factory.schema_types.SchemaError`."""
    try:
        event = read_upgraded(data, event_type, target, topic, upgrades)
    except (msgspec.ValidationError, ValueError) as again:
        raise SchemaError(f"walkthrough-shaped record, still not readable: {again}") from None
    if event is None:
        raise decode_error(data, exc) from None
    return event


class ReadUpgrades:
    """What one service upgraded on read: counts per kind, one log line per source.

    The first upgrade of each kind from a source (a topic) is logged, naming what was
    done; the rest are only counted, and :meth:`describe` puts the counts in the
    service's summaries.
    """

    def __init__(self, log: logging.Logger) -> None:
        self._log = log
        self.records = 0
        self.kinds: Counter[str] = Counter()
        self._announced: dict[str, set[str]] = {}

    def record(self, source: str, kinds: tuple[str, ...]) -> None:
        self.records += 1
        self.kinds.update(kinds)
        announced = self._announced.setdefault(source, set())
        new = [kind for kind in kinds if kind not in announced]
        if new:
            announced.update(new)
            self._log.info(
                "%s: reading walkthrough-shaped events (%s) - further upgrades counted",
                source,
                "; ".join(new),
            )

    def describe(self) -> str:
        """``13 walkthrough-shaped records upgraded (no envelope ... 13, ...)``, or ''."""
        if not self.records:
            return ""
        detail = ", ".join(
            f"{kind} {self.kinds[kind]}" for kind in UPGRADE_KINDS if kind in self.kinds
        )
        return f"{self.records} walkthrough-shaped records upgraded ({detail})"

    def to_dict(self) -> dict[str, int]:
        return {"records": self.records, **{k: self.kinds[k] for k in UPGRADE_KINDS}}


def read_notes(upgrades: ReadUpgrades, dead_lettered: int) -> str:
    """What a service's summary line adds about its input, e.g. ``; 13 walkthrough-shaped
    records upgraded (...); 2 unreadable records sent to factory-deadletter``; '' for
    nothing. (Worded so the per-record "dead-lettered" warnings stay countable.)"""
    notes = [upgrades.describe()] if upgrades.records else []
    if dead_lettered:
        notes.append(f"{dead_lettered} unreadable records sent to factory-deadletter")
    return "".join(f"; {note}" for note in notes)


class SkippedRecords:
    """A read-only view's tally of records it cannot read (no group: it must not
    dead-letter them; the services that consume those topics do).

    Never silent: the first is logged with its origin and error, then the count at every
    power of ten, and :attr:`count` is there for the view to show."""

    def __init__(self, log: logging.Logger, view: str) -> None:
        self._log = log
        self._view = view
        self.count = 0
        self._next_said = 1

    def add(self, topic: object, partition: object, offset: object, error: str) -> None:
        self.count += 1
        if self.count < self._next_said:
            return
        self._next_said *= 10
        if self.count == 1:
            self._log.warning(
                "%s: unreadable record %s[%s]@%s not shown (its consumers dead-letter it; "
                "further ones counted): %s",
                self._view,
                topic,
                partition,
                offset,
                error,
            )
        else:
            self._log.warning("%s: %d unreadable records not shown so far", self._view, self.count)
