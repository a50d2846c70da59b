"""A memory budget for the embedded broker: when to warn, when to stop producing.

The embedded broker keeps every record in memory and has no retention, so a long run
grows it until the machine runs out. ``run`` samples the broker's resident memory and
feeds the samples to a :class:`BudgetWatch`, which says once when the broker passes
:data:`WARN_SHARE` of its budget and once when production must stop so that the drain
(which still writes widgets, checks and stock movements) ends inside the budget. Pure:
samples in, verdicts out; reading the memory is :mod:`widget_factory.kafka_io.broker_memory`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum

__all__ = [
    "DEFAULT_BUDGET_BYTES",
    "WARN_SHARE",
    "STOP_SHARE",
    "DRAIN_ALLOWANCE_S",
    "Verdict",
    "BudgetWatch",
    "default_budget",
    "parse_size",
    "format_size",
]

DEFAULT_BUDGET_BYTES = 1 << 30
"""1 GiB: some 11 simulated days of the reference factory at speed 120 (docs/performance.md)."""
DEFAULT_SHARE_OF_MEMORY = 0.25
"""On a small machine the default is a quarter of its memory instead."""
WARN_SHARE = 0.8
"""Say so once the broker holds this share of its budget."""
STOP_SHARE = 0.9
"""Stop production at this share: the drain still writes, and needs the rest."""
DRAIN_ALLOWANCE_S = 30.0
"""Stop earlier when, at the recent growth, the budget would be reached within this
many wall seconds (a drain at the default speed takes a few)."""
PROJECT_FROM_SHARE = 0.5
"""The growth only counts past this share of the budget: a run at ``--speed max`` grows
the broker by tens of MiB a second for the few seconds it lasts, which projected 30 s
ahead would stop it at a few percent of its budget."""

_UNITS = {
    "": 1,
    "b": 1,
    "k": 1 << 10,
    "kb": 1 << 10,
    "kib": 1 << 10,
    "m": 1 << 20,
    "mb": 1 << 20,
    "mib": 1 << 20,
    "g": 1 << 30,
    "gb": 1 << 30,
    "gib": 1 << 30,
    "t": 1 << 40,
    "tb": 1 << 40,
    "tib": 1 << 40,
}
_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$")


def parse_size(text: str) -> int | None:
    """Bytes from ``512M``, ``1.5G``, ``2GiB``, ``1073741824``; None for ``off`` / ``0``
    (no budget). Units are powers of 1024. Raises ValueError with a readable message."""
    if text.strip().lower() in ("off", "none", "0"):
        return None
    match = _SIZE.match(text)
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in _UNITS:
        raise ValueError(f"expected a size such as 512M, 2G or 1GiB (or off), got {text!r}")
    size = int(float(match.group(1)) * _UNITS[unit])
    if size < 1 << 20:
        raise ValueError(f"{text!r} is under 1 MiB; the broker alone needs more")
    return size


def format_size(size: float) -> str:
    """``1.0 GiB``, ``512 MiB``: for one-line messages."""
    if size >= 1 << 30:
        return f"{size / (1 << 30):.1f} GiB"
    return f"{size / (1 << 20):.0f} MiB"


def default_budget(total_memory: int | None) -> int:
    """1 GiB, or a quarter of the machine's memory when that is less."""
    if total_memory is None or total_memory <= 0:
        return DEFAULT_BUDGET_BYTES
    return min(DEFAULT_BUDGET_BYTES, int(total_memory * DEFAULT_SHARE_OF_MEMORY))


class Verdict(Enum):
    WARN = "warn"
    """Past :data:`WARN_SHARE` of the budget (said once)."""
    STOP = "stop"
    """Production must stop now (said once)."""


@dataclass
class BudgetWatch:
    """Decides, sample by sample, when the broker's memory calls for a word or a stop."""

    budget: int
    """Bytes the broker may hold."""
    warned: bool = False
    stopped: bool = False
    _samples: list[tuple[float, int]] = field(default_factory=list)

    def growth_per_s(self) -> float:
        """Bytes per second over the recent samples (0 until two are a second apart)."""
        if len(self._samples) < 2:
            return 0.0
        (t0, r0), (t1, r1) = self._samples[0], self._samples[-1]
        return max(0.0, (r1 - r0) / (t1 - t0)) if t1 - t0 >= 1.0 else 0.0

    def observe(self, at: float, rss: int) -> list[Verdict]:
        """The verdicts a sample (wall seconds, resident bytes) brings: each at most once,
        the warning always before the stop."""
        self._samples.append((at, rss))
        while len(self._samples) > 2 and at - self._samples[0][0] > 60.0:
            self._samples.pop(0)
        verdicts: list[Verdict] = []
        if self.stopped:
            return verdicts
        projected = rss + self.growth_per_s() * DRAIN_ALLOWANCE_S
        must_stop = rss >= STOP_SHARE * self.budget or (
            rss >= PROJECT_FROM_SHARE * self.budget and projected >= self.budget
        )
        if not self.warned and (rss >= WARN_SHARE * self.budget or must_stop):
            self.warned = True
            verdicts.append(Verdict.WARN)
        if must_stop:
            self.stopped = True
            verdicts.append(Verdict.STOP)
        return verdicts
