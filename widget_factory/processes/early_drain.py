"""A drain request that arrives while a service is still starting.

``run`` ends a bounded run by sending SIGUSR1 to each consumer stage once the producers
have finished. On a busy machine a service can still be importing at that moment, and
SIGUSR1's default action is to end the process: the service would die instead of
draining. ``python -m widget_factory`` therefore installs this handler first of all
(standard library only, before the heavy imports); it only remembers the request, and
:class:`~widget_factory.processes.lifecycle.Lifecycle` acts on it once the service's own
handlers are in place.
"""

from __future__ import annotations

import signal
from types import FrameType

__all__ = ["remember_drain_requests", "drain_requested"]

_requested = False


def _remember(signum: int, frame: FrameType | None) -> None:
    global _requested
    _requested = True


def remember_drain_requests() -> None:
    """Hold SIGUSR1 until the service is ready for it (a no-op where it does not exist)."""
    if hasattr(signal, "SIGUSR1"):
        signal.signal(signal.SIGUSR1, _remember)


def drain_requested() -> bool:
    """Whether a drain was asked for before the service's handlers were installed."""
    return _requested
