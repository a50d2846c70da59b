"""Analytics in event-time order, for a reproducible run (``--lockstep``).

Windows close as the inputs' frontiers allow; read in arrival order, a record behind a
window already closed is late, and which are late depends on timing. In lockstep the
service holds every record and hands it to the engine in simulated-time order, only up
to the time every input has certainly reached, and then closes windows up to that
time: nothing is ever late, and the metrics, and their order, depend only on the inputs.

How far an input has certainly reached: telemetry, the earliest latest report over every
machine (all report on a fixed interval); inventory, the earliest latest movement over
every SKU of the factory (each SKU's movements are written in event-time order, and
some partitions of the topic never get a SKU); every other topic, the earliest newest
event over its partitions (each partition is in event-time order). Records sent late and
out of order (``--late-fraction``) break that order by less than their largest delay, so
the service treats each input as complete only up to that time less its lateness bound
(analytics/service.py): with a bound at least the largest delay, the windows are exactly
those of the same run without delay.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

from widget_factory.core.lockstep import EventTimeQueue
from widget_factory.core.metric_records import Metric
from widget_factory.core.windows import PartitionProgress
from widget_factory.factory_config import FactoryConfig
from widget_factory.kafka_io.topics import INVENTORY_UPDATES, MACHINE_TELEMETRY
from widget_factory.schemas import Event, InventoryUpdate, MachineTelemetry

__all__ = ["AnalyticsInOrder", "metric_order"]


def metric_order(metric: Metric) -> tuple[Any, str, str]:
    """Within what one call closes: by window end, then metric name and key, so the
    output's order does not depend on how far each call went."""
    return (metric.window_end, metric.metric, metric.key)


class AnalyticsInOrder:
    """Holds input events until their time has come (see the module docstring)."""

    def __init__(self, config: FactoryConfig, ranks: dict[str, int]) -> None:
        self._ranks = ranks
        self._machines = dict.fromkeys(config.all_machine_ids, -math.inf)
        self._skus = dict.fromkeys([*config.component_types, *config.widget_types], -math.inf)
        self.queue: EventTimeQueue[tuple[str, Event]] = EventTimeQueue()

    def add(self, topic: str, event: Event) -> None:
        at = event.occurred_at.timestamp()
        if isinstance(event, MachineTelemetry) and at > self._machines.get(event.machine_id, at):
            self._machines[event.machine_id] = at
        elif isinstance(event, InventoryUpdate) and at > self._skus.get(event.sku, at):
            self._skus[event.sku] = at
        self.queue.push(at, self._ranks.get(topic, 99), event.event_id, (topic, event))

    def watermark(self, progress: dict[str, list[PartitionProgress]]) -> float:
        """``progress``: per input topic, its partitions as read (assigned ones)."""
        low = min(
            min(self._machines.values(), default=math.inf),
            min(self._skus.values(), default=math.inf),
        )
        for topic, partitions in progress.items():
            if topic in (MACHINE_TELEMETRY, INVENTORY_UPDATES):
                continue
            if not partitions:
                return -math.inf
            for p in partitions:
                low = min(low, -math.inf if p.newest is None else p.newest)
        return low

    def release(self, until: float) -> Iterator[tuple[str, Event]]:
        for _at, item in self.queue.pop_until(until):
            yield item
