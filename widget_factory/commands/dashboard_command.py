"""``widget-factory dashboard``: the live web page of a running factory, on 127.0.0.1."""

from __future__ import annotations

import argparse
import signal
import threading
from collections.abc import Callable
from types import FrameType

from widget_factory.options import common_options, port_number, settings_from_args
from widget_factory.processes.in_run import DEFAULT_PORT

ORDER = 65

__all__ = ["register", "run_dashboard"]


def run_dashboard(args: argparse.Namespace) -> int:
    from widget_factory.dashboard.server import DashboardServer
    from widget_factory.factory_config import load_config
    from widget_factory.kafka_io.topics import connect_admin

    config = load_config(args.config)
    settings = settings_from_args(args).for_viewer(1.0)  # the page refreshes every second
    connect_admin(settings)
    done = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    server = DashboardServer(settings, config, args.port)
    server.start()
    try:
        print(
            f"Dashboard: {server.url} (factory at {settings.bootstrap_servers}); Ctrl-C stops it",
            flush=True,
        )
        while not done.wait(0.5) and server.feed.replaced is None:
            pass
    finally:
        server.stop()
    if server.feed.replaced is not None:  # the broker came back empty: one line, status 4
        raise server.feed.replaced
    return 0


_HELP = (
    "a live web page of the factory on 127.0.0.1: machines, stock, orders, pass rates, "
    "lag, and controls"
)


def register(command: Callable[..., argparse.ArgumentParser]) -> None:
    parser = command("dashboard", _HELP, run_dashboard)
    parser.add_argument(
        "--port",
        type=port_number,
        default=DEFAULT_PORT,
        metavar="PORT",
        help=f"port on 127.0.0.1 (default {DEFAULT_PORT}; 0 picks a free one)",
    )
    common_options(parser)
