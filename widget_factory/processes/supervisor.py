"""The factory's services as child processes, supervised: how ``widget-factory run``
(and the bench and scenarios) run the whole factory.

Every service runs as its own process (they talk only through Kafka, as in the
walkthrough's four terminals) with one shared simulated clock. Ctrl-C stops them all,
each finishing its step, flushing and committing. A bounded run (``--duration``) ends
with a drain: producers stop at the end time, then assembly, quality control and the
inventory, in that order, finish what is in flight and exit once caught up.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

from widget_factory.kafka_io.cluster_identity import EXIT_CLUSTER_REPLACED, RUN_STOPPED
from widget_factory.processes.children import Child

__all__ = ["FactoryRun", "PRODUCERS", "CONSUMERS"]

log = logging.getLogger("factory")

PRODUCERS = ("telemetry", "components")
CONSUMERS = ("assembly", "quality", "inventory")
"""Drain order: each consumes what the one before it produced."""

STOP_GRACE_S = 8.0


@dataclass
class FactoryRun:
    """Runs the services as child processes until stopped or drained."""

    service_args: dict[str, list[str]]
    """Per service name, the arguments after ``widget-factory NAME``."""
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    bounded: bool = False
    children: dict[str, Child] = field(default_factory=dict)
    _stopping: bool = False

    def _argv(self, name: str) -> list[str]:
        base = name.split("#", 1)[0]
        return [sys.executable, "-m", "widget_factory", base, *self.service_args[name]]

    def start(self) -> None:
        for name in self.service_args:
            child = Child(name, self._argv(name))
            child.start(self.env)
            self.children[name] = child

    def _on_signal(self, signum: int, frame: object) -> None:
        if self._stopping:
            for child in self.children.values():
                child.signal(signal.SIGKILL)
            raise KeyboardInterrupt
        self._stopping = True

    def wait(self) -> int:
        """Supervise until Ctrl-C/SIGTERM, a service failing, or the end of a bounded run."""
        previous = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            status = self._watch()
        finally:
            self.stop()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
        return status

    def _watch(self) -> int:
        while not self._stopping:
            for child in self.children.values():
                if child.process is None or child.alive:
                    continue
                code = child.process.returncode
                if code == EXIT_CLUSTER_REPLACED:  # the broker restarted empty
                    log.error("%s", RUN_STOPPED)
                    return EXIT_CLUSTER_REPLACED
                if code != 0:
                    log.error(
                        "the %s service exited with status %s; stopping the factory",
                        child.name,
                        code,
                    )
                    return 1
            if self.bounded and all(
                not c.alive for n, c in self.children.items() if n.split("#")[0] in PRODUCERS
            ):
                return self._drain()
            time.sleep(0.2)
        return 0

    def _drain(self, timeout: float = 120.0) -> int:
        """Producers are done: let each consumer stage catch up and exit, in order."""
        for stage in CONSUMERS:
            members = [c for n, c in self.children.items() if n.split("#")[0] == stage]
            for child in members:
                child.signal(signal.SIGUSR1)
            deadline = time.monotonic() + timeout
            while (
                any(c.alive for c in members) and time.monotonic() < deadline and not self._stopping
            ):
                time.sleep(0.1)
            for child in members:
                if child.alive:
                    log.warning("%s did not drain within %.0f s; stopping it", child.name, timeout)
                    child.signal(signal.SIGTERM)
        failed = {
            name: child.process.wait()
            for name, child in self.children.items()
            if child.process is not None and child.process.wait() != 0
        }
        if EXIT_CLUSTER_REPLACED in failed.values():  # the broker restarted empty
            log.error("%s", RUN_STOPPED)
            return EXIT_CLUSTER_REPLACED
        for name, code in failed.items():
            log.error("the %s service ended with status %s", name, code)
        return 1 if failed else 0

    def stop(self) -> None:
        """SIGTERM to every service, then SIGKILL for any still running after the grace."""
        for child in self.children.values():
            child.signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for child in self.children.values():
            if child.process is None:
                continue
            try:
                child.process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop within %.0f s; killing it", child.name, STOP_GRACE_S)
                child.signal(signal.SIGKILL)
                child.process.wait()
