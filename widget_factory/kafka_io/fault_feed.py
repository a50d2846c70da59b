"""Quality control's view of the answer key: the machine faults on ``factory-ground-truth``.

Quality control attributes the flawed parts of the widgets it inspects to the faults
that made them worse (core/fault_influence.py). It follows the topic from its beginning
without a group (:class:`~widget_factory.kafka_io.follower.TopicFollower`: no commits,
the topic has no consumers to disturb) and keeps only ``fault_truth`` records; the
``oee_truth``, ``delay_truth`` and its own ``influence_truth`` records are passed over
unread.

:meth:`FaultFeed.catch_up` makes the attribution reproducible: it asks for the topic's
end offsets once (exact: fetch high watermarks, see :mod:`widget_factory.kafka_io.lag`)
and reads up to them. Every fault record written before the parts it explains is then
known, whatever the timing of the run.
"""

from __future__ import annotations

import logging
import time

from confluent_kafka import KafkaException, Message

from widget_factory.core.fault_influence import FaultIndex
from widget_factory.errors import BrokerUnavailable
from widget_factory.kafka_io.client import BrokerHealth
from widget_factory.kafka_io.follower import TopicFollower
from widget_factory.kafka_io.lag import EndOffsetProbe
from widget_factory.kafka_io.settings import KafkaSettings
from widget_factory.kafka_io.topics import FACTORY_GROUND_TRUTH
from widget_factory.schemas import FaultTruth, SchemaError, decode_as

__all__ = ["FaultFeed"]

log = logging.getLogger(__name__)

_CATCH_UP_S = 60.0
"""How long a catch-up waits for a broker that does not answer (or reads a long
history) before quality control goes on with the faults it knows, saying so."""
_BATCH = 5000
_FAULT_TAG = b'"fault_truth"'


class FaultFeed:
    """The machine faults of ``factory-ground-truth``, read into ``index``."""

    def __init__(
        self,
        settings: KafkaSettings,
        index: FaultIndex,
        *,
        client_id: str,
        health: BrokerHealth,
        topic: str = FACTORY_GROUND_TRUTH,
    ) -> None:
        self.index = index
        self._topic = topic
        self._follower = TopicFollower(settings, [topic], client_id=client_id, health=health)
        self._probe = EndOffsetProbe(settings, client_id=client_id + "-ends")
        self.catch_ups = 0
        """End-offset queries made (one per catch-up)."""
        self.catch_up_s = 0.0
        """Wall seconds spent catching up, all told."""
        self.unreadable = 0
        self._next_said = 1

    def catch_up(self) -> bool:
        """Read every record the topic holds at this moment: one end-offsets query, then
        reading up to those ends. False (and a warning) when that did not finish within
        ``_CATCH_UP_S``: attribution then goes on with the faults known."""
        self.catch_ups += 1
        began = time.monotonic()
        try:
            return self._catch_up(began + _CATCH_UP_S)
        finally:
            self.catch_up_s += time.monotonic() - began

    def _catch_up(self, deadline: float) -> bool:
        targets = self._ends(deadline)
        if targets is None:
            return False
        if any(key not in self._follower.partitions for key in targets):
            self._follower.refresh()
        while not self._reached(targets):
            if time.monotonic() > deadline:
                log.warning(
                    "Reading the answer key's faults on %s to its end took over %.0f s: "
                    "influence_truth records may miss some faults",
                    self._topic,
                    _CATCH_UP_S,
                )
                return False
            self._take(self._follower.poll(_BATCH, 0.05))
        return True

    def _ends(self, deadline: float) -> dict[tuple[str, int], int] | None:
        """The exact end of every non-empty partition, asked until exact or too late."""
        while True:
            try:
                partitions = self._probe.partitions([self._topic], timeout=5.0)
                ends = self._probe.end_offsets(partitions)
            except (BrokerUnavailable, KafkaException) as exc:
                error = str(exc)
            else:
                if all(end.exact for end in ends.values()):
                    return {key: end.high for key, end in ends.items() if end.high > end.low}
                error = "the end offsets are not exact yet"
            if time.monotonic() > deadline:
                log.warning(
                    "No end offsets of %s within %.0f s (%s): influence_truth records may "
                    "miss some faults",
                    self._topic,
                    _CATCH_UP_S,
                    error,
                )
                return None
            time.sleep(0.2)

    def _reached(self, targets: dict[tuple[str, int], int]) -> bool:
        next_offset = self._follower.next_offset
        return all(next_offset.get(key, -1) >= end for key, end in targets.items())

    def _take(self, messages: list[Message]) -> None:
        for message in messages:
            value = message.value() or b""
            if _FAULT_TAG not in value:
                continue
            try:
                record = decode_as(value, FaultTruth, topic=self._topic)
            except SchemaError as exc:
                self._unreadable(message, str(exc))
                continue
            self.index.add(record)

    def _unreadable(self, message: Message, error: str) -> None:
        """Counted and logged (the first, then at every power of ten): the answer key has
        no consumer group to dead-letter for, and a record skipped is never silent."""
        self.unreadable += 1
        if self.unreadable < self._next_said:
            return
        self._next_said *= 10
        log.warning(
            "%d unreadable fault record(s) on %s, the latest at [%s]@%s: %s",
            self.unreadable,
            self._topic,
            message.partition(),
            message.offset(),
            error,
        )

    def close(self) -> None:
        try:
            self._probe.close()
        finally:
            self._follower.close()
