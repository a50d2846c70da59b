"""Defect counts of the parts a machine makes, by the machine's state: in good order,
settling in right after a repair, or drifting because it is worn (core/quality_drift.py).

Each table gives the chances of 0, 1, 2 and 3 defects on one part; production draws one
uniform number a part and reads the count off the cumulative chances, so the state
changes the counts but never the stream of draws.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "HEALTHY_DEFECT_WEIGHTS",
    "DEGRADED_DEFECT_WEIGHTS",
    "HEALTHY_CUMULATIVE",
    "DEGRADED_CUMULATIVE",
    "DRIFT_ONSET_WEIGHTS",
    "WORN_OUT_WEIGHTS",
    "drift_defects",
]

HEALTHY_DEFECT_WEIGHTS: Final = (0.80, 0.15, 0.04, 0.01)
"""Chances of defect counts 0/1/2/3 on a component of a machine in good order (the
walkthrough's 80/15/4/1): minor flaws every line has, part of its normal yield."""

DEGRADED_DEFECT_WEIGHTS: Final = (0.25, 0.35, 0.25, 0.15)
"""Chances of defect counts 0/1/2/3 on a component made in the settling-in cycles right
after its machine's repair (``simulation.degraded_after_repair``)."""

HEALTHY_CUMULATIVE: Final = (0.80, 0.95, 0.99)
DEGRADED_CUMULATIVE: Final = (0.25, 0.60, 0.85)
"""Cumulative chances of 0, up to 1 and up to 2 defects of the two tables above."""

DRIFT_ONSET_WEIGHTS: Final = (0.45, 0.30, 0.15, 0.10)
"""Chances of defect counts 0/1/2/3 on a part of a machine whose wear just passed
``quality.drift_at_wear`` (0.9 defects a part, against 0.26 in good order)."""

WORN_OUT_WEIGHTS: Final = (0.15, 0.30, 0.30, 0.25)
"""The same at wear 1 (1.65 defects a part); in between, the chances move linearly."""

_ONSET: Final = (0.45, 0.75, 0.90)
_WORN: Final = (0.15, 0.45, 0.75)
"""Cumulative chances of the two drift tables."""


def drift_defects(severity: float, u: float) -> int:
    """A part's defect count from a uniform draw ``u`` at drift ``severity`` (0 at the
    threshold, 1 worn out): the cumulative chances of the two weight sets, interpolated."""
    s = min(1.0, max(0.0, severity))
    for count, (onset, worn) in enumerate(zip(_ONSET, _WORN, strict=True)):
        if u < onset + (worn - onset) * s:
            return count
    return 3
