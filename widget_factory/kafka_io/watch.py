"""Watch topics without joining a consumer group: ``tail``, the monitor, scenario summaries.

A :class:`TopicWatcher` assigns every partition of its topics itself (no group, no
commits, so it never disturbs the factory's consumers) from a chosen start per topic:
the beginning, the exact current end, or the last N records of each partition. "The
end" is found from fetch high watermarks (see :mod:`widget_factory.kafka_io.lag`), never
from ``auto.offset.reset=latest``, which re-reads old records on the embedded broker.

While it reads, the fetch responses keep its high watermarks exact: :meth:`ends` gives
every partition's end offset at almost no cost, for throughput and lag.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Literal

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, Message, TopicPartition

from widget_factory.errors import BrokerUnavailable
from widget_factory.kafka_io.lag import EndOffsetProbe, Key
from widget_factory.kafka_io.settings import KafkaSettings

__all__ = ["Start", "TopicWatcher"]

Start = Literal["beginning", "end"] | int
"""Where to start reading a topic: its beginning, its end, or this many records before
the end of each partition."""


class TopicWatcher:
    def __init__(
        self,
        settings: KafkaSettings,
        starts: Mapping[str, Start],
        *,
        client_id: str = "widget-factory-watch",
        missing_ok: bool = True,
    ) -> None:
        """Read the topics of ``starts`` from their starts. Topics that do not exist are
        skipped (``missing_ok``) or raise :class:`BrokerUnavailable`."""
        self.topics = list(starts)
        probe = EndOffsetProbe(settings, client_id=client_id + "-probe")
        try:
            partitions = probe.partitions(self.topics)
            found = {tp.topic for tp in partitions}
            missing = [t for t in self.topics if t not in found]
            if missing and not missing_ok:
                raise BrokerUnavailable(
                    f"no topic {', '.join(missing)} on {settings.bootstrap_servers}"
                )
            needs_end = [tp for tp in partitions if starts[tp.topic] != "beginning"]
            ends = probe.end_offsets(needs_end) if needs_end else {}
        finally:
            probe.close()
        assignment = []
        for tp in partitions:
            start = starts[tp.topic]
            if start == "beginning":
                offset = OFFSET_BEGINNING
            else:
                end = ends[(tp.topic, tp.partition)]
                back = 0 if start == "end" else int(start)
                offset = max(end.low, end.high - back)
            assignment.append(TopicPartition(tp.topic, tp.partition, offset))
        config = settings.consumer_config(
            f"widget-factory-watch-{uuid.uuid4().hex[:8]}",
            **{"client.id": client_id, "enable.partition.eof": True},
        )
        self.consumer = Consumer(config)
        self.partitions: list[Key] = [(tp.topic, tp.partition) for tp in assignment]
        self.start_offsets: dict[Key, int] = {
            (tp.topic, tp.partition): tp.offset for tp in assignment if tp.offset >= 0
        }
        """Where reading started, for partitions that started at a known offset."""
        self.consumer.assign(assignment)
        self._eof: set[Key] = set()
        self.read_count: dict[str, int] = dict.fromkeys(self.topics, 0)

    def poll(self, max_records: int = 5000, timeout: float = 0.1) -> list[Message]:
        """Records that arrived (partition EOF markers are absorbed)."""
        records = []
        for message in self.consumer.consume(max_records, timeout):
            error = message.error()
            key = (str(message.topic()), int(message.partition() or 0))
            if error is None:
                self._eof.discard(key)
                records.append(message)
                self.read_count[key[0]] = self.read_count.get(key[0], 0) + 1
            elif error.code() == KafkaError._PARTITION_EOF:
                self._eof.add(key)
        return records

    def quiet(self) -> frozenset[Key]:
        """Partitions read to their end, with nothing new fetched since."""
        return frozenset(self._eof)

    def caught_up(self) -> bool:
        """Every partition has been read to the end it had when last fetched."""
        return len(self._eof) >= len(self.partitions)

    def ends(self, topics: Sequence[str] | None = None) -> dict[Key, int]:
        """End offsets (exact fetch high watermarks) of the partitions fetched so far."""
        wanted = set(topics) if topics is not None else None
        result: dict[Key, int] = {}
        for topic, partition in self.partitions:
            if wanted is not None and topic not in wanted:
                continue
            _low, high = self.consumer.get_watermark_offsets(
                TopicPartition(topic, partition), cached=True
            )
            if high >= 0:
                result[(topic, partition)] = high
        return result

    def close(self) -> None:
        self.consumer.close()
