"""Identifiers: event ids, component and widget ids, order and batch ids.

Component and widget ids follow the contract's ``COMP_<TYPE>_<8 hex>`` shape. Eight hex
digits are only 32 bits, so drawing them at random would collide after ~77,000 ids of
a type; instead each type walks a counter from a random start through a fixed bijection
of 32-bit numbers: ids look random, and none repeats within a run of up to 4 billion.
Everything derives from a ``random.Random``, so a seed reproduces the same ids.
"""

from __future__ import annotations

import random
import uuid
from hashlib import sha1
from typing import Protocol

__all__ = [
    "EventIds",
    "DrawnIds",
    "IdSource",
    "scramble32",
    "event_id_from",
    "EventIdPrefix",
    "uuid4_text",
    "uuid5_text",
    "type_of_component",
    "NAMESPACE",
]

NAMESPACE = uuid.UUID("6f1b9e52-5d3a-4c1e-9a57-0c2f3b8e7d41")
"""Namespace for deterministic event ids (a retried output keeps its ``event_id``)."""

_MASK = 0xFFFFFFFF

_UUID4_CLEAR = 0xFFFFFFFF_FFFF_0FFF_3FFF_FFFFFFFFFFFF
_UUID4_SET = 0x00000000_0000_4000_8000_000000000000
"""Version 4 and the RFC 4122 variant, as ``uuid.UUID(int=n, version=4)`` sets them."""


def type_of_component(component_id: str) -> str:
    """``COMP_METAL_FRAME_a1b2c3d4`` -> ``metal_frame``, for ids this factory made (no
    checks: the hot path; :func:`widget_factory.core.ledger.component_type_of` checks)."""
    return component_id[5:-9].lower()


def scramble32(n: int) -> int:
    """A bijection on 32-bit integers (odd multipliers and xorshifts are invertible)."""
    n &= _MASK
    n = ((n ^ (n >> 16)) * 0x45D9F3B) & _MASK
    n = ((n ^ (n >> 16)) * 0x45D9F3B) & _MASK
    return n ^ (n >> 16)


_NAMESPACE_BYTES = NAMESPACE.bytes
_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}
"""A UUID's 17th hex digit with the RFC 4122 variant set (bits 10xx), by the digit drawn."""


def uuid4_text(bits: int) -> str:
    """The text of the UUID whose 128 bits are ``bits`` (version and variant already set)."""
    h = bits.to_bytes(16).hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def uuid5_text(hexdigest: str) -> str:
    """The text of the name-based (version 5) UUID of a SHA-1 ``hexdigest``: its first
    32 digits with the version and the RFC 4122 variant set, as ``uuid.uuid5`` writes it
    (core/uuid_text.py writes many at once)."""
    h = hexdigest
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"


def event_id_from(*parts: str) -> str:
    """A deterministic UUID for an output derived from ``parts`` (e.g. an input's event id).

    The same text as ``str(uuid.uuid5(NAMESPACE, "/".join(parts)))``, computed without
    the ``UUID`` object (the inventory mints one per stock movement).
    """
    return uuid5_text(sha1(_NAMESPACE_BYTES + "/".join(parts).encode()).hexdigest())


class EventIdPrefix:
    """``event_id_from(*parts, last)`` for many ``last`` after the same leading ``parts``:
    the namespace and the leading parts are hashed once, each id hashes only ``last``
    (the true-OEE records: one per machine and minute)."""

    def __init__(self, *parts: str) -> None:
        self._hash = sha1(_NAMESPACE_BYTES + ("/".join(parts) + "/").encode())

    def __call__(self, last: str) -> str:
        digest = self._hash.copy()
        digest.update(last.encode())
        return uuid5_text(digest.hexdigest())


class EventIds(Protocol):
    """Where a report gets its event id: an :class:`IdSource`, or ids drawn ahead."""

    def event_id(self) -> str: ...


class DrawnIds:
    """Event ids drawn ahead (core/draws.py, ``event_id_text``), handed out in order."""

    def __init__(self, ids: list[str]) -> None:
        self._next = iter(ids).__next__

    def event_id(self) -> str:
        return self._next()


class IdSource:
    """All ids one service mints, reproducible under a seed."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self._counters: dict[str, int] = {}
        self._prefixes: dict[str, tuple[str, str]] = {}

    def event_id(self) -> str:
        """A random (version 4) UUID string drawn from the generator.

        The same text as ``str(uuid.UUID(int=rng.getrandbits(128), version=4))`` for the
        same draw, at a third of the cost (it is minted for every event).
        """
        return uuid4_text(self._rng.getrandbits(128) & _UUID4_CLEAR | _UUID4_SET)

    @property
    def generator(self) -> random.Random:
        """The generator the ids are drawn from (a fleet draws ahead only from another)."""
        return self._rng

    def _next(self, prefix: str) -> int:
        counter = self._counters.get(prefix)
        if counter is None:
            counter = self._rng.getrandbits(32)
        self._counters[prefix] = counter + 1
        # scramble32, inlined: this runs once per component and widget
        n = counter & _MASK
        n = ((n ^ (n >> 16)) * 0x45D9F3B) & _MASK
        n = ((n ^ (n >> 16)) * 0x45D9F3B) & _MASK
        return n ^ (n >> 16)

    def component_id(self, component_type: str) -> str:
        names = self._prefixes.get(component_type)
        if names is None:
            names = self._prefixes[component_type] = (
                f"COMP_{component_type.upper()}_",
                "C" + component_type,
            )
        return names[0] + "%08x" % self._next(names[1])  # noqa: UP031 - the fastest form

    def widget_id(self, widget_type: str) -> str:
        return f"WIDGET_{widget_type.upper()}_{self._next('W' + widget_type):08x}"

    def order_id(self) -> str:
        return f"ORDER_{self._next('ORDER'):08X}"

    def short_id(self, prefix: str) -> str:
        return f"{prefix}_{self._next(prefix):08X}"

    @property
    def counters(self) -> dict[str, int]:
        """The counters' positions, for services that persist them across restarts."""
        return dict(self._counters)

    def restore(self, counters: dict[str, int]) -> None:
        self._counters.update(counters)
