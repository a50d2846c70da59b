"""What every service shares: resolved options, the lifecycle, signals, log pacing.

A service's life: ``run()`` loops while running; SIGINT/SIGTERM ask it to stop (finish
the step, flush, commit, exit); SIGUSR1 asks it to drain (no new work; exit once its
input is consumed and its work is done) - ``run`` uses that to end bounded runs cleanly.
"""

from __future__ import annotations

import faulthandler
import logging
import math
import random
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType

from widget_factory.core.clock import SimClock, format_sim_duration, to_datetime
from widget_factory.core.event_format import format_time
from widget_factory.core.machine_share import WHOLE_FACTORY, MachineShare
from widget_factory.factory_config import FactoryConfig
from widget_factory.kafka_io.settings import KafkaSettings
from widget_factory.processes.early_drain import drain_requested

__all__ = ["ServiceOptions", "Lifecycle", "LogPacer", "describe_speed"]


@dataclass(frozen=True)
class ServiceOptions:
    """Everything a service needs, resolved once by the CLI."""

    settings: KafkaSettings
    config: FactoryConfig
    speed: float | None
    """Simulated seconds per wall second; None runs as fast as possible (virtual time)."""
    seed: int | None = None
    duration: float | None = None
    """Simulated seconds to run; None runs until stopped."""
    start: float = field(default_factory=time.time)
    """Simulated time at the start (epoch seconds); ``run`` gives all services the same."""
    anchor_wall: float | None = None
    """Wall time at which simulated time equals ``start`` (default: the service's start)."""
    stations: tuple[str, ...] = ()
    """Assembly: the stations this process runs (empty: all of the config's)."""
    inspectors: tuple[str, ...] = ()
    """Quality control: the inspectors this process runs (empty: all of the config's)."""
    generate_orders: bool = True
    """Assembly: publish the opening and random orders (one process of a scaled-out group)."""
    share: MachineShare = WHOLE_FACTORY
    """Components and telemetry: the machines this process makes (``--workers``)."""
    quiet: bool = False
    event_time_order: bool = False
    """Set by ``run`` and scenarios for their services (hidden ``--lockstep``)."""
    telemetry_wait_s: float = 10.0
    """Components: wall seconds to wait for the first machine telemetry before machines
    run without it (run and scenarios start telemetry too, so they wait longer)."""
    late_fraction: float = 0.0
    """Components and telemetry: the fraction of records sent late (core/edge_gateway.py)."""
    max_delay_s: float = 0.0
    """The latest a record is sent after its event time: producers delay up to it (with a
    late fraction), consumers hold their event-time watermarks this far back."""

    def clock(self) -> SimClock:
        return SimClock(self.start, self.speed, anchor_wall=self.anchor_wall, wall=time.time)

    def rng(self, purpose: str) -> random.Random:
        """An independent generator per purpose; reproducible when a seed is given."""
        if self.seed is None:
            return random.Random()
        return random.Random(f"{self.seed}:{purpose}")

    @property
    def end(self) -> float | None:
        return None if self.duration is None else self.start + self.duration

    @property
    def lockstep(self) -> bool:
        """Virtual time in a whole-factory ``run`` or scenario (``--lockstep``): each
        service follows its upstreams' event time (``core/lockstep.py``), so the same
        config, seed and start give the same records. A service started alone in virtual
        time does not wait for upstreams that may never run."""
        return self.speed is None and self.event_time_order


def describe_speed(options: ServiceOptions) -> str:
    speed = "as fast as possible" if options.speed is None else f"{options.speed:g}x real time"
    bound = (
        f", for {format_sim_duration(options.duration)} simulated"
        if options.duration is not None
        else ""
    )
    return (
        f"speed {speed}{bound}, simulated time starts {format_time(to_datetime(options.start))} UTC"
    )


class Lifecycle:
    """Stop and drain flags, set by signals or by the code; waits that wake on them."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._drain = threading.Event()
        self.signals_received = 0

    @property
    def running(self) -> bool:
        return not self._stop.is_set()

    def stopping(self) -> bool:
        """Asked to stop (for clients that must not block a stop: kafka_io/client.py)."""
        return self._stop.is_set()

    @property
    def draining(self) -> bool:
        return self._drain.is_set()

    def stop(self) -> None:
        self._stop.set()

    def drain(self) -> None:
        self._drain.set()

    def sleep(self, seconds: float) -> None:
        """Sleep, but wake at once when asked to stop."""
        if seconds > 0:
            self._stop.wait(seconds)

    def ignore_drain_requests(self) -> None:
        """Once the service has finished, a late SIGUSR1 must not kill the exiting process
        (its default action) while the interpreter shuts down."""
        if hasattr(signal, "SIGUSR1") and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGUSR1, signal.SIG_IGN)

    def install_signal_handlers(self) -> None:
        """SIGINT/SIGTERM: stop (a second one exits at once); SIGUSR1: drain; SIGQUIT:
        print every thread's stack (where a service is stuck)."""

        def on_stop(signum: int, frame: FrameType | None) -> None:
            self.signals_received += 1
            if self.signals_received > 1:
                raise KeyboardInterrupt
            self.stop()

        def on_drain(signum: int, frame: FrameType | None) -> None:
            self.drain()

        if threading.current_thread() is threading.main_thread():
            if hasattr(signal, "SIGQUIT"):
                # a service that will not stop can be asked where it is: every thread's
                # stack goes to stderr, and the service carries on
                faulthandler.register(signal.SIGQUIT, all_threads=True)
            signal.signal(signal.SIGINT, on_stop)
            signal.signal(signal.SIGTERM, on_stop)
            if hasattr(signal, "SIGUSR1"):
                signal.signal(signal.SIGUSR1, on_drain)
                if drain_requested():  # asked while the service was still starting
                    self.drain()


class LogPacer:
    """Logs events one line each, up to ``per_second``; beyond that, a count every few
    seconds - a fast factory must not drown the terminal (or spend its time logging)."""

    def __init__(
        self,
        logger: logging.Logger,
        noun: str,
        per_second: float = 20.0,
        wall: Callable[[], float] = time.monotonic,
    ) -> None:
        self._log = logger
        self._noun = noun
        self._per_second = per_second
        self._wall = wall
        self._window_start = wall()
        self._in_window = 0
        self._suppressed = 0
        self._last_report = self._window_start

    def allow(self) -> bool:
        """True when the next line may be logged; otherwise it is only counted."""
        return self.allow_many(1) == 1

    def allow_many(self, count: int) -> int:
        """How many of ``count`` lines in a row may be logged now (the first ones): what
        :meth:`allow` would say for each, in one call for a batch of events."""
        if count <= 0:
            return 0
        now = self._wall()
        if now - self._window_start >= 1.0:
            self._window_start = now
            self._in_window = 0
        if self._suppressed and now - self._last_report >= 5.0:
            self._log.info(
                "... and %d more %s in the last %.0f s",
                self._suppressed,
                self._noun,
                now - self._last_report,
            )
            self._suppressed = 0
            self._last_report = now
        allowed = min(count, max(0, math.ceil(self._per_second - self._in_window)))
        self._in_window += allowed
        if allowed < count:
            if not self._suppressed:
                self._last_report = now
            self._suppressed += count - allowed
        return allowed
