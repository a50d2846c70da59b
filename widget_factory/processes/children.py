"""Child processes that do not outlive their parent."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["die_with_parent", "start_child", "running", "signal_running", "Child"]


def die_with_parent() -> None:
    """For ``Popen(preexec_fn=...)``: on Linux the child gets SIGTERM when its parent dies,
    even by SIGKILL, so a killed ``run`` or ``broker`` leaves no orphaned service or
    broker behind. Elsewhere a no-op."""
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def start_child(argv: Sequence[str], env: Mapping[str, str]) -> subprocess.Popen[bytes]:
    """Start ``argv`` in a session of its own (Ctrl-C reaches only the parent, which stops
    its children in order), with no stdin, dying with its parent."""
    return subprocess.Popen(
        list(argv),
        env=dict(env),
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        preexec_fn=die_with_parent,
    )


def running(process: subprocess.Popen[bytes] | None) -> bool:
    """Started and not yet exited."""
    return process is not None and process.poll() is None


def signal_running(process: subprocess.Popen[bytes] | None, signum: int) -> None:
    """Send ``signum`` to a running process; one that is gone (or never started) is left
    alone, even when it exits between the check and the signal."""
    if process is not None and running(process):
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signum)


@dataclass
class Child:
    """One supervised child: its name, command line and (once started) its process."""

    name: str
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0

    def start(self, env: dict[str, str]) -> None:
        self.process = start_child(self.argv, env)

    @property
    def alive(self) -> bool:
        return running(self.process)

    def signal(self, signum: int) -> None:
        signal_running(self.process, signum)
