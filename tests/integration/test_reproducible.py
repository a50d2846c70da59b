"""Reproducible datasets: the same config, seed and start at --speed max give the same
records on every topic: keys, values, timestamps, partitions, and the order within each
partition of a topic one service writes."""

from __future__ import annotations

from tests.conftest import run_drained
from widget_factory.kafka_io.broker import EmbeddedBroker
from widget_factory.kafka_io.topic_digests import topic_digests
from widget_factory.kafka_io.topics import FACTORY_METRICS

START = "2026-01-01T00:00:00+00:00"


def test_two_runs_with_the_same_seed_and_start_give_identical_topics() -> None:
    runs = []
    for _ in range(2):
        with EmbeddedBroker() as broker:
            run_drained(
                broker.bootstrap_servers,
                duration="6h",
                seed=5,
                extra=("--start", START, "--no-dashboard"),
            )
            runs.append(topic_digests(broker.bootstrap_servers))
    first, second = runs
    for topic in ("component-production", "widget-assembly", "quality-control", FACTORY_METRICS):
        assert first[topic][0] > 100, (topic, first[topic])
    assert first == second
