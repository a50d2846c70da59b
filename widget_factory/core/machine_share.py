"""Splitting a factory's machines between worker processes, deterministically.

Generation scales out by running several processes of the same service, each making
the output of some of the machines. Machine ``i`` (its position in the configuration)
belongs to worker ``i mod count``: every machine has exactly one worker, the split needs
no coordination, and a worker knows its machines from the configuration alone.

So that the stream of a seed does not depend on how many workers make it, each machine
draws from a generator of its own (:func:`machine_seeds`), seeded from the service's
generator in configuration order; a worker draws the seeds of every machine, its own
or not, and so gets the same seeds as a single process would.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import msgspec

from widget_factory.factory_config import FactoryConfig

__all__ = [
    "MachineShare",
    "WHOLE_FACTORY",
    "id_sequences",
    "machine_seeds",
    "parse_share",
    "share_config",
]

T = TypeVar("T")


@dataclass(frozen=True)
class MachineShare:
    """Worker ``index`` of ``count``: the machines at positions ``index``, ``index +
    count``, ... of the configuration."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ValueError(f"worker {self.index} of {self.count}: no such worker")

    def owns(self, position: int) -> bool:
        """Whether the machine at ``position`` in the configuration is this worker's."""
        return position % self.count == self.index

    def pick(self, items: Sequence[T]) -> list[T]:
        """This worker's items of a list in configuration order."""
        return list(items[self.index :: self.count])

    @property
    def whole(self) -> bool:
        return self.count == 1

    def describe(self) -> str:
        return "" if self.whole else f"worker {self.index + 1} of {self.count}"

    @property
    def suffix(self) -> str:
        """Appended to names that must differ between workers (seeds, consumer groups)."""
        return "" if self.whole else f"-{self.index + 1}-of-{self.count}"


WHOLE_FACTORY = MachineShare()
"""One process makes everything."""


def parse_share(text: str) -> MachineShare:
    """``"K/N"`` (1-based K, as the CLI shows it) to a share; ValueError when malformed."""
    worker, sep, count = text.partition("/")
    if not sep or not worker.strip().isdigit() or not count.strip().isdigit():
        raise ValueError(f"{text!r} is not WORKER/COUNT (e.g. 1/2)")
    return MachineShare(int(worker) - 1, int(count))


def machine_seeds(rng: random.Random, count: int) -> list[int]:
    """One 64-bit seed per machine position, drawn in order from ``rng``."""
    return [rng.getrandbits(64) for _ in range(count)]


def share_config(config: FactoryConfig, share: MachineShare) -> FactoryConfig:
    """The factory as one worker sees it: its share of the production machines and of the
    assembly stations (positions counted in each list), everything else unchanged."""
    if share.whole:
        return config
    return msgspec.structs.replace(
        config, machines=share.pick(config.machines), stations=share.pick(config.stations)
    )


def id_sequences(config: FactoryConfig, rng: random.Random) -> list[tuple[int, int]]:
    """Per machine position: its first counter value and stride in its type's id sequence.

    Each component type's counter starts at a random 32-bit value (drawn in the order the
    types first appear among the machines); the k-th of the type's m machines takes the
    values start + k, start + k + m, ...
    """
    starts: dict[str, int] = {}
    counts: dict[str, int] = {}
    for spec in config.machines:
        if spec.component_type not in starts:
            starts[spec.component_type] = rng.getrandbits(32)
        counts[spec.component_type] = counts.get(spec.component_type, 0) + 1
    seen: dict[str, int] = {}
    sequences = []
    for spec in config.machines:
        rank = seen.get(spec.component_type, 0)
        seen[spec.component_type] = rank + 1
        sequences.append((starts[spec.component_type] + rank, counts[spec.component_type]))
    return sequences
