"""Event-time order for services of one virtual-time run, so a seed gives the same records.

At ``--speed max`` every service moves its own virtual clock as fast as its inputs
allow. Records from different partitions and topics arrive in whatever order the broker
and the machine's load deliver them; a service that acts on them in arrival order makes
different decisions on every run. In *lockstep* a service instead:

- holds its inputs in an :class:`EventTimeQueue` and applies them in simulated-time
  order (ties broken by kind and id, never by arrival), stepping its own simulation to
  each input's time before applying it;
- moves only as far as every upstream has certainly reached: for machine status, the
  :class:`StatusGate` (every machine reports on a fixed interval, in time order, so once
  a machine's report at ``t`` is in, nothing earlier about it can still come; with late
  delivery, ``--max-delay D``, nothing before ``t - D``).

Pure: no Kafka, no wall clock.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Iterable
from typing import Any, Generic, TypeVar

from widget_factory.core.assembly import AssemblyPlanner
from widget_factory.core.assembly_records import StepResult
from widget_factory.schemas import ComponentProduced, MachineStatus, ProductionOrder

__all__ = ["EventTimeQueue", "StatusGate", "PlannerFeed", "STATUS_RANK"]

STATUS_RANK = 0
_ORDER_RANK = 1
_COMPONENT_RANK = 2
"""At one instant: a status change first, then orders, then components."""

T = TypeVar("T")


class EventTimeQueue(Generic[T]):
    """Inputs waiting for their simulated time, popped in (time, rank, key) order.

    ``rank`` orders kinds of input at the same instant (a status before an order before
    a component); ``key`` (an id) orders inputs of one kind; the insertion counter only
    keeps the heap total, it never decides between different inputs."""

    def __init__(self) -> None:
        self._heap: list[tuple[float, int, str, int, T]] = []
        self._counter = itertools.count()

    def __len__(self) -> int:
        return len(self._heap)

    def push(self, at: float, rank: int, key: str, item: T) -> None:
        heapq.heappush(self._heap, (at, rank, key, next(self._counter), item))

    def next_time(self) -> float:
        return self._heap[0][0] if self._heap else math.inf

    def pop_until(self, until: float) -> Iterable[tuple[float, T]]:
        """(time, item) of every input due at or before ``until``, in order; lazily, so
        the caller can act between two inputs."""
        heap = self._heap
        while heap and heap[0][0] <= until:
            at, _rank, _key, _n, item = heapq.heappop(heap)
            yield at, item


class StatusGate:
    """How far machine status is known, from the reports of the machines that matter.

    ``watermark()`` is the earliest latest-report time over ``machine_ids``: up to it,
    every status change of every one of them has been seen. A machine whose next report
    would come after ``end`` (the run's end) has said everything: it no longer holds
    time back. Before a machine's first report the watermark is ``-inf``.
    """

    def __init__(
        self,
        machine_ids: Iterable[str],
        interval: float,
        end: float | None = None,
        queue: EventTimeQueue[Any] | None = None,
        hold_s: float = 0.0,
    ) -> None:
        self._latest: dict[str, float] = {m: -math.inf for m in machine_ids}
        self._hold_s = hold_s
        """Late delivery (``--max-delay``): a report at ``t`` vouches only for ``t - hold_s``
        (core/edge_gateway.py); a bounded run's last reports are never late."""
        self._interval = interval
        self._end = math.inf if end is None else end
        self.pending: EventTimeQueue[Any] = EventTimeQueue() if queue is None else queue
        """Reports waiting for their time (a queue shared with other inputs, if given)."""

    def add(self, machine_id: str, status: MachineStatus, at: float) -> None:
        """A report read from telemetry (any machine; those not watched are dropped)."""
        latest = self._latest.get(machine_id)
        if latest is None:
            return
        if at > latest:
            self._latest[machine_id] = at
        self.pending.push(at, STATUS_RANK, machine_id, (machine_id, status))

    def watermark(self) -> float:
        end = self._end
        hold = self._hold_s
        low = math.inf
        for latest in self._latest.values():
            reached = end if latest + self._interval > end else latest - hold
            if reached < low:
                low = reached
        return min(low, end)

    def state(self) -> dict[str, Any]:
        """For logs: each machine's latest report time."""
        return dict(self._latest)


class PlannerFeed:
    """Feeds an assembly planner its inputs in event-time order (see the module doc).

    Components, orders and station statuses wait here; :meth:`step` moves the planner
    to each input's time, applies it, and ends at ``until``. Whatever order inputs
    arrived in, and however far apart the calls, the planner sees the same sequence."""

    def __init__(self, planner: AssemblyPlanner, gate: StatusGate) -> None:
        self.planner = planner
        self.gate = gate
        self.queue: EventTimeQueue[Any] = gate.pending

    def component(self, event: ComponentProduced) -> None:
        self.queue.push(event.produced_at.timestamp(), _COMPONENT_RANK, event.component_id, event)

    def order(self, order: ProductionOrder) -> None:
        self.queue.push(order.created_at.timestamp(), _ORDER_RANK, order.order_id, order)

    def step(self, until: float) -> tuple[StepResult, list[ProductionOrder]]:
        """The planner stepped to ``until`` with every input due by then applied in
        order; also the orders it accepted (for the log)."""
        planner = self.planner
        total = StepResult()
        accepted: list[ProductionOrder] = []
        for at, item in self.queue.pop_until(until):
            _merge(total, planner.step(at))
            if isinstance(item, ComponentProduced):
                planner.receive_component(item)
            elif isinstance(item, ProductionOrder):
                if planner.add_order(item):
                    accepted.append(item)
            else:
                planner.set_status(*item)
        _merge(total, planner.step(until))
        return total, accepted

    def stock_the_rest(self) -> int:
        """On stopping: every input still waiting is applied without moving time (its
        components go into stock, so the changelog that already records their positions
        also records them); returns how many there were."""
        waiting = list(self.queue.pop_until(math.inf))
        for _at, item in waiting:
            if isinstance(item, ComponentProduced):
                self.planner.receive_component(item)
            elif isinstance(item, ProductionOrder):
                self.planner.add_order(item)
            else:
                self.planner.set_status(*item)
        return len(waiting)


def _merge(total: StepResult, part: StepResult) -> None:
    total.completed += part.completed
    total.started += part.started
    total.shortages += part.shortages
    total.starvations += part.starvations
    total.starvation_ends += part.starvation_ends
