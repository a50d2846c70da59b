"""How far virtual time (``--speed max``) may go for one assembly process.

Time follows the inputs: it moves to the event time every component partition has
reached (read here or, scaled out, by any process), never past an order still on its way
back from Kafka nor, in lockstep, past the machines' status watermark. Draining with
every input in, it goes on to the end and to the next build's completion. The service
publishes the orders due by the time this allows (:meth:`VirtualTime.reachable`) before
it moves the clock (:meth:`VirtualTime.advance`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import KW_ONLY, dataclass

from widget_factory.core.assembly import AssemblyPlanner
from widget_factory.core.clock import SimClock
from widget_factory.core.lockstep import PlannerFeed
from widget_factory.core.progress import Ends, InputProgress, PublishedOrders

__all__ = ["VirtualTime"]


@dataclass(eq=False)
class VirtualTime:
    """The virtual clock's pace for one assembly process (see the module docstring)."""

    clock: SimClock
    planner: AssemblyPlanner
    progress: InputProgress
    published: PublishedOrders
    feed: PlannerFeed | None
    """Lockstep: the status watermark holds time too."""
    _: KW_ONLY
    scaled_out: bool
    """Time waits for the inputs every station process reported, not only these."""

    def reachable(
        self, ends: Ends, draining: bool, inputs_at_end: Callable[[], bool]
    ) -> float | None:
        """The time the inputs allow, capped at the planner's cutoff; None holds still."""
        cutoff = self.planner.cutoff
        lockstep = self.feed is not None
        if self.scaled_out:
            watermark = self.progress.global_watermark(ends)
        else:
            watermark = self.progress.local_watermark(ends, lockstep=lockstep)
        if lockstep and draining and cutoff != float("inf") and inputs_at_end():
            watermark = cutoff  # every input is in: on to the end
        if watermark is None:
            # Nothing read that tells the time (a process whose partitions others had
            # already consumed): once everything is in, draining goes to the end.
            if not (draining and cutoff != float("inf") and inputs_at_end()):
                return None
            watermark = cutoff
        return min(watermark, cutoff)

    def advance(
        self, target: float, ends: Ends, draining: bool, fresh_ends: Callable[[], Ends]
    ) -> None:
        """Move the clock towards ``target`` (the orders due by then are published):
        scaled out, no further than every order publisher has reported; never to an
        awaited order's instant in lockstep (it must be applied first)."""
        if self.scaled_out:
            target = min(target, self.progress.orders_watermark(fresh_ends()))
        published = self.published
        awaited = (
            published.awaited({p for t, p in ends if t == self.progress.orders})
            if published.pending
            else []
        )
        if awaited:
            first = min(awaited)
            lockstep = self.feed is not None
            target = min(target, math.nextafter(first, -math.inf) if lockstep else first)
        if self.feed is not None:
            target = min(target, self.feed.gate.watermark())
        self.clock.advance_to(target)
        if draining and not awaited:
            due = self.planner.next_completion()
            if due != float("inf"):
                self.clock.advance_to(due)
