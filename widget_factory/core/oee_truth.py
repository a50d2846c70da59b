"""True OEE of every production machine, per window, from the production simulation's
own state (published as ``oee_truth`` records on ``factory-ground-truth``).

The same definitions as the analytics service's ``machine_oee`` (docs/analytics.md),
computed from what the simulation did rather than from the streams: **availability** =
running time / (window - time shut down - time idle); **performance** = nominal time of
what it made (count x the middle of its ``cycle_time_s``) / running time, at most 1; **quality** = components made without defects / made; **oee** = their product
(None when a factor is undefined). Idle, like a shutdown, is time not planned for
production: a machine parked by kanban (its component at the stock ceiling,
core/kanban.py) has no demand to meet, so that time is no availability loss. Windows are tumbling, aligned to the epoch like the
analytics service's. Inputs must come in simulated-time order (status changes and
components), as the production service makes them.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import datetime

import msgspec

from widget_factory.core.clock import to_datetime
from widget_factory.core.fast_encode import (
    Encoded,
    MadeComponent,
    OeeHead,
    window_part,
)
from widget_factory.core.ids import EventIdPrefix, uuid5_text
from widget_factory.core.windows import split_interval, window_start
from widget_factory.factory_config import FactoryConfig
from widget_factory.schemas import ComponentProduced, MachineStatus, OeeTruth

__all__ = ["OeeTruthTracker"]

_RUNNING = MachineStatus.RUNNING
_IDLE = MachineStatus.IDLE
_SHUTDOWN = MachineStatus.SHUTDOWN
_EXACT: frozenset[float] = frozenset({0.0, 1.0})
"""Ratios that rounding leaves as they are."""
_IDS_AT_ONCE_FROM = 64
"""Records closed in one call from which numpy writes their ids' texts together
(core/uuid_text.py): fewer, as a paced factory closes a window or two at a time, are
written one by one, and a factory that never closes many never loads numpy."""
_WHOLE: frozenset[float] = frozenset({0.0, 60.0})
"""Seconds that rounding leaves as they are: none, and a whole default window."""


class _Window(msgspec.Struct, gc=False):
    """One machine's tallies over one window (one per machine and minute: a Struct,
    made at C speed)."""

    producing_s: float = 0.0
    shutdown_s: float = 0.0
    idle_s: float = 0.0
    made: int = 0
    good: int = 0


class OeeTruthTracker:
    """See the module docstring. ``start``: the run's start (nothing is counted before)."""

    def __init__(self, config: FactoryConfig, start: float, window_s: float = 60.0) -> None:
        self._size = window_s
        self._nominal = {m.id: (m.cycle_time_s[0] + m.cycle_time_s[1]) / 2 for m in config.machines}
        self._status = {m.id: MachineStatus.RUNNING for m in config.machines}
        self._since = dict.fromkeys(self._nominal, start)
        self._windows: dict[float, dict[str, _Window]] = defaultdict(
            lambda: {m: _Window() for m in self._nominal}
        )
        self._closed_until = window_start(start, window_s)
        self._first = start
        self._event_ids = {m: EventIdPrefix("oee_truth", m) for m in self._nominal}
        """Per machine: its records' ids, ``event_id_from("oee_truth", machine, start)``."""
        self._heads = {m: OeeHead(m) for m in self._nominal}
        """Per machine: its encoded records' fixed parts (:meth:`close_until_encoded`)."""

    def status(self, machine_id: str, status: MachineStatus, at: float) -> None:
        """The machine's status as production follows it, from ``at`` on."""
        if machine_id not in self._status:
            return
        self._account(machine_id, at)
        self._status[machine_id] = status

    def made(self, event: ComponentProduced) -> None:
        self.made_all((event,))

    def made_all(self, events: Iterable[ComponentProduced]) -> None:
        """:meth:`made` for each of ``events`` (a batch, one call)."""
        windows = self._windows
        size = self._size
        floor = math.floor
        for event in events:
            # window_start, inlined
            unit = windows[floor(event.produced_at.timestamp() / size) * size].get(event.machine_id)
            if unit is None:
                continue
            unit.made += 1
            if event.quality_metrics.defect_count == 0:
                unit.good += 1

    def made_records(self, records: Iterable[MadeComponent]) -> None:
        """:meth:`made_all` for the production service's encoded components."""
        windows = self._windows
        size = self._size
        floor = math.floor
        for made in records:
            unit = windows[floor(made.at / size) * size].get(made.machine_id)
            if unit is None:
                continue
            unit.made += 1
            if made.defect_count == 0:
                unit.good += 1

    def close_until(self, t: float) -> list[OeeTruth]:
        """Records of every window that ends at or before ``t``, oldest first."""
        records: list[OeeTruth] = []
        append = records.append
        for begin, end, observed, window in self._closing(t):
            # what every machine's record of the window shares, computed once
            begin_text, start_at, end_at = f"{begin:.3f}", to_datetime(begin), to_datetime(end)
            for machine_id, unit in window.items():
                append(self._record(machine_id, unit, observed, begin_text, start_at, end_at))
        return records

    def close_until_encoded(self, t: float) -> list[Encoded]:
        """:meth:`close_until`'s records, encoded (the same bytes, key and timestamp as
        ``EventProducer.send_all`` gives them): the production service's fast path.

        A window a machine ran throughout has numbers that depend only on what it made
        and how much was good, so they are encoded once and reused
        (core/fast_encode.py)."""
        heads = self._heads
        closed: list[tuple[bytes, int, list[tuple[OeeHead, bytes]]]] = []
        """Per window: its times' part, timestamp, and each machine's head and numbers."""
        digests: list[bytes] = []
        for begin, end, observed, window in self._closing(t):
            begin_text = f"{begin:.3f}"
            last = begin_text.encode()
            end_at = to_datetime(end)
            records: list[tuple[OeeHead, bytes]] = []
            for machine_id, unit in window.items():
                head = heads[machine_id]
                key = (
                    (unit.made, unit.good, observed)
                    if unit.producing_s == observed and unit.shutdown_s == 0 and unit.idle_s == 0
                    else None
                )
                tail = head.tails.get(key) if key is not None else None
                if tail is None:
                    record = self._record(
                        machine_id, unit, observed, begin_text, to_datetime(begin), end_at
                    )
                    tail = head.remember(key, record)
                digests.append(head.digest(last))
                records.append((head, tail))
            # the timestamp as send_all gives it
            closed.append((window_part(begin, end), int(end_at.timestamp() * 1000), records))
        if len(digests) < _IDS_AT_ONCE_FROM:
            ids = "".join([uuid5_text(digest.hex()) for digest in digests]).encode()
        else:
            from widget_factory.core.uuid_text import version5_texts

            ids = version5_texts(b"".join(digests))
        out: list[Encoded] = []
        append = out.append
        at = 0
        for middle, timestamp, records in closed:
            for head, tail in records:
                append(Encoded(head.key, head.value(ids[at : at + 36], middle, tail), timestamp))
                at += 36
        return out

    def _closing(self, t: float) -> Iterator[tuple[float, float, float, dict[str, _Window]]]:
        """Every window that ends at or before ``t``, oldest first, its tallies complete:
        ``(begin, end, seconds observed, tallies per machine)``."""
        size = self._size
        since = self._since
        statuses = self._status
        windows = self._windows
        floor = math.floor
        while self._closed_until + size <= t:
            begin = self._closed_until
            end = begin + size
            for machine_id, was in since.items():
                if end <= was:
                    continue
                if floor(was / size) * size != begin:  # since before this window
                    self._account(machine_id, end)
                    continue
                # _account's one part, [was, end), inlined (the common case)
                status = statuses[machine_id]
                if status is _RUNNING:
                    windows[begin][machine_id].producing_s += end - was
                elif status is _IDLE:
                    windows[begin][machine_id].idle_s += end - was
                elif status is _SHUTDOWN:
                    windows[begin][machine_id].shutdown_s += end - was
                since[machine_id] = end
            window = windows.pop(begin, None) or {m: _Window() for m in self._nominal}
            observed = end - max(begin, self._first)
            self._closed_until = end
            yield begin, end, observed, window

    def _account(self, machine_id: str, until: float) -> None:
        since = self._since[machine_id]
        if until <= since:
            return
        status = self._status[machine_id]
        for begin, seconds in split_interval(since, until, self._size):
            unit = self._windows[begin][machine_id]
            if status is _RUNNING:
                unit.producing_s += seconds
            elif status is _IDLE:
                unit.idle_s += seconds
            elif status is _SHUTDOWN:
                unit.shutdown_s += seconds
        self._since[machine_id] = until

    def _record(
        self,
        machine_id: str,
        unit: _Window,
        observed: float,
        begin_text: str,
        start_at: datetime,
        end_at: datetime,
    ) -> OeeTruth:
        producing, shutdown, idle, made = unit.producing_s, unit.shutdown_s, unit.idle_s, unit.made
        whole = observed - shutdown - idle
        availability = None if whole <= 0 else producing / whole
        nominal = made * self._nominal[machine_id]
        performance = None if producing <= 0 else min(nominal, producing) / producing
        quality = None if made <= 0 else unit.good / made
        oee = (
            None
            if availability is None or performance is None or quality is None
            else ((availability or 0.0) * (performance or 0.0) * (quality or 0.0))
        )
        # round(x, n) is x for 0 and 1 (and for whole seconds): skipped for those, which
        # most windows have (a machine running throughout: 60 s, availability 1)
        return OeeTruth(
            event_id=self._event_ids[machine_id](begin_text),
            target_id=machine_id,
            window_start=start_at,
            window_end=end_at,
            producing_s=producing if producing in _WHOLE else round(producing, 3),
            shutdown_s=shutdown if shutdown in _WHOLE else round(shutdown, 3),
            idle_s=idle if idle in _WHOLE else round(idle, 3),
            made=made,
            good=unit.good,
            availability=availability
            if availability is None or availability in _EXACT
            else round(availability, 6),
            performance=performance
            if performance is None or performance in _EXACT
            else round(performance, 6),
            quality=quality if quality is None or quality in _EXACT else round(quality, 6),
            oee=oee if oee is None or oee in _EXACT else round(oee, 6),
        )
