"""Publishes the answer key: fault records and true OEE on ``factory-ground-truth``.

The services that own a fault publish its records (telemetry for machine faults,
assembly for starvations, production for quality drifts and its machines' true OEE,
quality control for the widgets a fault influenced), keyed by the target and timestamped with the record's
simulated time, like every event of the contract. Nothing here decides what a fault is:
that is :mod:`widget_factory.core.ground_truth`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

from widget_factory.core.fast_encode import EncodedRecord
from widget_factory.kafka_io.client import EventProducer
from widget_factory.kafka_io.topics import FACTORY_GROUND_TRUTH
from widget_factory.schemas import Event, FaultTruth

__all__ = ["TruthPublisher"]

log = logging.getLogger(__name__)


class TruthPublisher:
    """Sends fault records through a service's own producer (flushed with its output)."""

    def __init__(self, producer: EventProducer, topic: str = FACTORY_GROUND_TRUTH) -> None:
        self._producer = producer
        self._topic = topic
        self.sent = 0

    def publish_encoded(self, records: Sequence[EncodedRecord]) -> None:
        """Records the core encoded itself (the true-OEE windows: core/fast_encode.py)."""
        self._producer.send_encoded(self._topic, records)
        self.sent += len(records)

    def publish(self, records: Iterable[Event]) -> None:
        """Fault records, ``oee_truth`` windows and the rest alike (queued as one batch)."""
        batch = records if isinstance(records, list) else list(records)
        self._producer.send_all(self._topic, batch)
        self.sent += len(batch)
        for record in batch:
            if not isinstance(record, FaultTruth):
                continue
            log.debug(
                "Ground truth: %s %s of %s (%s, %s) at %s",
                record.kind,
                record.phase,
                record.target_id,
                record.cause,
                record.fault_id,
                record.occurred_at,
            )
