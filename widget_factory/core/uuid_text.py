"""UUID texts of many ids at once: numpy writes the hex of a whole batch.

Writing one id's text in Python (a hex string, sliced and joined around four dashes)
costs about as much as drawing or hashing it. A generator that makes thousands of ids
per call (telemetry's event ids, the true-OEE records' name-based ids) hands their raw
bytes here instead and gets back one block of 36-byte texts, ``str(uuid.UUID(...))``
of each, in order.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

__all__ = ["uuid_texts", "version5_texts"]

_DASH = ord("-")
_VARIANT = np.arange(256, dtype=np.uint8)
"""An ASCII hex digit to the digit with the RFC 4122 variant bits set (others as they are)."""
_VARIANT[np.frombuffer(b"0123456789abcdef", dtype=np.uint8)] = np.frombuffer(
    b"89ab" * 4, dtype=np.uint8
)


def _dashed(digits: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """36-character texts from rows of (at least) 32 ASCII hex digits: basic slices only,
    which numpy copies at memory speed."""
    text = np.empty((len(digits), 36), dtype=np.uint8)
    text[:, [8, 13, 18, 23]] = _DASH
    text[:, 0:8] = digits[:, 0:8]
    text[:, 9:13] = digits[:, 8:12]
    text[:, 14:18] = digits[:, 12:16]
    text[:, 19:23] = digits[:, 16:20]
    text[:, 24:36] = digits[:, 20:32]
    return text


def uuid_texts(octets: NDArray[np.uint8]) -> bytes:
    """The texts of the ids whose 16 bytes (most significant first) are the rows of
    ``octets``, version and variant bits as they are: 36 bytes each, one after another."""
    digits = np.frombuffer(octets.tobytes().hex().encode(), dtype=np.uint8).reshape(-1, 32)
    return _dashed(digits).tobytes()


def version5_texts(digests: bytes) -> bytes:
    """The texts of the name-based (version 5) UUIDs of SHA-1 ``digests`` (20 bytes
    each, one after another): the first 16 bytes of each, with the version 5 and
    RFC 4122 variant bits set, as ``uuid.uuid5`` makes them."""
    text = _dashed(np.frombuffer(digests.hex().encode(), dtype=np.uint8).reshape(-1, 40))
    text[:, 14] = ord("5")
    text[:, 19] = _VARIANT[text[:, 19]]
    return text.tobytes()
