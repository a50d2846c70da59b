"""Quality control's view of the answer key: the machine faults on ``factory-ground-truth``.

Quality control attributes the flawed parts of the widgets it inspects to the faults
that made them worse (core/fault_influence.py). It follows the topic from its beginning
without a group (:meth:`TopicFollower.from_starts
<widget_factory.kafka_io.follower.TopicFollower.from_starts>`: no commits, and no
metadata requests while reading, which would block a stopping service on a paused
broker) and keeps only ``fault_truth`` records; the ``oee_truth``, ``delay_truth`` and
its own ``influence_truth`` records are passed over unread.

:meth:`FaultFeed.catch_up` makes the attribution reproducible: it asks for the topic's
end offsets once (exact: fetch high watermarks, see :mod:`widget_factory.kafka_io.lag`)
and reads up to them. Every fault record written before the parts it explains is then
known, whatever the timing of the run.

A catch-up takes tens of milliseconds (end-offset requests and a fetch), so it runs on
the feed's own thread: quality control hands over each widget with flaws
(:meth:`FaultFeed.ask`) and goes on inspecting; the thread catches up once for all the
widgets handed over before it began and answers with their ``influence_truth`` records
(:meth:`FaultFeed.answers`). Checks are not held back; only the widget's offset waits
for its answer, so a crash repeats the records rather than losing them.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections.abc import Callable

from confluent_kafka import KafkaException, Message

from widget_factory.core.fault_influence import FaultIndex, influence_records
from widget_factory.errors import BrokerUnavailable
from widget_factory.kafka_io.follower import TopicFollower
from widget_factory.kafka_io.lag import EndOffsetProbe
from widget_factory.kafka_io.settings import KafkaSettings
from widget_factory.kafka_io.topics import FACTORY_GROUND_TRUTH
from widget_factory.schemas import (
    FaultTruth,
    InfluenceTruth,
    QualityCheck,
    SchemaError,
    WidgetAssembled,
    decode_as,
)

__all__ = ["FaultFeed"]

log = logging.getLogger(__name__)

_CATCH_UP_S = 60.0
"""How long a catch-up waits for a broker that does not answer (or reads a long
history) before quality control goes on with the faults it knows, saying so."""
_ASK_S = 1.0
"""Timeout of one end-offsets request: short, so that a stop is not held up by a broker
that does not answer (the request is repeated until ``_CATCH_UP_S``)."""
_BATCH = 5000
_FAULT_TAG = b'"fault_truth"'


class FaultFeed:
    """The machine faults of ``factory-ground-truth``, read into ``index``. ``running``
    says whether to go on: a catch-up gives up as soon as the service stops."""

    def __init__(
        self,
        settings: KafkaSettings,
        index: FaultIndex,
        *,
        client_id: str,
        running: Callable[[], bool] = lambda: True,
        topic: str = FACTORY_GROUND_TRUTH,
    ) -> None:
        self.index = index
        self._settings = settings
        self._client_id = client_id
        self._running = running
        self._topic = topic
        self._follower: TopicFollower | None = None
        """Created once the topic has records (assigned then, from the beginning)."""
        self._probe = EndOffsetProbe(settings, client_id=client_id + "-ends")
        self.catch_ups = 0
        """End-offset queries made (one per catch-up)."""
        self.catch_up_s = 0.0
        """Wall seconds spent catching up, all told."""
        self.unreadable = 0
        self._next_said = 1
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closing = False
        self._thread: threading.Thread | None = None
        self._tickets = itertools.count(1)
        self._asked: list[tuple[int, WidgetAssembled, QualityCheck]] = []
        self._answered: list[tuple[int, list[InfluenceTruth]]] = []
        self.outstanding = 0
        """Widgets handed over and not answered yet (read on the service's thread)."""

    def ask(self, widget: WidgetAssembled, check: QualityCheck) -> int:
        """Hand over a widget with flaws and its check; returns the ticket its answer
        will carry. Its parts are attributed after a catch-up begun after this call."""
        ticket = next(self._tickets)
        with self._lock:
            self._asked.append((ticket, widget, check))
        self.outstanding += 1
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="fault-feed", daemon=True)
            self._thread.start()
        self._wake.set()
        return ticket

    def answers(self) -> list[tuple[int, list[InfluenceTruth]]]:
        """The answers ready since the last call: (ticket, the widget's records)."""
        with self._lock:
            done, self._answered = self._answered, []
        self.outstanding -= len(done)
        return done

    def _work(self) -> None:
        while not self._closing:
            self._wake.wait(0.5)
            self._wake.clear()
            with self._lock:
                asked, self._asked = self._asked, []
            if not asked:
                continue
            try:
                self.catch_up()
            except Exception as exc:  # an answer must come: the service drains on it
                self._late(f"reading it failed ({exc})")
            done = [
                (ticket, influence_records(self.index.attribute(w.component_flaws), w, check))
                for ticket, w, check in asked
            ]
            with self._lock:
                self._answered.extend(done)

    def catch_up(self) -> bool:
        """Read every record the topic holds at this moment: one end-offsets query, then
        reading up to those ends. False when that did not finish: the service stopped,
        or ``_CATCH_UP_S`` passed (a warning says so); attribution then goes on with the
        faults known."""
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
        if not targets:
            return True  # nothing on the topic yet
        follower = self._follower_of(targets)
        if follower is None:
            return False
        while not all(follower.next_offset.get(key, -1) >= end for key, end in targets.items()):
            if not self._going():
                return False
            if time.monotonic() > deadline:
                self._late(f"reading it to its end took over {_CATCH_UP_S:.0f} s")
                return False
            self._take(follower.poll(_BATCH, 0.05))
        return True

    def _follower_of(self, targets: dict[tuple[str, int], int]) -> TopicFollower | None:
        """The follower of every partition in ``targets`` (a new one, from the beginning,
        the first time or when partitions were added: records are taken in once)."""
        follower = self._follower
        if follower is not None and all(key in follower.partitions for key in targets):
            return follower
        if follower is not None:
            follower.close()
            self._follower = None
        try:
            self._follower = TopicFollower.from_starts(
                self._settings, {self._topic: "beginning"}, client_id=self._client_id
            )
        except (BrokerUnavailable, KafkaException) as exc:
            self._late(f"cannot follow it: {exc}")
        return self._follower

    def _ends(self, deadline: float) -> dict[tuple[str, int], int] | None:
        """The exact end of every non-empty partition, asked until exact, stopped or too
        late (None then)."""
        while self._going():
            try:
                partitions = self._probe.partitions([self._topic], timeout=_ASK_S)
                ends = self._probe.end_offsets(partitions, timeout=_ASK_S)
            except (BrokerUnavailable, KafkaException) as exc:
                error = str(exc)
            else:
                if all(end.exact for end in ends.values()):
                    return {key: end.high for key, end in ends.items() if end.high > end.low}
                error = "its end offsets are not exact yet"
            if time.monotonic() > deadline:
                self._late(f"no end offsets within {_CATCH_UP_S:.0f} s ({error})")
                return None
            time.sleep(0.2)
        return None

    def _going(self) -> bool:
        return self._running() and not self._closing

    def _late(self, why: str) -> None:
        log.warning(
            "Answer key on %s: %s; influence_truth records may miss some faults",
            self._topic,
            why,
        )

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
        self._closing = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join()
        try:
            self._probe.close()
        finally:
            if self._follower is not None:
                self._follower.close()
