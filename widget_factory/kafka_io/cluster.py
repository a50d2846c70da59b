"""The cluster a factory runs on: given, or an embedded broker; its topics ready; the
simulated time it has reached.

``run``, single services, analytics, scenarios and the bench all prepare the cluster the
same way before any service starts.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

from widget_factory.core.clock import to_datetime
from widget_factory.kafka_io.broker import EmbeddedBroker, port_in_use
from widget_factory.kafka_io.reader import latest_event_time
from widget_factory.kafka_io.settings import KafkaSettings
from widget_factory.kafka_io.topics import (
    COMPONENT_PRODUCTION,
    MACHINE_TELEMETRY,
    PRODUCTION_ORDERS,
    QUALITY_CONTROL,
    WIDGET_ASSEMBLY,
    connect_admin,
    create_topics,
)

__all__ = ["EVENT_TOPICS", "prepare_cluster", "embedded_or_given", "start_after_latest_event"]

log = logging.getLogger("widget_factory")

EVENT_TOPICS = (
    COMPONENT_PRODUCTION,
    WIDGET_ASSEMBLY,
    QUALITY_CONTROL,
    MACHINE_TELEMETRY,
    PRODUCTION_ORDERS,
)
"""Topics whose record timestamps carry simulated time."""


def prepare_cluster(settings: KafkaSettings) -> None:
    """Fail fast when no broker answers; create missing topics so no broker auto-creates
    them with the wrong partition counts."""
    connect_admin(settings)
    for name, outcome, detail in create_topics(settings):
        if outcome == "created":
            log.debug("created topic %s (%s)", name, detail)
        elif outcome == "failed":
            log.warning("could not create topic %s: %s", name, detail)


@contextlib.contextmanager
def embedded_or_given(
    settings: KafkaSettings,
) -> Iterator[tuple[KafkaSettings, EmbeddedBroker | None]]:
    """The given cluster, or a fresh embedded broker (on 9092 when free, so other
    terminals' commands find it by default) for as long as the block lasts."""
    if settings.source in ("flag", "environment"):
        yield settings, None
        return
    broker = EmbeddedBroker(9092 if not port_in_use(9092) else 0)
    broker.start()
    try:
        yield settings.with_bootstrap(broker.bootstrap_servers, "embedded"), broker
    finally:
        broker.stop()


def start_after_latest_event(settings: KafkaSettings, start: float) -> float:
    """``start``, or just after the latest event the cluster already holds when that is
    later (a durable cluster keeps a previous run's, possibly far ahead), so a new run
    neither writes into the past nor finds its stations busy until then."""
    latest = latest_event_time(settings, EVENT_TOPICS)
    if latest is None or latest < start:
        return start
    log.info("Simulated time continues after the cluster's latest event, %s", to_datetime(latest))
    return latest + 1.0
