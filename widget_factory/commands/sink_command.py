"""``widget-factory sink``: every topic into DuckDB tables, exactly once per event."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from widget_factory.options import common_options, settings_from_args

ORDER = 70

__all__ = ["register", "run_sink"]


def run_sink(args: argparse.Namespace) -> int:
    from widget_factory.kafka_io.topics import connect_admin
    from widget_factory.processes.lifecycle import Lifecycle
    from widget_factory.warehouse.sink import SinkOptions, WarehouseSink, database_path

    db = database_path(args.db)
    settings = settings_from_args(args)
    connect_admin(settings)
    lifecycle = Lifecycle()
    lifecycle.install_signal_handlers()
    sink = WarehouseSink(SinkOptions(settings, db, until_idle=args.until_idle), lifecycle)
    try:
        return sink.run()
    finally:
        lifecycle.ignore_drain_requests()


_HELP = "load every topic into DuckDB tables (one row per event_id; resumes where it stopped)"


def register(command: Callable[..., argparse.ArgumentParser]) -> None:
    parser = command("sink", _HELP, run_sink)
    parser.add_argument(
        "--db",
        default="factory.duckdb",
        metavar="FILE",
        help="the DuckDB database file (default factory.duckdb; created when missing)",
    )
    parser.add_argument(
        "--until-idle",
        action="store_true",
        help="stop once every topic is loaded up to its end and nothing new arrives",
    )
    common_options(parser, config=False)
