"""A ``random.Random``'s own stream of doubles, drawn in blocks so a batch can read ahead.

Python's generator is a Mersenne Twister (MT19937), and ``random()`` builds each double
from two of its 32-bit words: ``((a >> 5) * 2**26 + (b >> 6)) / 2**53``. numpy carries
the same twister (``numpy.random.MT19937``, which takes the very state ``getstate()``
gives), so :class:`DoubleStream` copies a generator's state once and from then on
makes its doubles a block at a time, in C, bit for bit the ones the generator itself
would have returned in the same order. The telemetry core reads a whole batch of
reports' draws at once with :meth:`DoubleStream.peek` (core/report_batch.py) and still
takes them one by one, in order, as the scalar code does: the seeded stream is the one
``random.Random`` gives, only cheaper to read ahead.

Only ``random`` (and what the standard library builds on it: ``uniform``, ``gauss``) is
served; anything that would draw integer bits (``randint``, ``choice``) raises, since
those come from a different part of the generator.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np
from numpy.typing import NDArray

from widget_factory.core.uuid_text import uuid_texts

__all__ = ["DoubleStream", "event_id_text"]

_BLOCK = 65536
"""Doubles made per refill: some twenty batches of reports."""
_SCALE = 1.0 / 9007199254740992.0
"""2**-53, as CPython's ``random_random``."""


def event_id_text(rng: random.Random, count: int) -> bytes:
    """The text of ``count`` calls of ``IdSource(rng).event_id()``, one after another
    (36 bytes each), from one draw.

    ``getrandbits(128 * count)`` takes the same 32-bit words, in the same order, as
    ``count`` draws of 128 bits, the first draw in the lowest bits; numpy then sets the
    version 4 and RFC 4122 variant bits and writes the hex of all of them at once."""
    if count <= 0:
        return b""
    drawn = rng.getrandbits(128 * count).to_bytes(16 * count, "little")
    # each id's 16 bytes, most significant first
    octets = np.frombuffer(drawn, dtype=np.uint8).reshape(count, 16)[:, ::-1].copy()
    octets[:, 6] = octets[:, 6] & 0x0F | 0x40
    octets[:, 8] = octets[:, 8] & 0x3F | 0x80
    return uuid_texts(octets)


class DoubleStream(random.Random):
    """``random()`` of the generator given, from a numpy twister that took its state.

    The generator given is left as it was: after this, draw only from the stream."""

    def __init__(self, source: random.Random) -> None:
        super().__init__()
        version, internal, gauss_next = source.getstate()
        if version != 3:
            raise ValueError(f"unsupported random.Random state version {version}")
        self._twister = np.random.MT19937()
        self._twister.state = {
            "bit_generator": "MT19937",
            "state": {"key": np.array(internal[:624], dtype=np.uint32), "pos": internal[624]},
        }
        self.gauss_next = gauss_next
        self._block: NDArray[np.float64] = np.empty(0)
        self._at = 0

    def _make(self, count: int) -> NDArray[np.float64]:
        words = self._twister.random_raw(2 * count).astype(np.uint64)
        return ((words[0::2] >> 5) * 67108864 + (words[1::2] >> 6)) * _SCALE

    def _refill(self, wanted: int) -> None:
        """Keep the doubles not read yet, then add at least ``wanted`` more."""
        rest = self._block[self._at :]
        self._block = np.concatenate((rest, self._make(max(wanted, _BLOCK))))
        self._at = 0

    def random(self) -> float:
        at = self._at
        if at >= len(self._block):
            self._refill(1)
            at = 0
        self._at = at + 1
        return self._block.item(at)

    def peek(self, count: int) -> NDArray[np.float64]:
        """The next ``count`` doubles, without taking them."""
        if self._at + count > len(self._block):
            self._refill(count)
        return self._block[self._at : self._at + count]

    @property
    def position(self) -> int:
        """Where the next double is in the current block: :meth:`seek` within what the
        last :meth:`peek` showed (a refill starts a new block)."""
        return self._at

    def seek(self, position: int) -> None:
        """Take (or give back) doubles up to ``position`` of the current block."""
        self._at = position

    def getrandbits(self, k: int) -> int:
        raise NotImplementedError("a DoubleStream serves random(), uniform() and gauss() only")

    def seed(self, a: Any = None, version: int = 2) -> None:
        if a is not None:
            raise NotImplementedError("a DoubleStream takes its state from a generator")
        super().seed()

    def getstate(self) -> tuple[Any, ...]:
        raise NotImplementedError("a DoubleStream's state lives in its twister")

    def setstate(self, state: tuple[Any, ...]) -> None:
        raise NotImplementedError("a DoubleStream's state lives in its twister")
