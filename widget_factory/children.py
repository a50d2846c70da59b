"""Child processes that do not outlive their parent."""

from __future__ import annotations

import contextlib
import signal
import sys

__all__ = ["die_with_parent"]


def die_with_parent() -> None:
    """For ``Popen(preexec_fn=...)``: on Linux the child gets SIGTERM when its parent dies,
    even by SIGKILL, so a killed ``run`` or ``broker`` leaves no orphaned service or
    broker behind. Elsewhere a no-op."""
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
