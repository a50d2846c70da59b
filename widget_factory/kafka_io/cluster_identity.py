"""Noticing that the Kafka cluster a service works with has been replaced by another.

The embedded broker keeps everything in memory: stopped and started again (Ctrl-C in
the ``widget-factory broker`` terminal, then the same command), it answers on the same
address as an empty cluster. Every topic, record, committed offset and producer id is
gone; clients that carry on see a flood of per-partition errors, recreate topics with
the broker's default partition count by asking for their metadata, and idempotent
producers fail fatally. Nothing can be resumed: the factory's state lived in the old
cluster.

So a replaced cluster is named, not suffered. Each service records the cluster id when
it starts and compares it again every few seconds (one metadata request from a thread
of its own, never per record) and at once when a client reports an error that a new
cluster would cause. A different id raises :class:`ClusterReplaced` from the service's
loop: the service stops cleanly, commits nothing, and exits with
:data:`EXIT_CLUSTER_REPLACED`, as ``run`` then does. The embedded broker gets a fresh
cluster id at every start (see :mod:`widget_factory.kafka_io.broker`); Apache Kafka keeps
its cluster id and its data across restarts, so a restart there changes nothing here.
A broker that reports no cluster id cannot be watched; then nothing is decided.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from confluent_kafka import KafkaError

from widget_factory.errors import FactoryError
from widget_factory.kafka_io.settings import KafkaSettings

__all__ = [
    "EXIT_CLUSTER_REPLACED",
    "RUN_STOPPED",
    "ClusterReplaced",
    "ClusterIdentity",
    "ClusterWatch",
    "is_suspicious",
    "cluster_was_replaced",
]

log = logging.getLogger(__name__)

EXIT_CLUSTER_REPLACED = 4
"""Exit status of every service, and of ``run``, when the cluster was replaced."""

RUN_STOPPED = (
    "the broker came back empty (a new Kafka cluster, all topics and offsets gone): the "
    "factory stopped. Run `widget-factory setup`, then start the factory again"
)
"""What ``run`` says when a service exited with :data:`EXIT_CLUSTER_REPLACED`."""

CHECK_EVERY_S = 3.0
"""Seconds between two cluster id checks (one metadata request each)."""

SUSPICIOUS_CODES = frozenset(
    {
        KafkaError.UNKNOWN_PRODUCER_ID,
        KafkaError.UNKNOWN_TOPIC_OR_PART,
        KafkaError._UNKNOWN_PARTITION,
        KafkaError._UNKNOWN_TOPIC,
        KafkaError.OUT_OF_ORDER_SEQUENCE_NUMBER,
        KafkaError.INVALID_PRODUCER_EPOCH,
    }
)
"""Client errors a new, empty cluster causes: check the cluster id now, not later."""

_replaced = threading.Event()


def cluster_was_replaced() -> bool:
    """True once any watch in this process saw a different cluster: commit nothing."""
    return _replaced.is_set()


def is_suspicious(error: KafkaError) -> bool:
    """Whether ``error`` is one a replaced cluster would cause (fatal errors included)."""
    return error.fatal() or error.code() in SUSPICIOUS_CODES


class ClusterReplaced(FactoryError):
    """The cluster at the configured address is not the one this service started with."""

    exit_status = EXIT_CLUSTER_REPLACED

    def __init__(self, service: str, bootstrap: str, was: str, now: str) -> None:
        super().__init__(
            f"the Kafka cluster at {bootstrap} was replaced (cluster id {was}, now {now}): "
            f"the broker came back empty; stopping with exit status {EXIT_CLUSTER_REPLACED}. "
            "Run `widget-factory setup`, then start the factory again"
        )
        self.service = service
        self.was = was
        self.now = now


class ClusterIdentity:
    """The first cluster id seen, and the first different one (pure bookkeeping)."""

    def __init__(self) -> None:
        self.known: str | None = None
        self.replaced_by: str | None = None

    def observe(self, cluster_id: str | None) -> bool:
        """Record an answer; True when it shows a different cluster than the first one.

        No id (a broker that does not report one) decides nothing."""
        if not cluster_id:
            return False
        if self.known is None:
            self.known = cluster_id
            return False
        if cluster_id != self.known and self.replaced_by is None:
            self.replaced_by = cluster_id
        return self.replaced_by is not None


class ClusterWatch:
    """Checks the cluster id every :data:`CHECK_EVERY_S` seconds from a daemon thread.

    :meth:`start` records the id (waiting up to ``timeout`` for an answer);
    :meth:`suspect` asks for a check now (from client error callbacks: it never blocks);
    :meth:`check` raises :class:`ClusterReplaced` in the caller's loop once a different
    id has been seen (it only reads a flag).
    """

    def __init__(
        self, settings: KafkaSettings, service: str, *, every_s: float = CHECK_EVERY_S
    ) -> None:
        self.settings = settings
        self.service = service
        self.every_s = every_s
        self.identity = ClusterIdentity()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._admin: Any = None

    def start(self, timeout: float = 5.0) -> ClusterWatch:
        from confluent_kafka.admin import AdminClient

        self._admin = AdminClient(self.settings.admin_config(**{"client.id": "cluster-watch"}))
        self._ask(timeout)
        if self.identity.known is None:
            log.debug("%s: no cluster id known yet; watching for one", self.service)
        self._thread = threading.Thread(
            target=self._watch, name=f"{self.service}-cluster-watch", daemon=True
        )
        self._thread.start()
        return self

    @property
    def replaced(self) -> bool:
        return self.identity.replaced_by is not None

    def suspect(self) -> None:
        """A client saw an error a new cluster would cause: check without waiting."""
        self._wake.set()

    def check(self) -> None:
        """Raise :class:`ClusterReplaced` once the cluster was seen to be another one."""
        if self.replaced:
            raise ClusterReplaced(
                self.service,
                self.settings.bootstrap_servers,
                self.identity.known or "?",
                self.identity.replaced_by or "?",
            )

    def settle(self, timeout: float) -> bool:
        """Check now and wait up to ``timeout`` for the answer; True if replaced."""
        self._ask(timeout)
        return self.replaced

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(1.0)

    def _ask(self, timeout: float) -> None:
        if self._admin is None or self.replaced:
            return
        try:
            cluster_id = self._admin.list_topics(timeout=timeout).cluster_id
        except Exception:  # noqa: BLE001 - broker away or slow: no answer, nothing decided
            return
        if self.identity.observe(cluster_id):
            _replaced.set()

    def _watch(self) -> None:
        while not self._stop.is_set() and not self.replaced:
            self._wake.wait(self.every_s)
            self._wake.clear()
            if not self._stop.is_set():
                self._ask(min(5.0, 2 * self.every_s))
