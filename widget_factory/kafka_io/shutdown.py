"""Stopping a service within a few seconds, whatever state the broker is in.

With a healthy broker a stop flushes the producer, commits what is safely recorded and
leaves the group, in milliseconds. With a broker that does not answer (paused, cut off)
each of those calls could block for a minute; here each gets what is left of a small
budget. What could not be flushed was never committed as consumed, so a restart re-reads
its inputs and re-creates it: giving up costs time later, never a record.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from confluent_kafka import Consumer, KafkaException

from widget_factory.kafka_io.client import EventProducer
from widget_factory.kafka_io.cluster_identity import cluster_was_replaced
from widget_factory.kafka_io.offsets import OffsetTracker

__all__ = ["Shutdown", "EXIT_BUDGET_S", "hard_exit_needed"]

log = logging.getLogger(__name__)

EXIT_BUDGET_S = 4.0
"""A stop takes at most about this long (the contract promises exit within 5 s)."""

_hard_exit = threading.Event()


def hard_exit_needed() -> bool:
    """True when a client could not be closed in time: the process should exit at once
    rather than wait for librdkafka's own timeouts in its destructors."""
    return _hard_exit.is_set()


class Shutdown:
    def __init__(self, name: str, budget: float = EXIT_BUDGET_S) -> None:
        self.name = name
        self._deadline = time.monotonic() + budget

    def remaining(self) -> float:
        return max(0.0, self._deadline - time.monotonic())

    def flush(self, producer: EventProducer, share: float = 0.5) -> bool:
        """Wait for outstanding deliveries, for at most ``share`` of the remaining budget.

        A replaced cluster cannot take the records meant for the old one: none is waited
        for. A producer failed for good (a fatal error) cannot flush at all: its queue is
        reported as dropped instead of raising from ``flush``."""
        if producer.dropped:
            log.warning(
                "%s: %d records dropped: the broker took nothing while the service stopped "
                "and the producer's queue was full",
                self.name,
                producer.dropped,
            )
        if cluster_was_replaced():
            left = len(producer)
            if left:
                log.warning(
                    "%s: %d records meant for the replaced cluster are dropped", self.name, left
                )
            return False
        try:
            left = producer.flush(max(0.1, self.remaining() * share))
        except (KafkaException, SystemError) as exc:
            log.warning(
                "%s: the producer cannot deliver any more (%s); %d records dropped",
                self.name,
                _reason(exc),
                len(producer),
            )
            return False
        if left:
            log.warning(
                "%s: %d records not acknowledged by the broker are dropped; no input they "
                "came from is committed, so a restart processes it again",
                self.name,
                left,
            )
        return left == 0

    def finish_consumer(self, consumer: Consumer, offsets: OffsetTracker | None) -> None:
        """Commit ``offsets`` (None: commit nothing) and leave the group, within the budget."""

        if offsets is not None and cluster_was_replaced():
            offsets = None  # the new cluster knows none of these topics: commit nothing

        def finish() -> None:
            try:
                if offsets is not None:
                    pending = offsets.pending_commits()
                    if pending:
                        consumer.commit(offsets=pending, asynchronous=False)
                        offsets.mark_committed(pending)
            except KafkaException as exc:
                log.warning(
                    "%s: final commit failed (%s); a restart re-reads those records", self.name, exc
                )
            finally:
                consumer.close()

        self.close(finish, "leave the consumer group")

    def close(self, closer: Callable[[], object], what: str = "close a client") -> None:
        """Run ``closer`` with what is left of the budget; past it, give up and exit hard."""
        worker = threading.Thread(target=closer, name=f"{self.name}-close", daemon=True)
        worker.start()
        worker.join(max(0.5, self.remaining()))
        if worker.is_alive():
            log.warning(
                "%s: the broker did not answer in time to %s; exiting anyway", self.name, what
            )
            _hard_exit.set()


def _reason(exc: BaseException) -> str:
    """The Kafka error behind ``exc`` (``SystemError`` wraps the one a callback raised)."""
    cause = exc.__cause__ or exc.__context__
    if isinstance(exc, SystemError) and cause is not None:
        exc = cause
    if isinstance(exc, KafkaException) and exc.args:
        error = exc.args[0]
        return str(error.str()) if hasattr(error, "str") else str(error)
    return str(exc) or type(exc).__name__
