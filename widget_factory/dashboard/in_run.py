"""The dashboard and the analytics service as part of ``widget-factory run``.

The dashboard runs in the ``run`` process (a web thread and a Kafka thread) and prints
its address; the analytics service runs as one more child process. A bounded run
(``--duration``) ends with a drain: analytics is then asked to drain too (SIGUSR1), so it
closes its last windows once every input is read, before the factory exits. A bounded
run at ``--speed max`` is over in seconds, so it starts no dashboard (say
``widget-factory dashboard`` for one that stays).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

from widget_factory.children import die_with_parent
from widget_factory.errors import UsageError
from widget_factory.kafka_io.settings import KafkaSettings

__all__ = ["add_run_options", "run_extras", "DEFAULT_PORT"]

log = logging.getLogger("factory")

DEFAULT_PORT = 8765
ANALYTICS_DRAIN_S = 60.0
ANALYTICS_STARTUP_S = 3.0
"""Analytics installs its signal handlers within this long of starting."""


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number, got {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0-65535 (0: any free one), got {port}")
    return port


def add_run_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("dashboard and analytics (docs/dashboard.md)")
    group.add_argument(
        "--dashboard-port",
        type=_port,
        metavar="PORT",
        help=f"port of the dashboard on 127.0.0.1 (default {DEFAULT_PORT}, or a free one if "
        "that is taken; 0: any free one)",
    )
    group.add_argument("--no-dashboard", action="store_true", help="do not serve the dashboard")
    group.add_argument(
        "--no-analytics",
        action="store_true",
        help="do not run the analytics service (windowed metrics on factory-metrics)",
    )


def _analytics_argv(args: argparse.Namespace, settings: KafkaSettings) -> list[str]:
    argv = [
        sys.executable,
        "-m",
        "widget_factory",
        "analytics",
        "--bootstrap-servers",
        settings.bootstrap_servers,
        "--idle",
        "0.5",
    ]
    if getattr(args, "config", None):
        argv += ["--config", args.config]
    if getattr(args, "kafka_config", None):
        argv += ["--kafka-config", args.kafka_config]
    for override in getattr(args, "kafka_overrides", None) or []:
        argv += ["-X", override]
    if getattr(args, "debug", False):
        argv.append("--debug")
    return argv


def _lockstep(args: argparse.Namespace, options: Any) -> bool:
    """As ``run`` decides for its services: virtual time, one process per stage."""
    return (
        options.speed is None
        and (getattr(args, "stations", None) or 1) == 1
        and (getattr(args, "inspectors", None) or 1) == 1
    )


def _start_dashboard(args: argparse.Namespace, settings: KafkaSettings, config: Any) -> Any:
    from widget_factory.dashboard.server import DashboardServer

    explicit = args.dashboard_port is not None
    port = args.dashboard_port if explicit else DEFAULT_PORT
    try:
        return DashboardServer(settings, config, port).start()
    except UsageError:
        if explicit:
            raise
        log.info("Port %d is taken; the dashboard takes a free one", port)
        return DashboardServer(settings, config, 0).start()


@contextlib.contextmanager
def run_extras(args: argparse.Namespace, settings: KafkaSettings, options: Any) -> Iterator[None]:
    """Dashboard and analytics around the factory's own services (see the module doc)."""
    bounded = options.duration is not None
    dashboard = None
    if not args.no_dashboard:
        if bounded and options.speed is None:
            log.info(
                "No dashboard for a bounded run at --speed max (it ends in seconds); "
                "`widget-factory dashboard` serves one for any factory"
            )
        else:
            dashboard = _start_dashboard(args, settings, options.config)
            print(f"Dashboard: {dashboard.url}", flush=True)
            log.info("Dashboard: %s", dashboard.url)
    analytics: subprocess.Popen[bytes] | None = None
    started = time.monotonic()
    if not args.no_analytics:
        analytics = subprocess.Popen(
            _analytics_argv(args, settings) + (["--lockstep"] if _lockstep(args, options) else []),
            env=dict(os.environ),
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C reaches run, which stops it in order
            preexec_fn=die_with_parent,
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
        if dashboard is not None:
            dashboard.stop()


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
