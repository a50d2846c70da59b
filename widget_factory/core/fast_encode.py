"""The generators' hot records straight to the bytes the contract's encoder would write.

At ``--speed max`` the component production service spends most of its time building
events: a ``datetime`` per component (and its ``timestamp()`` twice more, for the record
timestamp and the true-OEE window), three Structs, and the true-OEE records (about two
per component). This module makes the same bytes with less: times become ISO text from
epoch seconds (a cached date per day, tables for hours, minutes and seconds), a
component is one flat Struct of its varying fields encoded by msgspec itself (so every
number is written by the same code as before, in the same key order), and a true-OEE
record is three pieces: a per-machine head, the window's shared times (msgspec's own
text of the window's datetimes) and its numbers, which for most windows (a machine
that ran throughout and made n components, g good) repeat and are cached.

The contract's definition stays the Structs of :mod:`widget_factory.schemas`: these
records decode to them (:meth:`MadeComponent.event`), and the unit tests
(``tests/unit/test_fast_encode.py``) compare every byte with ``encode`` of the Struct on
many records, edge values included.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from hashlib import sha1
from math import modf
from typing import Final, Protocol

import msgspec

from widget_factory.core.ids import NAMESPACE
from widget_factory.schemas import ComponentProduced, OeeTruth, decode_as, encode

__all__ = [
    "EncodedRecord",
    "Encoded",
    "MadeComponent",
    "ComponentWire",
    "utc_parts",
    "utc_text",
    "epoch_of",
    "timestamp_ms",
    "OeeHead",
    "made_component",
    "window_part",
]

_DAY_S: Final = 86400
_EPOCH_DAY: Final = date(1970, 1, 1)
_HOURS_MINUTES: Final = [f"{h:02d}:{m:02d}:" for h in range(24) for m in range(60)]
_SECONDS: Final = [f"{s:02d}" for s in range(60)]
_VARIANT: Final = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}
"""A name-based UUID's 17th hex digit with the RFC 4122 variant set (as core/ids.py)."""
_days: dict[int, str] = {}
"""``YYYY-MM-DDT`` per day since the epoch (a run covers a few; kept small below)."""


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


def utc_parts(t: float) -> tuple[int, int]:
    """Whole seconds and microseconds of ``datetime.fromtimestamp(t, UTC)``: the fraction
    times a million, rounded half to even (as CPython rounds it)."""
    fraction, whole = modf(t)
    micros = round(fraction * 1e6)
    seconds = int(whole)
    if micros >= 1_000_000:
        return seconds + 1, micros - 1_000_000
    if micros < 0:
        return seconds - 1, micros + 1_000_000
    return seconds, micros


def _day_text(day: int) -> str:
    if len(_days) > 4096:
        _days.clear()
    text = _days[day] = (_EPOCH_DAY + timedelta(days=day)).isoformat() + "T"
    return text


def utc_text(seconds: int, micros: int) -> str:
    """The text msgspec writes for that UTC datetime (without the quotes): ``Z`` for the
    offset, ``.ffffff`` only when there are microseconds."""
    day, second = divmod(seconds, _DAY_S)
    prefix = _days.get(day) or _day_text(day)
    if micros:
        return f"{prefix}{_HOURS_MINUTES[second // 60]}{_SECONDS[second % 60]}.{micros:06d}Z"
    return f"{prefix}{_HOURS_MINUTES[second // 60]}{_SECONDS[second % 60]}Z"


def epoch_of(seconds: int, micros: int) -> float:
    """``datetime.timestamp()`` of that datetime: the microseconds divided exactly."""
    return (seconds * 1_000_000 + micros) / 1_000_000


def timestamp_ms(seconds: int, micros: int) -> int:
    """The record timestamp :meth:`EventProducer.send_all` gives that datetime."""
    return int((seconds * 1_000_000 + micros) / 1_000_000 * 1000)


# --- components ---------------------------------------------------------------------------


class _DimensionsWire(msgspec.Struct, gc=False):
    length: float
    width: float
    height: float


class _QualityWire(msgspec.Struct, gc=False):
    weight_grams: float
    dimensions_mm: _DimensionsWire
    temperature_celsius: float
    defect_count: int


class ComponentWire(
    msgspec.Struct, kw_only=True, gc=False, tag_field="event_type", tag="component_produced"
):
    """:class:`~widget_factory.schemas.ComponentProduced` field for field, in its order,
    with the time as its text: msgspec writes both the same bytes."""

    event_id: str
    schema_version: int = 1
    component_id: str
    component_type: str
    machine_id: str
    batch_id: str
    produced_at: str
    quality_metrics: _QualityWire
    production_line: str
    made_while_degraded: bool


_encode_wire: Final = msgspec.json.Encoder().encode


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
    produced_at=datetime.fromtimestamp(t, UTC), ...))`` and its record's key and time."""
    # utc_parts, utc_text and epoch_of, inlined (once per component)
    fraction, whole_s = modf(t)
    micros = round(fraction * 1e6)
    seconds = int(whole_s)
    if micros >= 1_000_000:
        seconds += 1
        micros -= 1_000_000
    elif micros < 0:
        seconds -= 1
        micros += 1_000_000
    day, second = divmod(seconds, _DAY_S)
    prefix = _days.get(day) or _day_text(day)
    if micros:
        text = f"{prefix}{_HOURS_MINUTES[second // 60]}{_SECONDS[second % 60]}.{micros:06d}Z"
    else:
        text = f"{prefix}{_HOURS_MINUTES[second // 60]}{_SECONDS[second % 60]}Z"
    at = (seconds * 1_000_000 + micros) / 1_000_000
    return MadeComponent(
        component_id.encode(),
        _encode_wire(
            ComponentWire(
                event_id=event_id,
                component_id=component_id,
                component_type=component_type,
                machine_id=machine_id,
                batch_id=batch_id,
                produced_at=text,
                quality_metrics=_QualityWire(
                    weight, _DimensionsWire(length, width, height), temperature, defects
                ),
                production_line=production_line,
                made_while_degraded=degraded,
            )
        ),
        int(at * 1000),
        at,
        component_id,
        component_type,
        machine_id,
        defects,
    )


# --- true OEE -----------------------------------------------------------------------------

_TAILS_KEPT: Final = 1024
"""Cached numeric tails per machine (a machine makes a handful of counts per window)."""


class OeeHead:
    """The pieces of one machine's ``oee_truth`` records that do not change per window,
    and the numbers of its windows run throughout (cached: they repeat)."""

    __slots__ = ("key", "tails", "_start", "_ids")

    def __init__(self, machine_id: str) -> None:
        self.key = machine_id.encode()
        target = b',"schema_version":1,"target_id":' + msgspec.json.encode(machine_id)
        self._start = (b'{"event_type":"oee_truth","event_id":"', target)
        self._ids = sha1(NAMESPACE.bytes + f"oee_truth/{machine_id}/".encode())
        """``event_id_from("oee_truth", machine, last)`` up to ``last``."""
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

    def value(self, last: bytes, window: bytes, tail: bytes) -> bytes:
        """The record of the window whose id ends in ``last`` (``f"{begin:.3f}"``);
        ``window``: :func:`window_part`, ``tail``: the numbers."""
        digest = self._ids.copy()
        digest.update(last)
        h = digest.hexdigest()
        head, target = self._start
        event_id = f'{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"'
        return b"".join((head, event_id.encode(), target, window, tail))


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
