"""The most recent keys a service has seen, each with a value, in bounded memory.

Duplicate detection needs "the last N ids" (the ledger's consumed units and event ids,
the assembly planner's used components, the intake's event facts). An ``OrderedDict``
does it but keeps a linked-list node per key on top of its table: about 150 bytes a
key against some 50 for a plain dict and a queue of its keys in arrival order, which is
what :class:`RecentKeys` is. At 50,000 keys per table that is ~5 MB a table, in
services whose budget is 150 MB (docs/performance.md).
"""

from __future__ import annotations

from collections import deque
from typing import Generic, TypeVar

__all__ = ["RecentKeys"]

V = TypeVar("V")


class RecentKeys(dict[str, V], Generic[V]):
    """The ``capacity`` keys remembered most recently, with a value each; the oldest is
    forgotten first. A key remembered again keeps its place (and takes the new value).

    Lookups are a plain dict's. Remove keys only through :meth:`remember`'s eviction:
    the queue of keys is not told of other deletions."""

    __slots__ = ("_order", "_capacity")

    def __init__(self, capacity: int) -> None:
        super().__init__()
        self._order: deque[str] = deque()
        self._capacity = capacity

    def remember(self, key: str, value: V) -> None:
        if key in self:
            self[key] = value
            return
        self[key] = value
        self._order.append(key)
        if len(self._order) > self._capacity:
            del self[self._order.popleft()]
