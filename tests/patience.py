"""How long a test may wait: idle-machine figures scaled to how busy the machine is.

A wait that is a fixed 15 s on an idle machine fails on a busy one (a load average of 6
on 2 cores makes every process several times slower), and a test that passes alone must
pass beside a second factory. So every ceiling is ``ceiling(idle_seconds)``: at least
3x the idle figure, more as the load per core grows. ``WF_TEST_PATIENCE`` sets the
factor. Ceilings are for waiting on conditions; speed promises (a stop within 5 s) are
measured and printed, and benchmarked by ``widget-factory bench``.
"""

from __future__ import annotations

import os

__all__ = ["patience", "ceiling"]


def patience() -> float:
    """The factor applied to idle-machine waiting times (at least 3)."""
    configured = os.environ.get("WF_TEST_PATIENCE")
    if configured:
        return max(1.0, float(configured))
    try:
        load = os.getloadavg()[0] / (os.cpu_count() or 1)
    except OSError:
        load = 1.0
    return max(3.0, 1.5 * load + 1.5)


def ceiling(seconds: float) -> float:
    """``seconds`` on an idle machine, as a generous ceiling on this one."""
    return seconds * patience()
