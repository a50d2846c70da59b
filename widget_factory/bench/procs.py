"""Watching the services' processes: peak resident memory, and their logs out of the way."""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

__all__ = ["peak_rss_mb", "cpu_seconds", "RssSampler", "output_to"]


def _status_kb(pid: int, field: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def cpu_seconds(pid: int) -> float | None:
    """CPU time the process has used so far (user + system, all threads), in seconds."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / _TICKS
    except (OSError, ValueError, IndexError):
        return None


def peak_rss_mb(pid: int) -> float | None:
    """The process's peak resident set size so far (``VmHWM``), in MiB; None when it is
    gone or the platform has no ``/proc``."""
    kb = _status_kb(pid, "VmHWM:")
    return None if kb is None else kb / 1024


class RssSampler:
    """Samples the peak RSS of a changing set of processes every ``interval`` seconds.

    ``pids`` is called at each sample and names the processes to watch now (``name ->
    pid``); :attr:`peaks` keeps each name's highest ``VmHWM`` seen. ``VmHWM`` is the
    kernel's own high-water mark, so a peak between two samples is not missed as long as
    one sample lands before the process exits. :attr:`cpu` keeps each name's CPU
    seconds as last seen (the time up to its last sample: a process busy until the end
    is drained and idle by then).
    """

    def __init__(self, pids: Callable[[], dict[str, int]], interval: float = 0.2) -> None:
        self._pids = pids
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self.peaks: dict[str, float] = {}
        self.cpu: dict[str, float] = {}

    def sample(self) -> None:
        for name, pid in self._pids().items():
            mb = peak_rss_mb(pid)
            if mb is not None and mb > self.peaks.get(name, 0.0):
                self.peaks[name] = mb
            cpu = cpu_seconds(pid)
            if cpu is not None:
                self.cpu[name] = cpu

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self._interval)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@contextlib.contextmanager
def output_to(path: Path) -> Iterator[None]:
    """Send this process's stdout and stderr (file descriptors 1 and 2, so child processes
    too) to ``path`` for the duration of the block: the services' logs stay readable
    there and the bench's own output stays clean."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(path, "ab") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])
