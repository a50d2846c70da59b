"""``widget-factory run``: the whole factory from one command.

Starts the embedded broker unless bootstrap servers are given, creates the topics,
then runs every service as its own process (they talk only through Kafka, as in the
walkthrough's four terminals) with one shared simulated clock. Ctrl-C stops them all,
each finishing its step, flushing and committing. A bounded run (``--duration``) ends
with a drain: producers stop at the end time, then assembly, quality control and the
inventory, in that order, finish what is in flight and exit once caught up.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from widget_factory.children import die_with_parent
from widget_factory.kafka_io.broker import EmbeddedBroker, port_in_use
from widget_factory.kafka_io.cluster_identity import EXIT_CLUSTER_REPLACED, RUN_STOPPED
from widget_factory.kafka_io.settings import KafkaSettings

__all__ = ["FactoryRun", "Child", "embedded_or_given", "deal", "service_layout"]

log = logging.getLogger("factory")

PRODUCERS = ("telemetry", "components")
CONSUMERS = ("assembly", "quality", "inventory")
"""Drain order: each consumes what the one before it produced."""

STOP_GRACE_S = 8.0


@dataclass
class Child:
    name: str
    argv: list[str]
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0

    def start(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            self.argv,
            env=env,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches the supervisor, which stops us in order
            preexec_fn=die_with_parent,
        )

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal(self, signum: int) -> None:
        if self.alive:
            assert self.process is not None
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signum)


@contextlib.contextmanager
def embedded_or_given(
    settings: KafkaSettings,
) -> Iterator[tuple[KafkaSettings, EmbeddedBroker | None]]:
    """The given cluster, or a fresh embedded broker (on 9092 when free, so other
    terminals' commands find it by default) for as long as the block lasts."""
    if settings.source in ("flag", "environment"):
        yield settings, None
        return
    broker = EmbeddedBroker(9092 if not port_in_use(9092) else 0)
    broker.start()
    try:
        yield settings.with_bootstrap(broker.bootstrap_servers, "embedded"), broker
    finally:
        broker.stop()


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


def deal(items: Sequence[str], hands: int) -> list[list[str]]:
    """``items`` dealt round-robin into ``hands`` non-empty lists (in order)."""
    return [list(items[i::hands]) for i in range(hands)]


def service_layout(
    services: Sequence[str],
    shared: Sequence[str],
    *,
    stations: Sequence[str] = (),
    station_processes: int = 1,
    inspectors: Sequence[str] = (),
    inspector_processes: int = 1,
) -> dict[str, list[str]]:
    """Per child name (``assembly#2`` for the second of several), its arguments.

    With ``station_processes`` > 1 the stations are dealt among that many assembly
    processes (``--station``, repeated), one group ``assembly-stations``; only the first
    publishes production orders. Quality control is dealt out likewise by inspector.
    One process of a kind gets no such flags: it runs every station (or inspector).

    Quality control and inventory get no ``--duration``: in a bounded run the supervisor
    drains them once assembly has delivered its last widget, which may complete after the
    end time."""
    layout: dict[str, list[str]] = {}
    for name in services:
        if name in ("quality", "inventory"):
            shared_here = _without_duration(shared)
        else:
            shared_here = list(shared)
        if name == "assembly" and station_processes > 1:
            for index, hand in enumerate(deal(stations, station_processes), start=1):
                args = [*shared, *(a for s in hand for a in ("--station", s))]
                layout[f"assembly#{index}"] = args + (["--no-orders"] if index > 1 else [])
        elif name == "quality" and inspector_processes > 1:
            for index, hand in enumerate(deal(inspectors, inspector_processes), start=1):
                layout[f"quality#{index}"] = [
                    *shared_here,
                    *(a for i in hand for a in ("--inspector", i)),
                ]
        else:
            layout[name] = shared_here
    return layout


def _without_duration(args: Sequence[str]) -> list[str]:
    result: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg == "--duration":
            skip = True
        else:
            result.append(arg)
    return result


def common_service_args(
    *,
    bootstrap: str,
    speed: str,
    seed: int | None,
    duration: str | None,
    start: float,
    anchor_wall: float,
    config: str | None,
    kafka_config: str | None,
    overrides: Sequence[str],
    debug: bool,
) -> list[str]:
    args = [
        "--bootstrap-servers",
        bootstrap,
        "--speed",
        speed,
        "--start",
        repr(start),
        "--anchor-wall",
        repr(anchor_wall),
    ]
    if seed is not None:
        args += ["--seed", str(seed)]
    if duration:
        args += ["--duration", duration]
    if config:
        args += ["--config", config]
    if kafka_config:
        args += ["--kafka-config", kafka_config]
    for override in overrides:
        args += ["-X", override]
    if debug:
        args.append("--debug")
    return args
