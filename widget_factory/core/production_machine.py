"""One production machine's constants and state.

:class:`ProductionMachine` is read in the generator's hot loop
(:class:`~widget_factory.core.production.ComponentProduction`), hence slots; each has
its own seeded ``random.Random``, walks its part of its component type's id sequence
(:func:`~widget_factory.core.machine_share.id_sequences`) and carries its wear gauge
(core/quality_drift.py). :class:`KindAllowance` is a component type's kanban
allowance, shared by the machines that make it.
"""

from __future__ import annotations

import math
import random

from widget_factory.core.quality_drift import WearGauge
from widget_factory.factory_config import FactoryConfig, MachineSpec
from widget_factory.schemas import MachineStatus

__all__ = ["KindAllowance", "ProductionMachine"]


class KindAllowance:
    """One component type's kanban allowance, shared by the machines that make it."""

    __slots__ = ("left", "parked")

    def __init__(self) -> None:
        self.left: float = math.inf
        self.parked: list[ProductionMachine] = []


class ProductionMachine:
    """One production machine's constants and mutable state (slots: read in the hot loop)."""

    __slots__ = (
        "index",
        "id",
        "component_type",
        "production_line",
        "cycle_low",
        "cycle_span",
        "weight_mean",
        "weight_sd",
        "length",
        "width",
        "height",
        "status",
        "batch_id",
        "batch_left",
        "produced",
        "degraded_left",
        "rng",
        "id_prefix",
        "id_counter",
        "id_stride",
        "kind",
        "parked",
        "gauge",
        "drift_from",
    )

    def __init__(
        self,
        index: int,
        spec: MachineSpec,
        config: FactoryConfig,
        seed: int,
        ids: tuple[int, int],
        kind: KindAllowance,
        start: float,
    ) -> None:
        component = config.component_types[spec.component_type]
        self.index = index
        self.rng = random.Random(seed)
        self.id_prefix = f"COMP_{spec.component_type.upper()}_"
        self.id_counter, self.id_stride = ids
        """Next counter value of the type's id sequence, and the step to this machine's next."""
        self.id = spec.id
        self.component_type = spec.component_type
        self.production_line = f"LINE_{spec.location.line}"
        self.cycle_low = float(spec.cycle_time_s[0])
        self.cycle_span = float(spec.cycle_time_s[1]) - self.cycle_low
        self.weight_mean = float(component.weight_grams[0])
        self.weight_sd = float(component.weight_grams[1])
        self.length, self.width, self.height = (float(d) for d in component.dimensions_mm)
        self.status = MachineStatus.RUNNING
        self.batch_id = ""
        self.batch_left = 0
        self.produced = 0
        self.degraded_left = 0
        """Components still to make in the settling-in period after a repair."""
        self.kind = kind
        self.parked = False
        self.gauge = WearGauge(
            spec.id, start, config.telemetry.wear_per_hour, config.quality.drift_at_wear
        )
        """Wear and quality drift (core/quality_drift.py)."""
        self.drift_from = self.gauge.drift_from
        """Parts made from this simulated time on drift (until the status changes)."""
