"""``widget-factory analytics``: windowed factory metrics on ``factory-metrics``."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from widget_factory.core.clock import parse_duration
from widget_factory.errors import UsageError
from widget_factory.options import common_options, settings_from_args

ORDER = 60

__all__ = ["register", "run_analytics", "parse_time_option"]


def parse_time_option(flag: str, text: str, *, allow_zero: bool = False) -> float:
    """Simulated seconds from ``60``, ``90s``, ``5m``...; a :class:`UsageError` otherwise."""
    if allow_zero and text.strip() in {"0", "0s", "0m"}:
        return 0.0
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise UsageError(f"{flag}: {exc}") from None


def run_analytics(args: argparse.Namespace) -> int:
    from widget_factory.analytics.service import AnalyticsOptions, AnalyticsService
    from widget_factory.factory_config import load_config
    from widget_factory.kafka_io.cluster import prepare_cluster
    from widget_factory.processes.lifecycle import Lifecycle

    window = parse_time_option("--window", args.window)
    lateness = parse_time_option("--lateness", args.lateness, allow_zero=True)
    idle = parse_time_option("--idle", args.idle)
    config = load_config(args.config)
    settings = settings_from_args(args)
    prepare_cluster(settings)
    lifecycle = Lifecycle()
    lifecycle.install_signal_handlers()
    service = AnalyticsService(
        AnalyticsOptions(
            settings=settings,
            config=config,
            window_s=window,
            lateness_s=lateness,
            until_idle=args.until_idle,
            idle_s=idle,
            hold_empty_s=parse_time_option("--hold-empty", args.hold_empty, allow_zero=True),
            quiet_completes=not args.no_quiet_frontier,
            hold_to_end=args.hold_to_end,
            event_time_order=args.lockstep,
        ),
        lifecycle,
    )
    try:
        return service.run()
    finally:
        lifecycle.ignore_drain_requests()


_HELP = (
    "windowed metrics in simulated time (throughput, assembly times, pass rates, OEE, "
    "stock) on factory-metrics"
)


def register(command: Callable[..., argparse.ArgumentParser]) -> None:
    parser = command("analytics", _HELP, run_analytics)
    parser.add_argument(
        "--window",
        default="60s",
        metavar="D",
        help="tumbling window length in simulated time: 60, 90s, 5m (default 60s)",
    )
    parser.add_argument(
        "--lateness",
        default="120s",
        metavar="D",
        help="how far behind its partition's newest event an event may arrive and still "
        "count, in simulated time (default 120s; 0 for none)",
    )
    parser.add_argument(
        "--idle",
        default="2",
        metavar="SECONDS",
        help="wall seconds without new records after which a fully read input counts as "
        "quiet (default 2)",
    )
    parser.add_argument(
        "--hold-empty",
        default="0",
        metavar="SECONDS",
        help="wall seconds from the start during which an input topic or partition with "
        "no data yet holds the windows that depend on it (default 0; `run` sets 60: "
        "every input's producer is part of the run)",
    )
    parser.add_argument(
        "--no-quiet-frontier",
        action="store_true",
        help="never take a quiet input as complete up to its newest event (`run` at "
        "--speed max sets it: producers run ahead of what a reader sees; the drain "
        "closes the last windows)",
    )
    parser.add_argument(
        "--hold-to-end",
        action="store_true",
        help="publish no window before the inputs end: every window closes once every "
        "input is read and quiet while draining (`run` sets it for a bounded, scaled-out "
        "run at --speed max, whose processes run up to hours apart in simulated time)",
    )
    parser.add_argument(
        "--until-idle",
        action="store_true",
        help="close the last windows and exit once every input is read and quiet "
        "(for a drained, bounded run)",
    )
    parser.add_argument("--lockstep", action="store_true", help=argparse.SUPPRESS)
    common_options(parser)
