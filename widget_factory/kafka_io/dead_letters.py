"""Dead letters: records a service cannot read, stored on ``factory-deadletter`` as they were.

The bytes are untouched; headers say where the record came from and why it was refused,
so it can be found, understood and replayed (docs/contract.md, "Dead letters").
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from confluent_kafka import KafkaError, KafkaException, Message

from widget_factory.kafka_io.topics import FACTORY_DEADLETTER

if TYPE_CHECKING:
    from widget_factory.kafka_io.client import EventProducer

__all__ = ["DeadLetters"]

log = logging.getLogger(__name__)


class DeadLetters:
    """Routes records a service cannot read to ``factory-deadletter``, bytes untouched.

    Headers name the source topic, partition and offset and the error, so the record can
    be found, understood and replayed. One warning per record; the service carries on.

    ``routed`` holds the records already dead-lettered (a restarted service fills it
    from the topic, :func:`widget_factory.kafka_io.intake.routed_before`): one re-read
    after a crash is not dead-lettered twice. A record too large to be stored again with
    the extra headers (the producer's or the broker's ``message.max.bytes``) is
    dead-lettered with its first :data:`TRUNCATED_BYTES` bytes and the header
    ``value.truncated`` giving its full length, rather than not at all.
    """

    TRUNCATED_BYTES = 64 * 1024

    def __init__(self, producer: EventProducer, service: str) -> None:
        self._producer = producer
        self._service = service
        self.count = 0
        self.routed: set[tuple[str, int, int]] = set()

    def route(self, message: Message, error: str) -> None:
        topic, partition, offset = message.topic(), message.partition(), message.offset()
        where = (str(topic), int(partition or 0), int(offset or 0))
        if where in self.routed:
            log.debug("%s: %s[%d]@%d was dead-lettered before", self._service, *where)
            return
        self.routed.add(where)
        self.count += 1
        log.warning(
            "%s: dead-lettered %s[%d]@%d: %s", self._service, topic, partition, offset, error
        )
        headers: list[tuple[str, bytes]] = []
        for header in message.headers() or []:
            name, value = header[0], header[1]
            headers.append(
                (str(name), value if isinstance(value, bytes) else str(value or "").encode())
            )
        headers += [
            ("source.topic", str(topic).encode()),
            ("source.partition", str(partition).encode()),
            ("source.offset", str(offset).encode()),
            ("error", error[:2000].encode()),
            ("service", self._service.encode()),
        ]
        ts_type, ts = message.timestamp()
        self._send(message.key(), message.value(), ts if ts_type and ts > 0 else 0, headers)

    def _send(
        self, key: bytes | None, value: bytes | None, ts: int, headers: list[tuple[str, bytes]]
    ) -> None:
        def on_delivery(error: KafkaError | None, delivered: Message) -> None:
            if error is not None and error.code() == KafkaError.MSG_SIZE_TOO_LARGE:
                self._send_truncated(key, value, ts, headers)  # the broker's limit
                return
            self._producer.count_delivery(error, delivered)

        try:
            self._producer.send_raw(
                FACTORY_DEADLETTER, key, value, ts, headers=headers, on_delivery=on_delivery
            )
        except KafkaException as exc:  # the producer's own limit, refused at once
            if exc.args[0].code() != KafkaError.MSG_SIZE_TOO_LARGE:
                raise
            self._send_truncated(key, value, ts, headers)

    def _send_truncated(
        self, key: bytes | None, value: bytes | None, ts: int, headers: list[tuple[str, bytes]]
    ) -> None:
        size = len(value or b"")
        log.warning(
            "%s: a dead letter of %d bytes is too large to store whole; keeping its first %d",
            self._service,
            size,
            self.TRUNCATED_BYTES,
        )
        self._producer.send_raw(
            FACTORY_DEADLETTER,
            key,
            (value or b"")[: self.TRUNCATED_BYTES],
            ts,
            headers=[*headers, ("value.truncated", str(size).encode())],
        )
