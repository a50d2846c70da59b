"""The dashboard and the analytics service as part of ``widget-factory run``.

The dashboard runs in the ``run`` process (a web thread and a Kafka thread); ``run``
prints its address. The analytics service runs as one more child process. A bounded run
(``--duration``) ends with a drain: analytics is then asked to drain too (SIGUSR1), so
it closes its last windows once every input is read, before the factory exits. A
bounded run at ``--speed max`` is over in seconds, so it starts no dashboard (say
``widget-factory dashboard`` for one that stays).
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from widget_factory.errors import UsageError
from widget_factory.kafka_io.settings import KafkaSettings
from widget_factory.processes.children import start_child
from widget_factory.processes.lifecycle import ServiceOptions

__all__ = ["InRunOptions", "in_run_dashboard", "in_run_analytics", "DEFAULT_PORT"]

log = logging.getLogger("factory")

DEFAULT_PORT = 8765
ANALYTICS_DRAIN_S = 60.0
ANALYTICS_STARTUP_S = 3.0
ANALYTICS_HOLD_EMPTY_S = 60
"""Wall seconds an input with no data yet holds analytics' windows (docs/analytics.md)."""
"""Analytics installs its signal handlers within this long of starting."""


@dataclass(frozen=True)
class InRunOptions:
    """What ``run`` was told about its dashboard and analytics, resolved by the CLI."""

    dashboard: bool = True
    dashboard_port: int | None = None
    """None: :data:`DEFAULT_PORT`, or a free one if that is taken; 0: any free one."""
    analytics: bool = True
    config: str | None = None
    """The factory config file the analytics child reads (None: the reference factory)."""
    kafka_config: str | None = None
    overrides: tuple[str, ...] = ()
    """Public ``-X KEY=VALUE`` client settings, passed on the analytics child's command line."""
    secret_env: tuple[tuple[str, str], ...] = ()
    """Secret ``-X`` settings as ``KAFKA_*`` variables: the child's environment, never its
    command line (which any user of the machine can read with ``ps``)."""
    debug: bool = False
    lockstep: bool = False
    """Analytics in event-time order (a virtual-time run with one process per stage)."""
    lateness_s: float | None = None
    """Analytics' lateness bound (None: its default); ``run --max-delay D`` sets at least D."""


def _analytics_argv(
    extras: InRunOptions, settings: KafkaSettings, *, virtual_time: bool, bounded: bool
) -> list[str]:
    argv = [
        sys.executable,
        "-m",
        "widget_factory",
        "analytics",
        "--bootstrap-servers",
        settings.bootstrap_servers,
        "--idle",
        "0.5",
        # every input's producer is part of this run: an empty input is still to come
        "--hold-empty",
        str(ANALYTICS_HOLD_EMPTY_S),
    ]
    if virtual_time and not extras.lockstep:  # lockstep orders its inputs itself
        argv.append("--no-quiet-frontier")
        if bounded:
            # scaled out, the processes run up to hours apart in simulated time, so no
            # partition's order says how far an input has got (docs/analytics.md)
            argv.append("--hold-to-end")
    if extras.config:
        argv += ["--config", extras.config]
    if extras.kafka_config:
        argv += ["--kafka-config", extras.kafka_config]
    for override in extras.overrides:
        argv += ["-X", override]
    if extras.debug:
        argv.append("--debug")
    if extras.lockstep:
        argv.append("--lockstep")
    if extras.lateness_s is not None:
        argv += ["--lateness", repr(float(extras.lateness_s))]
    return argv


def _start_dashboard(extras: InRunOptions, settings: KafkaSettings, config: Any) -> Any:
    from widget_factory.dashboard.server import DashboardServer

    explicit = extras.dashboard_port is not None
    port = extras.dashboard_port if extras.dashboard_port is not None else DEFAULT_PORT
    try:
        return DashboardServer(settings, config, port).start()
    except UsageError:
        if explicit:
            raise
        log.info("Port %d is taken; the dashboard takes a free one", port)
        return DashboardServer(settings, config, 0).start()


@contextlib.contextmanager
def in_run_dashboard(
    extras: InRunOptions, settings: KafkaSettings, options: ServiceOptions
) -> Iterator[str | None]:
    """The dashboard for as long as the block lasts; yields its address (None: no
    dashboard, as asked or because a bounded run at ``--speed max`` ends in seconds)."""
    dashboard = None
    if extras.dashboard:
        if options.duration is not None and options.speed is None:
            log.info(
                "No dashboard for a bounded run at --speed max (it ends in seconds); "
                "`widget-factory dashboard` serves one for any factory"
            )
        else:
            dashboard = _start_dashboard(extras, settings, options.config)
    try:
        yield None if dashboard is None else dashboard.url
    finally:
        if dashboard is not None:
            dashboard.stop()


@contextlib.contextmanager
def in_run_analytics(
    extras: InRunOptions, settings: KafkaSettings, *, bounded: bool, virtual_time: bool = False
) -> Iterator[None]:
    """The analytics service as a child for as long as the block lasts: drained at the
    end of a bounded run that ends normally, stopped otherwise."""
    analytics: subprocess.Popen[bytes] | None = None
    started = time.monotonic()
    if extras.analytics:
        analytics = start_child(
            _analytics_argv(extras, settings, virtual_time=virtual_time, bounded=bounded),
            {**os.environ, **dict(extras.secret_env)},
        )
    drained = False
    try:
        yield
        drained = bounded
    finally:
        if analytics is not None:
            if drained:  # SIGUSR1 before its handler is installed would kill it
                time.sleep(max(0.0, started + ANALYTICS_STARTUP_S - time.monotonic()))
            _stop_analytics(analytics, drain=drained)


def _stop_analytics(process: subprocess.Popen[bytes], *, drain: bool) -> None:
    if process.poll() is not None:
        if process.returncode:
            log.warning("the analytics service exited with status %s", process.returncode)
        return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGUSR1 if drain else signal.SIGTERM)
    deadline = time.monotonic() + (ANALYTICS_DRAIN_S if drain else 8.0)
    try:
        process.wait(max(0.1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        log.warning("the analytics service did not stop in time; stopping it")
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    except KeyboardInterrupt:
        process.kill()
        process.wait()
        raise
