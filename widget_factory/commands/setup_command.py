"""``widget-factory setup``: create every factory topic, idempotently, and say what happened."""

from __future__ import annotations

import argparse
from collections.abc import Callable

from widget_factory.kafka_io.settings import KafkaSettings
from widget_factory.kafka_io.topics import TOPICS, create_topics
from widget_factory.options import common_options, positive_int, settings_from_args

ORDER = 30

__all__ = ["register", "run_setup"]


def run_setup(settings: KafkaSettings, *, partitions: int | None, replication_factor: int) -> int:
    outcomes = create_topics(settings, partitions=partitions, replication_factor=replication_factor)
    width = max(len(spec.name) for spec in TOPICS)
    failed = 0
    for name, outcome, detail in outcomes:
        print(f"  {name:<{width}}  {outcome:<7}  {detail}")
        failed += outcome == "failed"
    created = sum(1 for _, outcome, _ in outcomes if outcome == "created")
    existing = sum(1 for _, outcome, _ in outcomes if outcome == "exists")
    print(
        f"Topics on {settings.bootstrap_servers}: {created} created, {existing} already "
        f"existed, {failed} failed."
    )
    return 1 if failed else 0


def _setup(args: argparse.Namespace) -> int:
    return run_setup(
        settings_from_args(args),
        partitions=args.partitions,
        replication_factor=args.replication_factor,
    )


_HELP = "create every factory topic with the contract's partitions and retention (idempotent)"


def register(command: Callable[..., argparse.ArgumentParser]) -> None:
    parser = command("setup", _HELP, _setup)
    parser.add_argument(
        "--partitions", type=positive_int, metavar="N", help="partitions for every topic"
    )
    parser.add_argument(
        "--replication-factor",
        type=positive_int,
        default=1,
        metavar="N",
        help="replicas per partition (default 1; at most the number of brokers)",
    )
    common_options(parser, config=False)
