"""Start-up calls that need the broker: wait for it instead of dying when it is paused.

A running service rides out a broker outage (librdkafka reconnects, records wait in the
queue). A service that is just starting makes a few blocking calls (metadata, end
offsets) that fail with a timeout when the broker does not answer; without a retry, a
service restarted a moment before a broker pause exits with a traceback.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from confluent_kafka import KafkaException

from widget_factory.errors import BrokerUnavailable

__all__ = ["until_answered"]

log = logging.getLogger(__name__)

T = TypeVar("T")


def until_answered(
    call: Callable[[], T],
    what: str,
    *,
    stopping: Callable[[], bool] = lambda: False,
    pause: float = 1.0,
) -> T:
    """``call()``, retried every ``pause`` seconds while the broker does not answer; one
    warning for the wait. Gives up (re-raises) once ``stopping()`` is true. ``call``
    must be safe to repeat after a failure (fail before it changes anything)."""
    waiting_since: float | None = None
    while True:
        try:
            result = call()
        except (KafkaException, BrokerUnavailable) as exc:
            if stopping():
                raise
            if waiting_since is None:
                waiting_since = time.monotonic()
                log.warning("%s: the broker does not answer (%s); waiting for it", what, exc)
            time.sleep(pause)
            continue
        if waiting_since is not None:
            log.warning(
                "%s: the broker answered after %.0f s", what, time.monotonic() - waiting_since
            )
        return result
