"""``widget-factory tail TOPIC``: print a topic's events, one readable line each.

The walkthrough's ``kafka-console-consumer --topic T --from-beginning``, for any Kafka,
without joining a consumer group (it never moves the factory's offsets). By default it
starts at the topic's current end and follows new events until Ctrl-C; ``--json``
prints the raw values instead, as the console consumer and kcat do.

Records come in offset order within each partition, but partitions interleave as their
fetches return; ``--ordered`` merges them by event time (the record timestamp, which is
the event's simulated time) instead: see :mod:`widget_factory.core.time_merge`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import TextIO

from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, Message

from widget_factory.core.event_format import format_record
from widget_factory.core.time_merge import TimeMerge
from widget_factory.errors import UsageError
from widget_factory.kafka_io.follower import TopicFollower
from widget_factory.kafka_io.settings import KafkaSettings
from widget_factory.kafka_io.topics import TOPICS, connect_admin
from widget_factory.options import common_options, positive_int, settings_from_args

ORDER = 60

__all__ = ["register", "tail_topic"]


def _check_topic(settings: KafkaSettings, topic: str) -> None:
    _admin, metadata = connect_admin(settings)
    info = metadata.topics.get(topic)
    if info is None or info.error is not None:
        known = ", ".join(spec.name for spec in TOPICS if not spec.internal)
        raise UsageError(
            f"no topic {topic!r} on {settings.bootstrap_servers} (the factory's topics: {known}; "
            "`widget-factory setup` creates them)"
        )


def _line(message: Message, raw_json: bool) -> str:
    value = message.value()
    if raw_json:
        return (value or b"").decode("utf-8", errors="replace")
    return format_record(
        value,
        headers=message.headers() or [],
        where=f"{message.topic()}[{message.partition()}]@{message.offset()}",
    )


def _event_time(message: Message) -> int | None:
    kind, ms = message.timestamp()
    return None if kind == TIMESTAMP_NOT_AVAILABLE else int(ms)


def tail_topic(
    settings: KafkaSettings,
    topic: str,
    *,
    from_beginning: bool,
    max_records: int | None,
    raw_json: bool,
    exit_at_end: bool,
    ordered: bool = False,
    out: TextIO = sys.stdout,
) -> int:
    """Print records of ``topic``; returns how many were printed.

    ``ordered``: merge the partitions by event time instead of printing each fetch as it
    comes (a partition's records are in offset order either way).
    """
    _check_topic(settings, topic)
    watcher = TopicFollower.from_starts(
        settings, {topic: "beginning" if from_beginning else "end"}, client_id="tail"
    )
    merge: TimeMerge[Message] = TimeMerge(watcher.partitions)
    printed = 0
    try:
        while max_records is None or printed < max_records:
            left = None if max_records is None else max_records - printed
            messages = watcher.poll(500 if left is None or ordered else left, 0.5)
            if ordered:
                for message in messages:
                    key = (str(message.topic()), int(message.partition() or 0))
                    merge.add(key, _event_time(message), message)
                messages = merge.release(watcher.ended_partitions(), left)
            lines = [_line(message, raw_json) for message in messages]
            if lines:
                out.write("\n".join(lines) + "\n")
                out.flush()
                printed += len(lines)
            elif exit_at_end and watcher.at_end() and not merge:
                break
    finally:
        watcher.close()
    return printed


def _run(args: argparse.Namespace) -> int:
    try:
        tail_topic(
            settings_from_args(args),
            args.topic,
            from_beginning=args.from_beginning,
            max_records=args.max,
            raw_json=args.json,
            exit_at_end=args.exit,
            ordered=args.ordered,
        )
    except BrokenPipeError:  # `widget-factory tail ... | head`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return 0


_HELP = "print a topic's events as readable lines (or raw JSON), without joining a consumer group"


def register(command: Callable[..., argparse.ArgumentParser]) -> None:
    parser = command("tail", _HELP, _run)
    parser.epilog = (
        "examples:\n"
        "  widget-factory tail component-production              new components as they come\n"
        "  widget-factory tail quality-control --from-beginning  every check so far, then new ones\n"
        "  widget-factory tail factory-alerts --from-beginning --exit   what happened, then exit\n"
        "  widget-factory tail machine-telemetry --json --max 5  raw JSON, like the console consumer\n"
        "  widget-factory tail component-production --from-beginning --ordered --exit\n"
        "                                                        every event so far, in time order"
    )
    parser.add_argument("topic", metavar="TOPIC", help="topic to read, e.g. component-production")
    parser.add_argument(
        "--from-beginning",
        action="store_true",
        help="start at the oldest record (default: only events that arrive from now on)",
    )
    parser.add_argument(
        "--ordered",
        action="store_true",
        help="merge the partitions by event time (the record timestamp: simulated time); "
        "a partition with nothing new does not hold the others back (default: each "
        "partition in its own order, partitions interleaved as their records arrive, so "
        "lines of different partitions can be out of time order)",
    )
    parser.add_argument(
        "--max", type=positive_int, metavar="N", help="stop after N records (default: no limit)"
    )
    parser.add_argument(
        "--json", action="store_true", help="print each raw value (JSON) instead of a summary line"
    )
    parser.add_argument(
        "--exit",
        action="store_true",
        help="stop at the end of the topic instead of waiting for more (like kcat -e)",
    )
    common_options(parser, config=False)
