"""The last gate between a decoded record and a service: refuse the well-formed poison.

:func:`widget_factory.schemas.decode_as` refuses what is not an event; :class:`Intake`
refuses events that must not be acted on (a key that disagrees with the value, a time
years away, a second event under a known ``event_id`` with different facts; see
:mod:`widget_factory.core.intake`) by dead-lettering them. :func:`routed_before` tells a
restarted service which records it already dead-lettered, so a record re-read after a
crash (its offset was not committed yet) is not dead-lettered twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, Message

from widget_factory.core.intake import EventMemory, Seen, misfit
from widget_factory.factory_config import FactoryConfig
from widget_factory.kafka_io.dead_letters import DeadLetters
from widget_factory.kafka_io.reader import read_to_end
from widget_factory.kafka_io.settings import KafkaSettings
from widget_factory.kafka_io.topics import FACTORY_DEADLETTER
from widget_factory.schemas import Event

__all__ = ["Intake", "routed_before"]

log = logging.getLogger(__name__)


class Intake:
    """Screens decoded events for one service; dead-letters what it refuses.

    ``now`` is the service's clock (simulated epoch seconds); ``config`` gives the
    known component and widget types."""

    def __init__(
        self,
        dead_letters: DeadLetters,
        now: Callable[[], float],
        config: FactoryConfig,
        capacity: int = 50_000,
    ) -> None:
        self._dead_letters = dead_letters
        self._now = now
        self._component_types = frozenset(config.component_types)
        self._widget_types = frozenset(config.widget_types)
        self._memory = EventMemory(capacity)
        self.repeats = 0

    def admit(self, message: Message, event: Event) -> bool:
        """True when the service may act on ``event`` (it may still be a repeat, which
        the service drops as it always has); False when it was dead-lettered."""
        ts_type, ts = message.timestamp()
        record_time = ts / 1000 if ts_type != TIMESTAMP_NOT_AVAILABLE and ts > 0 else None
        reason = misfit(
            event,
            message.key(),
            now=self._now(),
            record_time=record_time,
            component_types=self._component_types,
            widget_types=self._widget_types,
        )
        if reason is None:
            seen = self._memory.check(event)
            if seen is Seen.CONFLICT:
                reason = (
                    f"conflicting duplicate: event_id {event.event_id} was read before "
                    "with different content"
                )
            elif seen is Seen.REPEAT:
                self.repeats += 1
        if reason is None:
            return True
        self._dead_letters.route(message, reason)
        return False


def routed_before(settings: KafkaSettings, service: str | None) -> set[tuple[str, int, int]]:
    """``(topic, partition, offset)`` of every record ``service`` has dead-lettered (any
    service's, with None: what the factory refused, which an audit leaves out)."""
    routed: set[tuple[str, int, int]] = set()
    client_id = f"{service or 'audit'}-dead-letters"
    for message in read_to_end(settings, [FACTORY_DEADLETTER], client_id=client_id):
        headers: dict[str, bytes] = {}
        for header in message.headers() or []:
            value = header[1]
            headers[str(header[0])] = value if isinstance(value, bytes) else b""
        if service is not None and headers.get("service", b"").decode(errors="replace") != service:
            continue
        try:
            routed.add(
                (
                    headers["source.topic"].decode(),
                    int(headers["source.partition"]),
                    int(headers["source.offset"]),
                )
            )
        except (KeyError, ValueError):
            continue
    if routed and service is not None:
        log.info(
            "%s: %d of its dead letters found (read again, they are skipped)", service, len(routed)
        )
    return routed
