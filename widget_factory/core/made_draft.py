"""What production's hot loop decides about each component of a batch, and the
arithmetic that turns a component's draws into its measurements.

core/production.py fills a :class:`MadeDraft` in event order; the records are written
from it afterwards, one by one (:func:`measured` and core/fast_encode.py) or, for a
large batch, all at once (core/component_text.py, which needs numpy). Both give the
same bytes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

from widget_factory.core.production_machine import ProductionMachine

__all__ = [
    "DIMENSION_SD",
    "MIN_WEIGHT_G",
    "TEMPERATURE_MEAN",
    "TEMPERATURE_SD",
    "MadeDraft",
    "measured",
]

DIMENSION_SD: Final = 0.005
"""Relative standard deviation of each dimension around its nominal value."""
TEMPERATURE_MEAN: Final = 22.0
TEMPERATURE_SD: Final = 2.0
"""Mean and standard deviation of a component's temperature at production, in °C."""
MIN_WEIGHT_G: Final = 0.1
"""Weights are clipped here: a normal draw far in the tail must not weigh nothing."""

_TWO_PI: Final = 2.0 * math.pi


class MadeDraft:
    """What the hot loop decided about each component of a batch, in order: the
    columns the records are written from."""

    __slots__ = (
        "machines",
        "times",
        "ids",
        "serials",
        "batches",
        "uniforms",
        "defects",
        "degraded",
    )

    def __init__(self) -> None:
        self.machines: list[ProductionMachine] = []
        self.times: list[float] = []
        self.ids: list[int] = []
        """Each event id's 128 bits, version 4 bits set."""
        self.serials: list[str] = []
        """Each component id's eight hex digits after its machine's prefix."""
        self.batches: list[str] = []
        self.uniforms: list[float] = []
        """Six uniform draws per component, for its five normals."""
        self.defects: list[int] = []
        self.degraded: list[bool] = []


def measured(
    machine: ProductionMachine, uniforms: Sequence[float]
) -> tuple[float, float, float, float, float]:
    """Weight, length, width, height and temperature of a component from its six
    uniform draws, rounded as recorded: five standard normals from three Box-Muller
    pairs (``1 - u`` avoids ``log(0)``), values rounded by ``round(x * 100) / 100``."""
    u1, u2, u3, u4, u5, u6 = uniforms
    log, sqrt, cos, sin = math.log, math.sqrt, math.cos, math.sin
    r = sqrt(-2.0 * log(1.0 - u1))
    a = _TWO_PI * u2
    n_weight, n_temperature = r * cos(a), r * sin(a)
    r = sqrt(-2.0 * log(1.0 - u3))
    a = _TWO_PI * u4
    n_length, n_width = r * cos(a), r * sin(a)
    n_height = sqrt(-2.0 * log(1.0 - u5)) * cos(_TWO_PI * u6)
    weight = machine.weight_mean + machine.weight_sd * n_weight
    if weight < MIN_WEIGHT_G:
        weight = MIN_WEIGHT_G
    return (
        round(weight * 100.0) / 100.0,
        round(machine.length * (1.0 + DIMENSION_SD * n_length) * 100.0) / 100.0,
        round(machine.width * (1.0 + DIMENSION_SD * n_width) * 100.0) / 100.0,
        round(machine.height * (1.0 + DIMENSION_SD * n_height) * 100.0) / 100.0,
        round((TEMPERATURE_MEAN + TEMPERATURE_SD * n_temperature) * 10.0) / 10.0,
    )
