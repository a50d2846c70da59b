"""How far the assembly stations have read their inputs, and how far time may go.

The assembly service (:mod:`widget_factory.widget_assembly_simulator`) keeps here what
it has read of ``component-production`` and ``production-orders`` (offsets and the
event time reached per partition), what other processes report when scaled out, and
the orders it has published. From that follow, in virtual time, the watermark its
clock may advance to, and, when draining, whether every input is read to its end.

Nothing here talks to Kafka or reads a clock: the service passes in what the consumer
last saw of its assignment as :data:`Ends` (``(topic, partition)`` -> low and high
watermark, in assignment order), so every rule is tested with plain values.
"""

from __future__ import annotations

from collections.abc import Mapping

from widget_factory.schemas import ProductionOrder

__all__ = ["PartitionReport", "Progress", "Ends", "InputProgress", "PublishedOrders"]

PartitionReport = tuple[int, int, float | None]
"""(next offset read, high watermark seen, event time reached) of one partition."""

Progress = dict[str, PartitionReport]
"""``topic:partition`` -> its report, as processes exchange them. Keys starting with
``@orders`` are the order publisher's: ``@orders`` carries the time by which every
order it created is stored, ``@orders:P`` the offset below which they are in partition P."""

Ends = Mapping[tuple[str, int], tuple[int, int]]
"""Assigned ``(topic, partition)`` -> (low, high) watermark as last fetched (-1: unknown)."""


class InputProgress:
    """What this process has read of its group partitions, and what others say they have.

    ``components`` and ``orders`` are the input topics' names; ``start`` is the
    simulated start, the orders watermark before any publisher has spoken."""

    def __init__(self, components: str, orders: str, start: float, hold_s: float = 0.0) -> None:
        self.components = components
        self._hold_s = hold_s
        """How late a component may be sent (``--max-delay``, core/edge_gateway.py): a
        partition's time is taken this far behind the newest component read from it."""
        self.orders = orders
        self._start = start
        self.read_pos: dict[str, int] = {}
        """``topic:partition`` -> next offset, for the group partitions read here."""
        self.partition_time: dict[int, float] = {}
        """Component partition -> event time of the last component read from it."""
        self.handoff_time: float | None = None
        """Latest event time of a component handed over by another process."""
        self.remote: Progress = {}
        """Scaled out in virtual time: how far other processes have read their partitions."""
        self.group_partitions: list[tuple[str, int]] = []
        """Every partition of both input topics, whoever reads it (scaled out only)."""
        self._orders_wm: float | None = None

    # --- what was read ------------------------------------------------------------------

    def read(self, topic: str, partition: int, next_offset: int) -> None:
        """A group partition is read (or, on assignment, recorded) up to ``next_offset``."""
        self.read_pos[f"{topic}:{partition}"] = next_offset

    def component_read(self, partition: int, produced_at: float) -> None:
        """A component from a group partition: partitions are in time order (in release
        order with late delivery, so complete only up to ``hold_s`` before it)."""
        self.partition_time[partition] = produced_at - self._hold_s

    def handoff_read(self, produced_at: float) -> None:
        """A component another process handed over (inbox records are not in time order)."""
        if self.handoff_time is None or produced_at > self.handoff_time:
            self.handoff_time = produced_at

    def _next_component(self, partition: int) -> int | None:
        return self.read_pos.get(f"{self.components}:{partition}")

    # --- reports between processes ------------------------------------------------------

    def merge(self, progress: Progress) -> None:
        """Take another process's report; an older report of a partition never wins."""
        for key, report in progress.items():
            known = self.remote.get(key)
            if known is None or report[0] >= known[0]:
                self.remote[key] = report

    def report(self, ends: Ends) -> Progress:
        """How far this process has read each assigned partition it has a position for."""
        progress: Progress = {}
        for (topic, partition), (_low, high) in ends.items():
            key = f"{topic}:{partition}"
            position = self.read_pos.get(key)
            if position is None:
                continue
            seen = self.partition_time.get(partition) if topic == self.components else None
            progress[key] = (position, high, seen)
        return progress

    def publisher_report(self, confirmed: float, order_ends: Mapping[int, int]) -> Progress:
        """The publisher's own entries (see :data:`Progress`), also kept as known here."""
        progress: Progress = {"@orders": (0, 0, confirmed)}
        for partition, end in order_ends.items():
            progress[f"@orders:{partition}"] = (end, 0, None)
        self.remote.update(progress)
        return progress

    # --- watermarks ---------------------------------------------------------------------

    def local_watermark(self, ends: Ends, *, lockstep: bool = False) -> float | None:
        """Virtual time, one process: the event time every component partition has reached.

        Each partition is in time order, so stations may act up to the slowest
        partition's latest time without a component from the past turning up later.
        Partitions read to their end do not hold time back, except in ``lockstep``: a
        partition read to its end may still get earlier components than another's latest,
        so only its own latest time is certain. None: hold everything."""
        held: list[float] = []
        for (topic, partition), (_low, high) in ends.items():
            if topic != self.components:
                continue
            seen = self.partition_time.get(partition)
            if lockstep:
                if seen is None:
                    return None
                held.append(seen)
                continue
            position = self._next_component(partition)
            if high >= 0 and position is not None and position >= high:
                continue
            if seen is None:
                if high > 0:
                    return None  # data waiting there, none read yet: hold everything
                continue
            held.append(seen)
        if held:
            return min(held)
        seen_times = list(self.partition_time.values())
        if self.handoff_time is not None:
            seen_times.append(self.handoff_time)
        return max(seen_times, default=None)

    def global_watermark(self, ends: Ends) -> float | None:
        """Scaled out, virtual time: the event time every component partition has
        reached, whichever process reads it (as :meth:`local_watermark`)."""
        latest: list[float] = []
        held: list[float] = []
        for topic, partition in self.group_partitions:
            if topic != self.components:
                continue
            position: int | None
            seen: float | None
            if (topic, partition) in ends:
                seen = self.partition_time.get(partition)
                high = ends[(topic, partition)][1]
                position = self._next_component(partition)
            else:
                report = self.remote.get(f"{topic}:{partition}")
                if report is None:
                    return None  # nobody has said how far it is: hold
                position, high, seen = report
            if seen is not None:
                latest.append(seen)
            if high >= 0 and position is not None and position >= high:
                continue
            if seen is None:
                if high != 0:
                    return None
                continue
            held.append(seen)
        if held:
            return min(held)
        if self.handoff_time is not None:
            latest.append(self.handoff_time)
        return max(latest, default=None)

    def orders_watermark(self, ends: Ends) -> float:
        """Scaled out, virtual time: the time by which every order the publisher has
        created is read from its partition (so forwarded, if it belongs elsewhere).
        Infinite when no process has said it publishes orders; once reached, a time
        stays until the next one is reached (the start before the first)."""
        published = self.remote.get("@orders")
        if published is None or published[2] is None:
            return float("inf")
        local = {partition for topic, partition in ends if topic == self.orders}
        for key, (end, _high, _time) in self.remote.items():
            if not key.startswith("@orders:"):
                continue
            partition = int(key.rsplit(":", 1)[1])
            if partition in local:
                have = self.read_pos.get(f"{self.orders}:{partition}", -1)
            else:
                report = self.remote.get(f"{self.orders}:{partition}")
                have = report[0] if report is not None else -1
            if have < end:
                break
        else:
            self._orders_wm = published[2]
        return self._orders_wm if self._orders_wm is not None else self._start

    # --- the end of the inputs ----------------------------------------------------------

    def group_at_end(self, ends: Ends, positions: Mapping[tuple[str, int], int]) -> bool:
        """Every assigned partition read to its high watermark. ``positions`` are the
        consumer's (negative: none yet). A partition assigned at a recorded position
        that another process had read to the end yields no record, so the consumer
        reports no position for it: the position it was assigned from counts."""
        if not ends:
            return False
        for (topic, partition), (low, high) in ends.items():
            if high < 0:
                return False
            position = max(
                positions.get((topic, partition), -1), self.read_pos.get(f"{topic}:{partition}", -1)
            )
            if position < 0:
                if high > max(low, 0):
                    return False
            elif position < high:
                return False
        return True

    def others_at_end(self, ends: Ends) -> bool:
        """Every group partition not assigned here reported read to its end: all the
        handoffs for this process's stations are then in its inbox."""
        for topic, partition in self.group_partitions:
            if (topic, partition) in ends:
                continue
            report = self.remote.get(f"{topic}:{partition}")
            if report is None or report[1] < 0 or report[0] < report[1]:
                return False
        return True

    def inputs_at_end(
        self,
        ends: Ends,
        positions: Mapping[tuple[str, int], int],
        *,
        inbox_at_end: bool | None,
        virtual: bool,
    ) -> bool:
        """Everything this process's stations will get is read. ``inbox_at_end`` is
        None for a process that is not scaled out (it has no inbox); scaled out in
        virtual time, the partitions other processes read count too."""
        if not self.group_at_end(ends, positions):
            return False
        if inbox_at_end is None:
            return True
        if not inbox_at_end:
            return False
        return not virtual or self.others_at_end(ends)


class PublishedOrders:
    """The orders this process publishes, from sending to storing to reading back.

    In virtual time the clock waits for orders this process published and has not read
    back yet, so a station never runs ahead of an order it is about to receive; scaled
    out, other processes learn from :meth:`confirmed` and :attr:`ends` which orders are
    stored where (see :meth:`InputProgress.publisher_report`)."""

    def __init__(self, start: float) -> None:
        self.until = start
        """Every order created by this time is published..."""
        self._confirmed = start
        """...and, by this time, stored, at offsets below :attr:`ends`."""
        self.ends: dict[int, int] = {}
        self.unacked = 0
        self._partitions: dict[str, int] = {}
        self._in_flight: dict[str, float] = {}

    def sent(self, order: ProductionOrder, *, awaited: bool) -> None:
        """``order`` is sent; with ``awaited`` (virtual time), time waits for it."""
        self.unacked += 1
        if awaited:
            self._in_flight[order.order_id] = order.created_at.timestamp()

    def delivered(self, order_id: str, partition: int | None, offset: int) -> None:
        """The broker answered: stored at ``partition``/``offset``, or (None) not stored."""
        self.unacked -= 1
        if partition is not None:
            self._partitions[order_id] = partition
            self.ends[partition] = max(self.ends.get(partition, 0), offset + 1)

    def published_until(self, at: float) -> None:
        """Every order created by ``at`` is sent."""
        self.until = max(self.until, at)

    def read_back(self, order_id: str) -> None:
        self._in_flight.pop(order_id, None)

    def confirmed(self) -> float:
        """The time by which every order created is stored (moves on when none is
        waiting for the broker's answer)."""
        if self.unacked == 0:
            self._confirmed = self.until
        return self._confirmed

    @property
    def pending(self) -> bool:
        """Some order sent in virtual time is not read back (nor known to go elsewhere)."""
        return bool(self._in_flight)

    def awaited(self, assigned: set[int]) -> list[float]:
        """Times of published orders this process will read back itself (``assigned``:
        its partitions of the orders topic); those stored in a partition assigned to
        another process reach their station without it."""
        awaited = []
        for order_id, at in list(self._in_flight.items()):
            partition = self._partitions.get(order_id)
            if partition is not None and partition not in assigned:
                del self._in_flight[order_id]
                self._partitions.pop(order_id, None)
            else:
                awaited.append(at)
        return awaited
