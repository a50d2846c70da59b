"""Poison records for the dead-letter drills: every kind of bad input a topic can carry.

Each record carries the headers ``origin: test`` and ``poison: <kind>`` (the services
keep a record's headers on its dead letter), so a drill can tell its poison from the
factory's own records and say which kind a dead letter was. Keys agree with the value
where the value has a key (so only the intended fault is wrong), and start with
``poison-`` where it has none.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import msgspec
from confluent_kafka import Message, Producer

from tests.samples import sample_events
from widget_factory import schemas as s

INPUTS: dict[str, tuple[str, ...]] = {
    "component-production": ("assembly", "inventory"),
    "widget-assembly": ("quality", "inventory"),
    "quality-control": ("inventory",),
    "production-orders": ("assembly",),
    "factory-commands": ("telemetry",),
}
"""Every input topic and the services that consume it."""

NEAR_LIMIT_BYTES = 999_000
"""A record just under librdkafka's default ``message.max.bytes`` (1,000,000), the most
a producer with default settings can send; tansu itself takes more, Apache Kafka's
default broker limit is 1,048,588."""

PRODUCER_MAX_BYTES = 1_000_000


@dataclass(frozen=True)
class Poison:
    topic: str
    kind: str
    key: bytes | None
    value: bytes | None


_FRESH: dict[str, tuple[type[s.Event], str, str]] = {
    "component-production": (s.ComponentProduced, "component_id", "COMP_METAL_FRAME_"),
    "widget-assembly": (s.WidgetAssembled, "widget_id", "WIDGET_BASIC_WIDGET_"),
    "quality-control": (s.QualityCheck, "widget_id", "WIDGET_BASIC_WIDGET_"),
    "production-orders": (s.ProductionOrder, "order_id", "POISON_ORDER_"),
}
"""Per topic: the event type of a fresh valid record, its id field and the id's prefix."""
_FRESH_COMMAND = (s.FactoryCommand, "target_id", "NO_SUCH_MACHINE_")
"""Any other topic (``factory-commands``): a command for a machine that does not exist."""


def _valid(topic: str, rng: random.Random) -> s.Event:
    """A fresh, valid event of ``topic``'s type (new ids, so it collides with nothing)."""
    by_type = {type(e): e for e in sample_events()}
    hex8 = f"{rng.getrandbits(32):08x}"
    event_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    kind, field, prefix = _FRESH.get(topic, _FRESH_COMMAND)
    return msgspec.structs.replace(by_type[kind], event_id=event_id, **{field: prefix + hex8})


def _as_dict(event: s.Event) -> dict:
    return json.loads(s.encode(event))


def _with(event: s.Event, **fields: object) -> bytes:
    return json.dumps({**_as_dict(event), **fields}).encode()


_ENUM_FIELD = {
    "component-production": ("component_type", "unobtanium_gear"),
    "widget-assembly": ("widget_type", "hover_widget"),
    "quality-control": ("status", "MAYBE"),
    "production-orders": ("widget_type", "hover_widget"),
    "factory-commands": ("command", "self_destruct"),
}

_TIME_FIELD = {
    s.ComponentProduced: ("produced_at",),
    s.WidgetAssembled: ("assembly_started_at", "assembly_completed_at"),
    s.QualityCheck: ("checked_at",),
    s.ProductionOrder: ("created_at",),
    s.FactoryCommand: ("issued_at",),
}


def _far_time(event: s.Event, rng: random.Random) -> bytes:
    when = rng.choice(["2041-03-01T08:00:00Z", "1999-12-31T23:59:59Z"])
    return _with(event, **dict.fromkeys(_TIME_FIELD[type(event)], when))


def _padded(event: s.Event) -> bytes:
    """``event`` padded with an extra field to :data:`NEAR_LIMIT_BYTES`."""
    base = _with(event, pad="")
    return _with(event, pad="x" * (NEAR_LIMIT_BYTES - len(base)))


def _keyed(event: s.Event, value: bytes) -> tuple[bytes, bytes]:
    return event.kafka_key.encode(), value


Builder = Callable[[str, random.Random, str], tuple[bytes | None, bytes | None]]


def _poison_key(topic: str, rng: random.Random, kind: str) -> bytes:
    return f"poison-{kind}-{rng.getrandbits(32):08x}".encode()


KINDS: dict[str, Builder] = {
    "binary": lambda t, r, k: (
        _poison_key(t, r, k),
        b"\x00\xff\xfe" + bytes(r.getrandbits(8) for _ in range(40)),
    ),
    "empty value": lambda t, r, k: (_poison_key(t, r, k), b""),
    "null value": lambda t, r, k: (_poison_key(t, r, k), None),
    "near size limit": lambda t, r, k: (_poison_key(t, r, k), _padded(_valid(t, r))),
    "not an object": lambda t, r, k: (
        _poison_key(t, r, k),
        r.choice([b"[1, 2, 3]", b"42", b'"x"']),
    ),
    "wrong field types": lambda t, r, k: (
        _poison_key(t, r, k),
        _with(_valid(t, r), event_id=42, schema_version="one"),
    ),
    "missing fields": lambda t, r, k: (
        _poison_key(t, r, k),
        json.dumps({"event_type": _valid(t, r).event_type, "event_id": str(uuid.uuid4())}).encode(),
    ),
    "unknown enum value": lambda t, r, k: _keyed(
        event := _valid(t, r), _with(event, **{_ENUM_FIELD[t][0]: _ENUM_FIELD[t][1]})
    ),
    "unknown event_type": lambda t, r, k: _keyed(
        event := _valid(t, r), _with(event, event_type="widget_teleported")
    ),
    "wrong schema version": lambda t, r, k: _keyed(
        event := _valid(t, r), _with(event, schema_version=2)
    ),
    "timestamp years away": lambda t, r, k: _keyed(event := _valid(t, r), _far_time(event, r)),
    "key disagrees with value": lambda t, r, k: (
        b"poison-" + _valid(t, r).kafka_key.encode(),
        s.encode(_valid(t, r)),
    ),
}
"""Poison that needs nothing from the topic; a duplicate ``event_id`` with different
content is made from a record the factory wrote (:func:`conflicting_copy`)."""

CONFLICTING_DUPLICATE = "duplicate event_id, different content"


def plan(topics: Iterable[str], copies: int, seed: int) -> list[Poison]:
    """``copies`` records of every kind on each topic (a single near-limit one: they are
    a megabyte each, and every consuming service dead-letters its own copy)."""
    rng = random.Random(seed)
    records = []
    for topic in topics:
        for kind, build in KINDS.items():
            for _ in range(1 if kind == "near size limit" else copies):
                key, value = build(topic, rng, kind.replace(" ", "_"))
                records.append(Poison(topic, kind, key, value))
    rng.shuffle(records)
    return records


def conflicting_copy(message: Message) -> Poison:
    """A record the factory wrote, changed in what its consumers act on but keeping its
    ``event_id`` and key: a second, different event under the same identity."""
    event = s.decode(message.value() or b"")
    if isinstance(event, s.ComponentProduced):
        other = "battery" if event.component_type != "battery" else "sensor"
        changed = msgspec.structs.replace(event, component_type=other)
    elif isinstance(event, s.WidgetAssembled):
        changed = msgspec.structs.replace(event, component_ids=event.component_ids[:1])
    elif isinstance(event, s.QualityCheck):
        passed = event.status is s.QualityStatus.PASS
        changed = msgspec.structs.replace(
            event,
            status=s.QualityStatus.FAIL if passed else s.QualityStatus.PASS,
            defects_found=["visual_defect"] if passed else [],
        )
    else:
        raise ValueError(f"no conflicting copy for {event.event_type}")
    return Poison(str(message.topic()), CONFLICTING_DUPLICATE, message.key(), s.encode(changed))


def inject(bootstrap: str, records: list[Poison]) -> int:
    """Produce ``records`` (each tagged ``origin: test`` and ``poison: <kind>``)."""
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "enable.idempotence": True,
            "message.max.bytes": PRODUCER_MAX_BYTES,
        }
    )
    for record in records:
        producer.produce(
            record.topic,
            record.value,
            key=record.key,
            headers=[("origin", b"test"), ("poison", record.kind.encode())],
        )
        producer.poll(0)
    assert producer.flush(60) == 0
    return len(records)


def poison_kind(message: Message) -> str | None:
    """The ``poison`` header of a record, or None for the factory's own records."""
    for name, value in message.headers() or []:
        if name == "poison":
            return bytes(value or b"").decode()
    return None
