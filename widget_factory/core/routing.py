"""Where a component or an order belongs when the stations run in separate processes.

One assembly process hosting every station places each component with the station that
needs it most (:class:`~widget_factory.core.assembly.AssemblyPlanner`). Scaled out, with
one process per station (``widget-factory assembly --station ID``), a process reads
whatever components and orders its consumer-group partitions hold, and most of them
belong elsewhere: station A never uses a sensor, and cannot build a smart widget.

Every record therefore has a *home station*: a pure function of the record's id, its
type and the factory configuration, the same in every process. Whichever process reads
the record - the first owner of its partition, or the one that re-reads it after a crash
or a rebalance - sends it to the same home, so a re-read record becomes a duplicate
*at one station*, where the planner drops it, never a second copy somewhere else.

Homes are drawn among the stations able to use the record, by weighted rendezvous
hashing: an order goes to one of the stations that build its widget type, evenly; a
component goes to a station that uses its type, in proportion to how many of that type
the station is expected to consume when orders arrive in the mix ``OrderGenerator``
draws (every buildable type alike) and are shared evenly among capable stations. The
reference factory's sensors, for instance, go three to one to station B (industrial and
half the smart orders) over station C (the other half of the smart orders). The split
is statistical, not need-driven: that is the price of a decision no process has to
remember or agree on.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping

from widget_factory.factory_config import FactoryConfig

__all__ = ["StationRouter", "component_weights", "rendezvous"]


def _unit_hash(record_id: str, station_id: str) -> float:
    """A uniform number in (0, 1) for the pair, stable across processes and versions
    (``hash()`` is salted per process, so it cannot be used here)."""
    digest = hashlib.blake2b(f"{record_id}|{station_id}".encode(), digest_size=8).digest()
    return (int.from_bytes(digest, "big") + 0.5) / 2.0**64


def rendezvous(record_id: str, weights: Mapping[str, float]) -> str | None:
    """The station of ``weights`` (station id -> weight > 0) that ``record_id`` maps to,
    each chosen with probability proportional to its weight; None when none qualifies."""
    best: str | None = None
    best_score = -math.inf
    for station_id in sorted(weights):
        weight = weights[station_id]
        if weight <= 0:
            continue
        score = -weight / math.log(_unit_hash(record_id, station_id))
        if score > best_score:
            best, best_score = station_id, score
    return best


def component_weights(config: FactoryConfig) -> dict[str, dict[str, float]]:
    """Per component type, station id -> the station's expected share of its use."""
    builders: dict[str, list[str]] = {}
    for station in config.stations:
        for widget_type in station.builds:
            builders.setdefault(widget_type, []).append(station.id)
    demand = 1.0 / max(1, len(builders))  # each buildable type equally likely
    weights: dict[str, dict[str, float]] = {}
    for widget_type, stations in builders.items():
        share = demand / len(stations)
        for component_type in config.recipes[widget_type]:
            per_station = weights.setdefault(component_type, {})
            for station_id in stations:
                per_station[station_id] = per_station.get(station_id, 0.0) + share
    return weights


class StationRouter:
    """Home stations of records, and whether they belong to this process.

    ``local`` are the stations this process runs. When it runs every station of the
    configuration, nothing is ever forwarded (the single-process factory).
    """

    def __init__(self, config: FactoryConfig, local: Iterable[str]) -> None:
        self.local = frozenset(local)
        self.station_ids = [s.id for s in config.stations]
        self.scaled_out = not self.local >= set(self.station_ids)
        self._component_weights = component_weights(config)
        self._order_weights: dict[str, dict[str, float]] = {}
        for station in config.stations:
            for widget_type in station.builds:
                self._order_weights.setdefault(widget_type, {})[station.id] = 1.0

    def component_home(self, component_id: str, component_type: str) -> str | None:
        """The station that stocks this component (None: no station uses its type)."""
        weights = self._component_weights.get(component_type)
        return rendezvous(component_id, weights) if weights else None

    def order_home(self, order_id: str, widget_type: str) -> str | None:
        """The station that builds this order (None: no station builds its type)."""
        weights = self._order_weights.get(widget_type)
        return rendezvous(order_id, weights) if weights else None

    def component_target(self, component_id: str, component_type: str) -> str | None:
        """Where to forward this component, or None to keep it in this process."""
        if not self.scaled_out:
            return None
        home = self.component_home(component_id, component_type)
        return None if home is None or home in self.local else home

    def order_target(self, order_id: str, widget_type: str) -> str | None:
        """Where to forward this order, or None to keep it in this process."""
        if not self.scaled_out:
            return None
        home = self.order_home(order_id, widget_type)
        return None if home is None or home in self.local else home

    def partition_of(self, station_id: str, partitions: int) -> int:
        """The handoff-topic partition a station reads (stations are spread in config
        order; with more stations than partitions some share one, filtered by key)."""
        return self.station_ids.index(station_id) % max(1, partitions)
