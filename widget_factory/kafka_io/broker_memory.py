"""Watching the embedded broker's memory during ``run`` (the decisions are in
:mod:`widget_factory.core.memory_budget`).

The broker keeps every record in memory, so ``run`` reads its resident memory once a
second (``VmRSS`` in ``/proc/<pid>/status`` on Linux; elsewhere there is nothing to read
and the guard says so once and stands down), warns at 80 % of the budget and, before the
budget is reached, stops production and lets the factory drain: the audit stays intact
and the broker is never killed for want of memory.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Mapping

from widget_factory.core.memory_budget import (
    STOP_SHARE,
    BudgetWatch,
    Verdict,
    default_budget,
    format_size,
    parse_size,
)
from widget_factory.errors import UsageError

__all__ = [
    "BROKER_MEMORY_ENV",
    "resident_bytes",
    "total_memory",
    "resolve_budget",
    "local_broker_pid",
    "BrokerMemoryGuard",
]

log = logging.getLogger("factory")

BROKER_MEMORY_ENV = "WIDGET_FACTORY_BROKER_MEMORY"
"""Environment fallback for ``run --broker-memory``."""


def _status_kb(path: str, field: str) -> int | None:
    try:
        with open(path, encoding="ascii") as status:
            for line in status:
                if line.startswith(field):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def resident_bytes(pid: int) -> int | None:
    """The process's resident memory now; None when it is gone or there is no ``/proc``."""
    return _status_kb(f"/proc/{pid}/status", "VmRSS:")


def total_memory() -> int | None:
    """The machine's memory (``MemTotal``); None where ``/proc/meminfo`` is missing."""
    return _status_kb("/proc/meminfo", "MemTotal:")


def local_broker_pid(bootstrap: str) -> int | None:
    """The pid of an embedded broker (tansu) listening on this machine at ``bootstrap``
    (``widget-factory broker`` in another terminal), when this user can see it; None
    for anything else, e.g. an Apache Kafka on localhost, whose memory has retention."""
    host, _, port_text = bootstrap.strip().rpartition(":")
    if "," in bootstrap or host not in ("127.0.0.1", "localhost") or not port_text.isdigit():
        return None
    inodes = _listening_inodes(int(port_text))
    if not inodes:
        return None
    for entry in _proc_entries():
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                if b"tansu" not in cmdline.read().split(b"\0", 1)[0]:
                    continue
            for fd in os.listdir(f"/proc/{entry}/fd"):
                if os.readlink(f"/proc/{entry}/fd/{fd}") in inodes:
                    return int(entry)
        except OSError:
            continue
    return None


def _proc_entries() -> list[str]:
    try:
        return [entry for entry in os.listdir("/proc") if entry.isdigit()]
    except OSError:
        return []


def _listening_inodes(port: int) -> set[str]:
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table, encoding="ascii") as lines:
                next(lines, None)
                for line in lines:
                    fields = line.split()
                    listening = len(fields) > 9 and fields[3] == "0A"
                    if listening and int(fields[1].rsplit(":", 1)[1], 16) == port:
                        found.add(f"socket:[{fields[9]}]")
        except (OSError, ValueError, IndexError):
            continue
    return found


def resolve_budget(flag: str | None, environ: Mapping[str, str]) -> int | None:
    """Bytes from ``--broker-memory``, else ``WIDGET_FACTORY_BROKER_MEMORY``, else the
    default (1 GiB, or a quarter of a smaller machine's memory); None: ``off``."""
    text, source = flag, "--broker-memory"
    if text is None and environ.get(BROKER_MEMORY_ENV, "").strip():
        text, source = environ[BROKER_MEMORY_ENV], BROKER_MEMORY_ENV
    if text is None:
        return default_budget(total_memory())
    try:
        return parse_size(text)
    except ValueError as exc:
        raise UsageError(f"{source}: {exc}") from None


class BrokerMemoryGuard:
    """A daemon thread sampling the broker's memory; calls ``stop_production`` once."""

    def __init__(
        self,
        pid: int,
        budget: int,
        stop_production: Callable[[], None],
        *,
        every_s: float = 1.0,
        read: Callable[[int], int | None] = resident_bytes,
    ) -> None:
        self.pid = pid
        self.watch = BudgetWatch(budget)
        self._stop_production = stop_production
        self._every_s = every_s
        self._read = read
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="broker-memory", daemon=True)
        self.peak = 0

    def start(self) -> BrokerMemoryGuard:
        if self._read(self.pid) is None:
            log.info(
                "Broker memory is not readable on this system; no memory guard "
                "(long runs: use a real Kafka with retention, docs/performance.md)"
            )
            return self
        log.info(
            "Embedded broker memory budget %s (--broker-memory): a warning at 80 %%, "
            "production stops and the factory drains at %.0f %%",
            format_size(self.watch.budget),
            100 * STOP_SHARE,
        )
        self._thread.start()
        return self

    def _run(self) -> None:
        budget = self.watch.budget
        while not self._done.wait(self._every_s):
            rss = self._read(self.pid)
            if rss is None:
                return  # the broker is gone: the run is ending
            self.peak = max(self.peak, rss)
            for verdict in self.watch.observe(time.monotonic(), rss):
                if verdict is Verdict.WARN:
                    log.warning(
                        "The embedded broker holds %s of its %s budget (%.0f %%); production "
                        "stops at %.0f %% (--broker-memory; long runs: a real Kafka)",
                        format_size(rss),
                        format_size(budget),
                        100 * rss / budget,
                        100 * STOP_SHARE,
                    )
                else:
                    log.warning(
                        "The embedded broker holds %s of its %s budget: stopping production "
                        "and draining the factory (--broker-memory raises it)",
                        format_size(rss),
                        format_size(budget),
                    )
                    self._stop_production()
                    return

    def stop(self) -> None:
        self._done.set()
        if self._thread.is_alive():
            self._thread.join(2.0)
