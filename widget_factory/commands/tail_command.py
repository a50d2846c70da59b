"""``widget-factory tail TOPIC``: print a topic's events, one readable line each.

The walkthrough's ``kafka-console-consumer --topic T --from-beginning``, for any Kafka,
without joining a consumer group (it never moves the factory's offsets). By default it
starts at the topic's current end and follows new events until Ctrl-C; ``--json``
prints the raw values instead, as the console consumer and kcat do.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import TextIO

from widget_factory.core.event_format import format_record
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


def tail_topic(
    settings: KafkaSettings,
    topic: str,
    *,
    from_beginning: bool,
    max_records: int | None,
    raw_json: bool,
    exit_at_end: bool,
    out: TextIO = sys.stdout,
) -> int:
    """Print records of ``topic``; returns how many were printed."""
    _check_topic(settings, topic)
    watcher = TopicFollower.from_starts(
        settings, {topic: "beginning" if from_beginning else "end"}, client_id="tail"
    )
    printed = 0
    try:
        while max_records is None or printed < max_records:
            messages = watcher.poll(500 if max_records is None else max_records - printed, 0.5)
            lines = []
            for message in messages:
                value = message.value()
                if raw_json:
                    lines.append((value or b"").decode("utf-8", errors="replace"))
                else:
                    lines.append(
                        format_record(
                            value,
                            headers=message.headers() or [],
                            where=f"{message.topic()}[{message.partition()}]@{message.offset()}",
                        )
                    )
            if lines:
                out.write("\n".join(lines) + "\n")
                out.flush()
                printed += len(lines)
            elif exit_at_end and watcher.at_end():
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
        )
    except BrokenPipeError:  # `widget-factory tail ... | head`
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return 0


def register(command: Callable[..., argparse.ArgumentParser]) -> None:
    parser = command(
        "tail",
        "print a topic's events as readable lines (or raw JSON), without joining a consumer group",
        _run,
    )
    parser.epilog = (
        "examples:\n"
        "  widget-factory tail component-production              new components as they come\n"
        "  widget-factory tail quality-control --from-beginning  every check so far, then new ones\n"
        "  widget-factory tail factory-alerts --from-beginning --exit   what happened, then exit\n"
        "  widget-factory tail machine-telemetry --json --max 5  raw JSON, like the console consumer"
    )
    parser.add_argument("topic", metavar="TOPIC", help="topic to read, e.g. component-production")
    parser.add_argument(
        "--from-beginning",
        action="store_true",
        help="start at the oldest record (default: only events that arrive from now on)",
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
