"""The generators' hot records straight to the bytes the contract's encoder would write.

At ``--speed max`` the component production service spends most of its time building
events, and most of all the true-OEE records (about two per component). This module
makes the same bytes with less. A component is encoded where it is made, by msgspec
itself from a Struct of the event's fields in the event's order (so every number and
time is written by the same code as before, in the same key order), built positionally,
with its record's key, timestamp and epoch time kept beside it: the service reads those
instead of an event's properties, and no ``timestamp()`` is computed twice. A true-OEE
record is put together from pieces: a per-machine head, the window's shared times
(msgspec's own text of the window's datetimes, once per window) and its numbers, which
for most windows (a machine that ran throughout and made n components, g good) repeat
and are encoded once.

The contract's definition stays the Structs of :mod:`widget_factory.schemas`: these
records decode to them (:meth:`MadeComponent.event`), and the unit tests
(``tests/unit/test_fast_encode.py``) compare every byte with ``encode`` of the Struct on
many records, edge values included.
"""

from __future__ import annotations

from datetime import UTC, datetime
from hashlib import sha1
from typing import Final, Protocol

import msgspec

from widget_factory.core.ids import NAMESPACE
from widget_factory.schemas import (
    SCHEMA_VERSION,
    ComponentProduced,
    Dimensions,
    Location,
    MachineStatus,
    OeeTruth,
    QualityMetrics,
    TelemetryMetrics,
    decode_as,
    encode,
)

__all__ = [
    "BATCH_TIMES",
    "EncodedRecord",
    "Encoded",
    "MadeComponent",
    "ComponentWire",
    "TelemetryWire",
    "TelemetryRecord",
    "encode_wire",
    "OeeHead",
    "made_component",
    "window_part",
]

_fromtimestamp: Final = datetime.fromtimestamp
BATCH_TIMES: Final = (0.0, 9_007_199_254.0)
"""Times a batch writer handles (core/telemetry_text.py, core/component_text.py): from
1970 until their microseconds outgrow a double's 53 bits (year 2255), so numpy's
``micro / 1e6`` is the one correctly rounded division ``timestamp()`` makes. Others are
written one by one."""


class EncodedRecord(Protocol):
    """What :meth:`EventProducer.send_encoded` sends: the record as the broker gets it."""

    @property
    def key(self) -> bytes: ...

    @property
    def value(self) -> bytes: ...

    @property
    def timestamp_ms(self) -> int: ...


class Encoded(msgspec.Struct, frozen=True, gc=False):
    """An encoded record: key, value and Kafka timestamp (simulated epoch ms)."""

    key: bytes
    value: bytes
    timestamp_ms: int


# --- components ---------------------------------------------------------------------------


class ComponentWire(msgspec.Struct, gc=False, tag_field="event_type", tag="component_produced"):
    """:class:`~widget_factory.schemas.ComponentProduced` field for field, in its order,
    built positionally (its keyword-only fields cost more to fill): msgspec writes both
    the same bytes."""

    event_id: str
    schema_version: int
    component_id: str
    component_type: str
    machine_id: str
    batch_id: str
    produced_at: datetime
    quality_metrics: QualityMetrics
    production_line: str
    made_while_degraded: bool


_encode_wire: Final = msgspec.json.Encoder().encode
encode_wire: Final = _encode_wire
"""msgspec's encoder, for the wire Structs here (the same as ``schemas.encode``)."""


class MadeComponent(msgspec.Struct, gc=False):
    """One component as production made it: its record, and what the service reads of it
    (kanban, true OEE, the log) without decoding."""

    key: bytes
    value: bytes
    timestamp_ms: int
    at: float
    """``produced_at`` as epoch seconds (its ``timestamp()``)."""
    component_id: str
    component_type: str
    machine_id: str
    defect_count: int

    def event(self) -> ComponentProduced:
        """The contract's event: what the record decodes to."""
        return decode_as(self.value, ComponentProduced)


def made_component(
    event_id: str,
    component_id: str,
    component_type: str,
    machine_id: str,
    batch_id: str,
    t: float,
    weight: float,
    length: float,
    width: float,
    height: float,
    temperature: float,
    defects: int,
    production_line: str,
    degraded: bool,
) -> MadeComponent:
    """A component at simulated time ``t``: the bytes of ``encode(ComponentProduced(...,
    produced_at=datetime.fromtimestamp(t, UTC), ...))``, its record's key and time."""
    produced_at = _fromtimestamp(t, UTC)
    at = produced_at.timestamp()
    return MadeComponent(
        component_id.encode(),
        _encode_wire(
            ComponentWire(
                event_id,
                SCHEMA_VERSION,
                component_id,
                component_type,
                machine_id,
                batch_id,
                produced_at,
                QualityMetrics(weight, Dimensions(length, width, height), temperature, defects),
                production_line,
                degraded,
            )
        ),
        int(at * 1000),
        at,
        component_id,
        component_type,
        machine_id,
        defects,
    )


# --- telemetry ----------------------------------------------------------------------------


class TelemetryWire(msgspec.Struct, gc=False, tag_field="event_type", tag="machine_telemetry"):
    """:class:`~widget_factory.schemas.MachineTelemetry` field for field, in its order,
    built positionally (core/machine_state.py's ``sensor_record``)."""

    event_id: str
    schema_version: int
    machine_id: str
    machine_type: str
    timestamp: datetime
    status: MachineStatus
    metrics: TelemetryMetrics
    location: Location


class TelemetryRecord(msgspec.Struct, gc=False):
    """A telemetry report's record, and its fields (the event, when one is wanted; None
    for a report written in a batch, core/telemetry_text.py)."""

    key: bytes
    value: bytes
    timestamp_ms: int
    wire: TelemetryWire | None = None


# --- true OEE -----------------------------------------------------------------------------

_TAILS_KEPT: Final = 1024
"""Cached numeric tails per machine (a machine makes a handful of counts per window)."""


class OeeHead:
    """The pieces of one machine's ``oee_truth`` records that do not change per window,
    and the numbers of its windows run throughout (cached: they repeat)."""

    __slots__ = ("key", "tails", "_names", "_start", "_target")

    def __init__(self, machine_id: str) -> None:
        self.key = machine_id.encode()
        self._start = b'{"event_type":"oee_truth","event_id":"'
        self._target = b'","schema_version":1,"target_id":' + msgspec.json.encode(machine_id)
        self._names = sha1(NAMESPACE.bytes + f"oee_truth/{machine_id}/".encode())
        """The name hash of ``event_id_from("oee_truth", machine, last)`` up to ``last``
        (:meth:`digest` adds ``last``)."""
        self.tails: dict[tuple[int, int, float], bytes] = {}
        """By (made, good, window length): the numbers of a window run throughout."""

    def remember(self, key: tuple[int, int, float] | None, record: OeeTruth) -> bytes:
        """The numbers of ``record`` as ``encode`` writes them, kept under ``key`` (None:
        a window not run throughout, not kept)."""
        value = encode(record)
        tail = value[value.index(b',"producing_s":') :]
        if key is not None:
            if len(self.tails) >= _TAILS_KEPT:
                self.tails.clear()
            self.tails[key] = tail
        return tail

    def digest(self, last: bytes) -> bytes:
        """The SHA-1 digest behind the id of the window whose id ends in ``last``
        (``f"{begin:.3f}"``): its text is ``ids.uuid5_text`` of its hex."""
        digest = self._names.copy()
        digest.update(last)
        return digest.digest()

    def value(self, event_id: bytes, window: bytes, tail: bytes) -> bytes:
        """The record whose id's text is ``event_id``; ``window``: :func:`window_part`,
        ``tail``: the numbers."""
        return b"".join((self._start, event_id, self._target, window, tail))


def window_part(start: float, end: float) -> bytes:
    """``,"window_start":...,"window_end":...`` of a window: msgspec's own JSON of
    ``datetime.fromtimestamp(t, UTC)`` for both ends."""
    encode_json = msgspec.json.encode
    return (
        b',"window_start":'
        + encode_json(datetime.fromtimestamp(start, UTC))
        + b',"window_end":'
        + encode_json(datetime.fromtimestamp(end, UTC))
    )
