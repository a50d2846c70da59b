"""``widget-factory monitor``: a live view of a running factory in the terminal.

Machine statuses, stock, orders waiting, recent alerts, throughput per topic, quality
control pass rates by widget type and every consumer group's lag, refreshed about once
a second. It reads the topics without a consumer group, so it never disturbs the
factory; start and stop it at any time, from any terminal.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from rich.console import Console
from rich.live import Live

from widget_factory.errors import UsageError
from widget_factory.factory_config import load_config
from widget_factory.kafka_io.feed import FEED_STARTS, FactoryFeed
from widget_factory.kafka_io.settings import KafkaSettings
from widget_factory.kafka_io.topics import connect_admin
from widget_factory.monitor_view import MonitorFrame, render
from widget_factory.options import common_options, settings_from_args

ORDER = 64

__all__ = ["register", "run_monitor"]


def _seconds(low: float, high: float) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be {low:g} to {high:g} seconds, got {text}")
        return value

    return parse


_TOPIC_CHECK_S = 3.0


def _existing(settings: KafkaSettings) -> set[str]:
    """Which of the topics the monitor reads exist now."""
    _admin, metadata = connect_admin(settings)
    return {t for t in FEED_STARTS if t in metadata.topics and metadata.topics[t].error is None}


def run_monitor(
    settings: KafkaSettings,
    *,
    machine_order: list[str],
    interval: float,
    once: bool,
    duration: float | None = None,
    console: Console | None = None,
) -> int:
    connect_admin(settings)
    console = console or Console()
    feed = FactoryFeed(settings)
    where = f"on {settings.bootstrap_servers}"
    note = "lag: exact ends (fetch high watermarks); Ctrl-C quits"
    frame = MonitorFrame(
        feed.view,
        feed.rates,
        topics=feed.topics,
        where=where,
        note=note if not once else "",
        machine_order=machine_order,
    )
    last_topic_check = time.monotonic()
    try:
        if once:
            feed.catch_up()
            feed.sample_rates()
            feed.pump(interval)
            feed.sample_rates()
            frame.lags = feed.lags()
            frame.unreadable = feed.unreadable
            console.print(render(frame))
            return 0
        started = time.monotonic()
        with Live(render(frame), console=console, refresh_per_second=4, screen=False) as live:
            while duration is None or time.monotonic() - started < duration:
                if len(feed.topics) < len(FEED_STARTS):
                    frame.note = "waiting for the factory's topics (`widget-factory setup` or `run` creates them)"
                    if time.monotonic() - last_topic_check >= _TOPIC_CHECK_S:
                        last_topic_check = time.monotonic()
                        if len(_existing(settings)) > len(feed.topics):
                            # The factory created its topics since: start reading them all.
                            feed.close()
                            feed = FactoryFeed(settings)
                            frame.view, frame.rates, frame.topics = (
                                feed.view,
                                feed.rates,
                                feed.topics,
                            )
                            frame.note = note
                feed.pump(interval)
                feed.sample_rates()
                frame.lags = feed.lags()
                frame.unreadable = feed.unreadable
                live.update(render(frame))
    finally:
        feed.close()
    return 0


def _run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    if args.duration is not None and args.once:
        raise UsageError("--once and --duration do not go together")
    width = args.width
    return run_monitor(
        # a fetch wait of a quarter of the refresh (250 ms at 1 s): an idle factory's
        # monitor costs the broker little, and --once still catches up in a few seconds
        settings_from_args(args).for_viewer(args.interval),
        machine_order=list(config.all_machine_ids),
        interval=args.interval,
        once=args.once,
        duration=args.duration,
        console=Console(width=width) if width else None,
    )


_HELP = (
    "live view of a running factory: machines, stock, orders, alerts, throughput, "
    "QC pass rates, lag"
)


def register(command: Callable[..., argparse.ArgumentParser]) -> None:
    parser = command("monitor", _HELP, _run)
    parser.epilog = (
        "It reads without a consumer group, so it never disturbs the factory.\n"
        "example: widget-factory monitor --bootstrap-servers 127.0.0.1:9092"
    )
    parser.add_argument(
        "--interval",
        type=_seconds(0.1, 60),
        default=1.0,
        metavar="S",
        help="seconds between refreshes (default 1)",
    )
    parser.add_argument(
        "--once",
        action="store_true",
        help="read everything up to now, print one screen and exit (for scripts and logs)",
    )
    parser.add_argument(
        "--duration",
        type=_seconds(0.1, 86400),
        metavar="S",
        help="stop after this many wall seconds (default: until Ctrl-C)",
    )
    parser.add_argument(
        "--width", type=int, metavar="COLUMNS", help="screen width (default: the terminal's)"
    )
    common_options(parser)
