"""A producer's records sent through an edge gateway: late and out of order, on purpose.

The decisions are :mod:`widget_factory.core.edge_gateway`'s; this sends what it
releases on the producer's topic, unchanged, and each outage's summary on
``factory-ground-truth`` once every record it held is sent. ``--late-fraction 0`` (the
default) builds none of this: the producers send as they always did.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from typing import Literal, Protocol, cast

from widget_factory.core.edge_gateway import EdgeGateway, OutageSummary, Topic, delay_truth
from widget_factory.core.ground_truth import CycleTimes
from widget_factory.factory_config import FactoryConfig
from widget_factory.kafka_io.client import EventProducer
from widget_factory.kafka_io.truth_publisher import TruthPublisher
from widget_factory.schemas import Event

__all__ = ["LateSender"]


class LateOptions(Protocol):
    """What a producer service's options say about late delivery (``ServiceOptions``)."""

    @property
    def late_fraction(self) -> float: ...

    @property
    def max_delay_s(self) -> float: ...

    @property
    def start(self) -> float: ...

    @property
    def end(self) -> float | None: ...

    @property
    def config(self) -> FactoryConfig: ...

    def rng(self, name: str) -> random.Random: ...


class LateSender:
    """Holds ``topic``'s records in a gateway and sends them at their release time.

    ``key_of`` names a record's target (its machine); ``target_type`` says whether a
    target is a machine or a station, for the answer key. ``until`` in :meth:`deliver`
    is the simulated time the producer has made every record up to."""

    def __init__(
        self,
        producer: EventProducer,
        truth: TruthPublisher,
        topic: Topic,
        gateway: EdgeGateway[Event],
        key_of: Callable[[Event], str],
        target_type: Callable[[str], Literal["machine", "station"]],
    ) -> None:
        self._producer = producer
        self._truth = truth
        self._topic: Topic = topic
        self.gateway = gateway
        self._key_of = key_of
        self._target_type = target_type

    @classmethod
    def build(
        cls,
        producer: EventProducer,
        truth: TruthPublisher,
        topic: str,
        options: LateOptions,
        *,
        calm_s: float,
        key_of: Callable[[Event], str],
    ) -> LateSender | None:
        """A sender when ``options.late_fraction`` asks for late delivery, else None. A
        bounded run ends calm: every held record is out ``calm_s`` before its end."""
        if options.late_fraction <= 0:
            return None
        end = options.end
        gateway: EdgeGateway[Event] = EdgeGateway(
            options.late_fraction,
            options.max_delay_s,
            lambda target: options.rng(f"edge-gateway:{topic}:{target}"),
            options.start,
            last_release_by=math.inf if end is None else end - calm_s,
        )
        target_type = CycleTimes(options.config).target_type
        return cls(producer, truth, cast(Topic, topic), gateway, key_of, target_type)

    def send(self, events: Sequence[Event]) -> None:
        """Records as made (in event-time order per target): held until :meth:`deliver`."""
        gateway, key_of = self.gateway, self._key_of
        for event in events:
            gateway.send(key_of(event), event.occurred_at.timestamp(), event)

    def deliver(self, until: float) -> int:
        """Send what is due by ``until``, and the summaries of outages now fully sent;
        returns how many records were sent."""
        due = self.gateway.release(until)
        self._producer.send_all(self._topic, due)
        self._truth.publish(self._truths(self.gateway.summaries(until)))
        return len(due)

    def next_release(self) -> float:
        return self.gateway.next_release()

    def close(self) -> int:
        """The producer stops: everything held goes now, in release order, and every
        outage's summary with it."""
        rest = self.gateway.flush()
        self._producer.send_all(self._topic, rest)
        self._truth.publish(self._truths(self.gateway.close()))
        return len(rest)

    def _truths(self, summaries: list[OutageSummary]) -> list[Event]:
        return [delay_truth(s, self._topic, self._target_type(s.target_id)) for s in summaries]
