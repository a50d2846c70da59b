"""A scaled-out assembly process's links to the other station processes.

Run with ``--station ID``, an assembly process reads its stations' inboxes on
``assembly-handoffs``, forwards what belongs to other stations into theirs, and (in
virtual time) tells every other station how far it has read. :class:`StationLinks`
puts those three together over the transport pieces of
:mod:`widget_factory.kafka_io.handoffs`; what the progress records mean is kept by the
pure :class:`widget_factory.core.progress.InputProgress`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

import msgspec
from confluent_kafka import Consumer, Message

from widget_factory.core.progress import Ends, InputProgress, Progress, PublishedOrders
from widget_factory.core.routing import StationRouter
from widget_factory.kafka_io.client import BrokerHealth, EventProducer
from widget_factory.kafka_io.handoffs import Forwarder, HandoffInbox, decode_progress, is_progress
from widget_factory.kafka_io.settings import KafkaSettings
from widget_factory.kafka_io.topics import ASSEMBLY_HANDOFFS

__all__ = ["StationLinks"]

log = logging.getLogger("assembly")

_PROGRESS_REPEAT_S = 1.0
"""An unchanged progress report is sent again after this long (a late reader needs one)."""


class StationLinks:
    """The inbox, the forwarder and the progress reports of one station process."""

    def __init__(
        self,
        settings: KafkaSettings,
        producer: EventProducer,
        router: StationRouter,
        stations: Iterable[str],
        positions: dict[int, int],
        progress: InputProgress,
        *,
        health: BrokerHealth,
        on_stalled: Callable[[], bool],
    ) -> None:
        """Read ``stations``' handoff partitions from ``positions`` (as the changelog
        recorded them); ``on_stalled`` says when to give up waiting for the broker."""
        self._router = router
        self._progress = progress
        self._sent: tuple[float, Progress] = (0.0, {})
        self.inbox = HandoffInbox(settings, stations, router.partition_of, positions, health=health)
        total = self.inbox.partitions_total
        self.forwarder = Forwarder(
            producer,
            lambda station_id: router.partition_of(station_id, total),
            on_stalled=on_stalled,
        )
        log.info(
            "Scaled out: stations of other processes get their components and orders through "
            "%s; this process reads partition %s",
            ASSEMBLY_HANDOFFS,
            ", ".join(str(p) for p in self.inbox.partitions),
        )

    def learn_group(self, consumer: Consumer) -> None:
        """Every partition of the group's topics, however the group shares them: the
        virtual clock waits for all of them, wherever they are read."""
        progress = self._progress
        metadata = consumer.list_topics(timeout=10)
        for topic in (progress.components, progress.orders):
            info = metadata.topics.get(topic)
            if info is not None:
                progress.group_partitions += [(topic, p) for p in sorted(info.partitions)]

    def __len__(self) -> int:
        """Forwarded records not yet stored."""
        return len(self.forwarder)

    def poll(self) -> list[Message]:
        return self.inbox.poll()

    def forward(self, station_id: str, message: Message) -> None:
        self.forwarder.forward(station_id, message)

    def settle(self) -> bool:
        """Wait until every forward is stored (see :meth:`Forwarder.settle`)."""
        return not len(self.forwarder) or self.forwarder.settle()

    @staticmethod
    def is_progress(message: Message) -> bool:
        """A progress record of another process (not an input)."""
        return is_progress(message)

    def take(self, message: Message) -> bool:
        """True for an input of this process's stations; another station's record, or a
        progress record (merged here), is not one."""
        if not self.inbox.is_ours(message):
            return False  # another station's record in a shared partition
        if is_progress(message):
            try:
                self._progress.merge(decode_progress(message.value() or b""))
            except msgspec.DecodeError:
                log.warning("skipping an unreadable progress record")
            return False  # not an input: it must not keep a draining process waiting
        return True

    def send_progress(self, ends: Ends, published: PublishedOrders, publisher: bool) -> None:
        """Tell the other stations how far this process has read, given the assignment's
        ``ends`` (virtual time only; called after the forwards it covers are stored).
        The ``publisher`` adds: orders created by this time are stored below these offsets."""
        progress = self._progress.report(ends)
        if publisher:
            progress.update(self._progress.publisher_report(published.confirmed(), published.ends))
        last_sent, last = self._sent
        if progress == last and time.monotonic() - last_sent < _PROGRESS_REPEAT_S:
            return
        self._sent = (time.monotonic(), progress)
        if not progress:
            return
        for station_id in self._router.station_ids:
            if station_id not in self._router.local:
                self.forwarder.send_progress(station_id, progress)

    def close(self) -> None:
        try:
            self.inbox.close()
        finally:
            if self.forwarder.forwarded:
                log.info(
                    "Handed off %d records to other stations (%s)",
                    self.forwarder.forwarded,
                    ", ".join(f"{s} {n}" for s, n in sorted(self.forwarder.by_station.items())),
                )
