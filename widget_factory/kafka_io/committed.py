"""Committed offsets of consumer groups for long-running readers, without the admin API.

librdkafka (2.16 here) can abort the whole process in a coordinator-bound admin request
(``ListConsumerGroupOffsets``) whose connection drops or times out: "Assertion
`eonce->refcnt > 0' failed" (confluentinc/librdkafka#4605). A one-shot command rarely
meets it; the dashboard, asking every two seconds inside ``run``, met it after five
minutes on a busy machine and took the factory down. So every long-running reader of
committed offsets (the dashboard, the monitor, the scenario worker) comes here. A consumer's ``committed()`` asks
the same question (OffsetFetch) through the consumer's own group coordinator instead.
One consumer per group is kept; it never subscribes, so it never joins the group and
never fetches records.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable

from confluent_kafka import Consumer, KafkaException, TopicPartition

from widget_factory.errors import BrokerUnavailable
from widget_factory.kafka_io.settings import KafkaSettings

__all__ = ["GroupOffsets"]

log = logging.getLogger(__name__)

Key = tuple[str, int]


class GroupOffsets:
    """``committed(group, partitions)``: what ``group`` has committed there."""

    def __init__(self, settings: KafkaSettings, *, client_id: str = "widget-factory-offsets"):
        self._settings = settings
        self._client_id = client_id
        self._consumers: dict[str, Consumer] = {}

    def _consumer(self, group: str) -> Consumer:
        consumer = self._consumers.get(group)
        if consumer is None:
            config = self._settings.consumer_config(
                group, **{"client.id": self._client_id, "enable.auto.commit": False}
            )
            consumer = self._consumers[group] = Consumer(config)
        return consumer

    def prepare(self, groups: Iterable[str]) -> None:
        """Open the readers of ``groups`` now: each connects and finds its coordinator in
        the background, so asking several groups in turn does not wait for each start."""
        for group in groups:
            self._consumer(group)

    def committed(
        self, group: str, partitions: Iterable[Key], timeout: float = 5.0
    ) -> dict[Key, int]:
        """Offsets ``group`` committed on ``partitions`` (those without one are left out)."""
        wanted = [TopicPartition(topic, partition) for topic, partition in partitions]
        if not wanted:
            return {}
        try:
            answer = self._consumer(group).committed(wanted, timeout=timeout)
        except KafkaException as exc:
            raise BrokerUnavailable(
                f"cannot read the committed offsets of {group!r}: {exc}"
            ) from None
        return {
            (str(tp.topic), int(tp.partition)): int(tp.offset)
            for tp in answer
            if tp.error is None and tp.offset >= 0
        }

    def retain(self, groups: Iterable[str]) -> None:
        """Close the readers of groups not in ``groups`` (groups come and go in a long
        watch: followers' own groups, finished scenario runs)."""
        keep = set(groups)
        for group in [g for g in self._consumers if g not in keep]:
            self._close(self._consumers.pop(group))

    @staticmethod
    def _close(consumer: Consumer) -> None:
        try:
            consumer.close()
        except (KafkaException, RuntimeError) as exc:
            log.debug("closing an offsets reader: %s", exc)

    def close(self) -> None:
        for consumer in self._consumers.values():
            self._close(consumer)
        self._consumers.clear()
