"""The assembly stations' changelog (``assembly-stations-changelog``): their durable state.

Every change of the stations' state (stock, orders, builds, deliveries, id counters) is
written here as a :class:`~widget_factory.core.assembly_records.ChangeSet`, keyed by the
process's instance (its stations), together with the input positions it covers, and is
made durable *before* the widgets it causes are sent. A restarted process replays its
own records; the input positions of every instance tell any process where reading a
group partition resumes, whoever read it before. Scaled out, each instance also records
how far it has read its handoff inbox (``assembly-handoffs:P`` keys), for itself alone.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import msgspec
from confluent_kafka import TopicPartition

from widget_factory.core.assembly_records import ChangeSet
from widget_factory.kafka_io.client import EventProducer
from widget_factory.kafka_io.reader import read_to_end
from widget_factory.kafka_io.settings import KafkaSettings
from widget_factory.kafka_io.topics import ASSEMBLY_CHANGELOG, ASSEMBLY_HANDOFFS

__all__ = ["AssemblyChangelog", "changelog_records", "MAX_RECORD_BYTES"]

log = logging.getLogger("assembly")  # the assembly service's own lines

MAX_RECORD_BYTES = 512 * 1024
"""Bytes above which one step's changes are written as several records (brokers refuse
records over ~1 MB; a step catching up on a backlog can start thousands of builds)."""

_HANDOFF_KEY = ASSEMBLY_HANDOFFS + ":"
"""Changelog positions of inbox partitions are per instance (each station process reads
its inbox alone); group input positions are shared by every instance."""

_decoder = msgspec.json.Decoder(ChangeSet)
_encoder = msgspec.json.Encoder()


def changelog_records(changes: ChangeSet) -> list[bytes]:
    """``changes`` as changelog values: one record, or when too large, several that replay
    in the same order (orders, stock in parts, then the builds in parts, then deliveries and
    input positions last, so positions never run ahead of what is stored); each part
    carries the id counters, so no id minted in it can be minted again after a crash."""
    value = _encoder.encode(changes)
    if len(value) <= MAX_RECORD_BYTES or len(changes.started) + len(changes.stocked) < 2:
        return [value]
    parts = -(-len(value) // MAX_RECORD_BYTES)
    instance, counters = changes.instance, changes.counters
    records = [ChangeSet(instance=instance, orders=changes.orders, counters=counters)]
    size = max(1, -(-len(changes.stocked) // parts))
    for at in range(0, len(changes.stocked), size):
        records.append(
            ChangeSet(instance=instance, stocked=changes.stocked[at : at + size], counters=counters)
        )
    size = max(1, -(-len(changes.started) // parts))
    for at in range(0, len(changes.started), size):
        records.append(
            ChangeSet(instance=instance, started=changes.started[at : at + size], counters=counters)
        )
    records.append(
        ChangeSet(
            instance=instance,
            delivered=changes.delivered,
            positions=changes.positions,
            counters=counters,
        )
    )
    return [_encoder.encode(record) for record in records]


class AssemblyChangelog:
    """One assembly instance's view of the changelog: read it, append to it, wait.

    ``instance`` is the planner's instance name (the record key); appends go through
    ``producer``, whose health is checked while waiting for acknowledgements."""

    def __init__(self, settings: KafkaSettings, producer: EventProducer, instance: str) -> None:
        self._settings = settings
        self._producer = producer
        self._key = instance.encode()
        self.positions: dict[str, int] = {}
        """``topic:partition`` -> next offset to read, as any instance recorded it."""
        self.handoff_positions: dict[int, int] = {}
        """Handoff partition -> next offset to read, as this instance recorded it."""

    def read(self, replay: Callable[[ChangeSet], None] | None = None) -> int:
        """Read the whole changelog for the positions of every instance (the highest
        recorded wins); with ``replay``, also hand each of this instance's change sets
        to it, in order, and note its inbox positions. Returns how many were replayed."""
        replayed = 0
        for message in read_to_end(
            self._settings, [ASSEMBLY_CHANGELOG], client_id="assembly-restore"
        ):
            try:
                changes = _decoder.decode(message.value() or b"")
            except msgspec.DecodeError:
                log.warning(
                    "skipping an unreadable changelog record at offset %d", message.offset()
                )
                continue
            ours = message.key() == self._key
            for key, offset in changes.positions.items():
                if key.startswith(_HANDOFF_KEY):
                    if ours and replay is not None:
                        partition = int(key[len(_HANDOFF_KEY) :])
                        if offset > self.handoff_positions.get(partition, -1):
                            self.handoff_positions[partition] = offset
                elif offset > self.positions.get(key, -1):
                    self.positions[key] = offset
            if replay is not None and ours:
                replay(changes)
                replayed += 1
        return replayed

    def resume(self, partitions: list[TopicPartition]) -> list[TopicPartition]:
        """Point each of ``partitions`` (just assigned) at the next offset the changelog
        recorded for it, re-reading it first: another instance may have recorded them
        since. Returns the partitions that had a position; the others start from the
        group's committed offsets, which are also the fallback when the re-read fails."""
        try:
            self.read()
        except Exception as exc:  # noqa: BLE001 - the committed offsets are the fallback
            log.warning("could not re-read changelog positions: %s", exc)
        recorded = []
        for tp in partitions:
            offset = self.positions.get(f"{tp.topic}:{tp.partition}")
            if offset is not None:
                tp.offset = offset
                recorded.append(tp)
        return recorded

    def write(
        self, changes: ChangeSet, timestamp_ms: int, running: Callable[[], bool], *, flush: bool
    ) -> bool:
        """Append ``changes`` (when there are any) and wait until they are durable; with
        ``flush``, wait for what the producer holds even when there are none. False when
        ``running`` says stop first (see :meth:`wait_durable`)."""
        if changes:
            self.append(changes, timestamp_ms)
        if flush or changes:
            return self.wait_durable(running)
        return True

    def append(self, changes: ChangeSet, timestamp_ms: int) -> None:
        """Queue ``changes`` (in parts when large); :meth:`wait_durable` makes them stored."""
        for value in changelog_records(changes):
            self._producer.send_raw(ASSEMBLY_CHANGELOG, self._key, value, timestamp_ms)

    def wait_durable(self, running: Callable[[], bool]) -> bool:
        """Wait until everything the producer holds is acknowledged (the changes, and the
        records sent before them). False when ``running`` says stop first: nothing
        unacknowledged may then be acted upon."""
        while self._producer.flush(1.0) > 0:
            self._producer.health.check(self._producer)
            if not running():
                return False
        return True
