"""Bytes per topic per simulated day, and what the embedded broker holds for them.

    .venv/bin/python benchmarks/topic_sizes.py [--duration 1d] [--speed max] [--seed 1]

Runs the reference factory (``widget-factory run``, no dashboard) on a fresh embedded
broker for ``--duration`` simulated, drained; then reads every topic from the start and
sums each record's key and value bytes. Prints, per topic and scaled to one simulated
day: records, megabytes, bytes per record; and the broker's resident memory before and
after. Record bytes do not depend on the speed; the broker's memory does (batches are
fuller at unlimited speed), so plan with ``widget-factory bench --only idle`` for a
real-time run.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from confluent_kafka import Consumer, TopicPartition

from widget_factory.core.clock import parse_duration
from widget_factory.kafka_io.broker import EmbeddedBroker
from widget_factory.kafka_io.broker_memory import resident_bytes

MB = 1_000_000


def topic_bytes(bootstrap: str) -> dict[str, tuple[int, int]]:
    """Per topic: (records, key + value bytes), read from the beginning to the end."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "topic-sizes",
            "enable.partition.eof": True,
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 5,
        }
    )
    metadata = consumer.list_topics(timeout=10)
    partitions = [
        TopicPartition(topic, partition, 0)
        for topic, info in metadata.topics.items()
        for partition in info.partitions
    ]
    consumer.assign(partitions)
    totals: dict[str, tuple[int, int]] = {}
    at_end: set[tuple[str, int]] = set()
    deadline = time.monotonic() + 600
    while len(at_end) < len(partitions) and time.monotonic() < deadline:
        for message in consumer.consume(10_000, 0.5):
            topic = str(message.topic())
            if message.error() is not None:
                at_end.add((topic, int(message.partition() or 0)))
                continue
            size = len(message.value() or b"") + len(message.key() or b"")
            records, total = totals.get(topic, (0, 0))
            totals[topic] = (records + 1, total + size)
    consumer.close()
    return totals


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", default="1d")
    parser.add_argument("--speed", default="max")
    parser.add_argument("--seed", default="1")
    args = parser.parse_args()
    days = parse_duration(args.duration) / 86_400
    with EmbeddedBroker() as broker:
        assert broker.pid is not None
        before = resident_bytes(broker.pid) or 0
        run = subprocess.run(
            [
                sys.executable,
                "-m",
                "widget_factory",
                "run",
                "--bootstrap-servers",
                broker.bootstrap_servers,
                "--speed",
                args.speed,
                "--duration",
                args.duration,
                "--seed",
                args.seed,
                "--no-dashboard",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if run.returncode != 0:
            print(run.stderr[-2000:], file=sys.stderr)
            return 1
        after = resident_bytes(broker.pid) or 0
        totals = topic_bytes(broker.bootstrap_servers)
    print(f"Reference factory, {args.duration} simulated at speed {args.speed}, per simulated day:")
    print(f"  {'topic':<30} {'records':>10} {'MB':>8} {'B/record':>9}")
    for topic, (records, size) in sorted(totals.items(), key=lambda item: -item[1][1]):
        print(
            f"  {topic:<30} {records / days:>10,.0f} {size / days / MB:>8.2f} {size / records:>9.0f}"
        )
    records = sum(r for r, _ in totals.values())
    size = sum(s for _, s in totals.values())
    print(f"  {'all topics':<30} {records / days:>10,.0f} {size / days / MB:>8.2f}")
    print(
        f"Broker resident memory: {before / MB:.0f} -> {after / MB:.0f} MB "
        f"({(after - before) / days / MB:.0f} MB per simulated day at speed {args.speed})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
