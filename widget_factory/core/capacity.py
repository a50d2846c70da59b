"""How many widgets an hour a factory can build, and the order rate that keeps it busy.

Random orders (:class:`~widget_factory.core.orders.OrderGenerator`) pick a buildable
widget type uniformly, so in the long run every type is an equal share of the units
ordered. Two things bound the widgets per hour of that mix:

- **components**: each machine makes one component per mean cycle (plus its share of
  brief stoppages), while it is up; a component type's supply over its use per widget
  of the mix bounds the widgets. In the reference factory the one sensor machine
  (300-420 s a sensor, used by half the mix) is the bottleneck at about 18 widgets an hour;
- **stations**: each station's hours go to the types it builds. The mix fits when, for
  every set of types, their assembly hours fit in the stations that build any of them
  (the fractional assignment problem's condition), which gives the largest rate exactly.

Machines and stations are up :func:`availability` of the time: breakdowns at the rate of
a half-worn machine, each followed by a mean repair, plus scheduled maintenance whenever
wear reaches its limit. Everything here is pure arithmetic on the configuration.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

from widget_factory.factory_config import FactoryConfig

__all__ = [
    "DEFAULT_UTILISATION",
    "Capacity",
    "availability",
    "order_mix",
    "capacity",
    "order_interval_for",
    "utilisation",
]

DEFAULT_UTILISATION = 0.85
"""The share of capacity random demand should ask for: busy, with room for variation."""

_HOUR = 3600.0


def _mean(pair: tuple[float, float]) -> float:
    return (pair[0] + pair[1]) / 2.0


def availability(config: FactoryConfig) -> float:
    """The long-run share of time a machine is up (0..1): breakdowns at the rate of a
    machine worn half-way to maintenance, each down for a mean repair, and a mean
    maintenance every time wear grows from 0 to ``maintenance_at_wear``."""
    tel = config.telemetry
    wear = tel.maintenance_at_wear / 2.0
    breakdowns = tel.error_rate_per_hour * (1.0 + tel.wear_error_factor * wear)
    down = breakdowns * _mean(tel.repair_s) / _HOUR
    if tel.wear_per_hour > 0 and tel.maintenance_at_wear > 0:
        hours_between = tel.maintenance_at_wear / tel.wear_per_hour
        down += _mean(tel.maintenance_s) / _HOUR / hours_between
    return 1.0 / (1.0 + down)


def order_mix(config: FactoryConfig) -> dict[str, float]:
    """Widget type -> its share of the units random orders ask for."""
    types = sorted({w for s in config.stations for w in s.builds})
    return {t: 1.0 / len(types) for t in types} if types else {}


@dataclass(frozen=True)
class Capacity:
    """Widgets per hour of the order mix that each resource allows."""

    stations: float
    """All stations together, each type on the stations that build it."""
    components: dict[str, float]
    """Per component type: its supply over its use per widget of the mix."""

    @property
    def widgets_per_hour(self) -> float:
        """What the factory can build: the tightest of all the bounds."""
        return min(self.stations, *self.components.values())

    @property
    def bottleneck(self) -> str:
        """``"stations"`` or the component type whose supply binds first."""
        name, rate = "stations", self.stations
        for component, bound in sorted(self.components.items()):
            if bound < rate:
                name, rate = component, bound
        return name


def _station_bound(config: FactoryConfig, mix: dict[str, float], up: float) -> float:
    """The largest widgets/hour whose assembly hours can be spread over the stations."""
    hours = {t: share * config.widget_types[t].assembly_time_s / _HOUR for t, share in mix.items()}
    builders = {t: {s.id for s in config.stations if t in s.builds} for t in mix}
    best = float("inf")
    types = sorted(mix)
    for size in range(1, len(types) + 1):
        for subset in combinations(types, size):
            need = sum(hours[t] for t in subset)
            stations = set().union(*(builders[t] for t in subset))
            if need > 0:
                best = min(best, len(stations) * up / need)
    return best


def capacity(config: FactoryConfig) -> Capacity:
    """The widgets per hour each resource of ``config`` allows, for the random order mix."""
    sim = config.simulation
    up = availability(config)
    mix = order_mix(config)
    stop = sim.stoppage_probability * _mean(sim.stoppage_s)
    supply: dict[str, float] = {}
    for machine in config.machines:
        per_hour = _HOUR / (_mean(machine.cycle_time_s) + stop) * up
        supply[machine.component_type] = supply.get(machine.component_type, 0.0) + per_hour
    use: dict[str, float] = {}
    for widget_type, share in mix.items():
        for component in config.widget_types[widget_type].recipe:
            use[component] = use.get(component, 0.0) + share
    components = {c: supply.get(c, 0.0) / n for c, n in use.items() if n > 0}
    return Capacity(_station_bound(config, mix, up), components)


def order_interval_for(config: FactoryConfig, target: float = DEFAULT_UTILISATION) -> float:
    """Mean simulated seconds between random orders that ask for ``target`` (0..1] of
    the factory's capacity, given the mean ``order_quantity``."""
    if not 0 < target <= 1:
        raise ValueError(f"utilisation must be in (0, 1], got {target}")
    units = _mean(config.simulation.order_quantity)
    return units * _HOUR / (target * capacity(config).widgets_per_hour)


def utilisation(config: FactoryConfig) -> float:
    """The share of capacity the configured order rate asks for (above 1: backlog grows)."""
    sim = config.simulation
    demand = _mean(sim.order_quantity) * _HOUR / sim.order_interval_s
    return demand / capacity(config).widgets_per_hour
