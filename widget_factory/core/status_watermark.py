"""Status by simulated time: production never runs ahead of the status it follows.

The telemetry service owns machine status. It reports every machine every
``simulation.telemetry_interval_s``; breakdowns and maintenance start at a report,
repairs show at the next report, and a command takes effect at the machine's first
report at or after it (core/machines.py). Status therefore changes only at a machine's
report instants, and a report at ``r`` tells the status up to ``r + interval``, the
machine's next report. The component producer makes a component due at ``t`` on machine
M only once that much is known: once it has read a report of M at ``r`` (M's
*watermark*) with ``t < r + interval``. It applies status reports in time order between
components. However late telemetry arrives (a loaded machine, ``--speed max``), a
component never falls inside an interval where M's telemetry said it was down:
production waits instead. At paced speeds it waits only while a report that is already
due is on its way (the telemetry hop, milliseconds), not a report interval: the
*promise* (``promise_s``, the interval) lets production run up to the next report
instead of up to the last one read. A telemetry service that changed status between
reports (commands "at once", as it did before) would break the promise; with
``promise_s = 0`` the gate trusts only what was reported.

:class:`StatusGate` holds the reports read but not yet applied, and says how far
production may go: the lowest watermark over the machines (every machine's reports
before it have then been read, whatever partition carries them) plus the promise. A
machine that never reports while others do (telemetry run with another factory file)
stops holding the others back once the rest are ``silent_after_s`` ahead of it. A
report read after a later report of the same machine was applied (another producer's
record from the simulated past, such as a walkthrough script's reading stamped with the
wall clock while the factory runs at 600x) is not applied: it would set a machine that
is down now running again, and production would make parts its telemetry forbids.

Late delivery (``--max-delay D``, core/edge_gateway.py): telemetry sent late and out of
order breaks "a report at ``r`` means every earlier one is in" - an earlier report may
still be held by the machine's gateway. It does hold for ``r - D``: every report is sent
less than ``D`` after its time, in release order. The gate therefore waits for the
delay: with ``hold_s = D`` the horizon is the lowest watermark minus ``D``, so
production trails telemetry by ``D`` of simulated time and still never makes a component
inside a down interval, however the reports were shuffled. (The alternative, producing
on the status read so far and correcting later, would make components that the status
forbids.) The promise does not add to the held horizon: the report that vouches for
``r - D`` may be any of the machine's reports up to one interval before it, so only
``r - D`` itself is certain. At a paced speed that is ``D`` of simulated time more of
latency, which is the price of honest ordering; :meth:`StatusGate.reported_until` keeps
the unheld watermark for the end of a bounded run, whose last reports are never delayed.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable

from widget_factory.schemas import MachineStatus

__all__ = ["StatusGate"]


class StatusGate:
    """Status reports of production machines, released in simulated-time order."""

    def __init__(
        self,
        machine_ids: Iterable[str],
        silent_after_s: float,
        hold_s: float = 0.0,
        promise_s: float = 0.0,
    ) -> None:
        self._watermark: dict[str, float] = dict.fromkeys(machine_ids, -math.inf)
        self._hold_s = hold_s
        """How late a report may be sent (``--max-delay``): the horizon stays this far back."""
        self._promise_s = promise_s if hold_s == 0 else 0.0
        """How long a report's status holds for certain (the report interval): the
        horizon runs up to, not including, the watermark plus this (never with a hold)."""
        self._silent_after_s = silent_after_s
        self._pending: list[tuple[float, int, str, MachineStatus]] = []
        self._seq = 0
        self._first_seen: float | None = None
        """The highest watermark when a machine was first seen missing."""
        self.ignored: set[str] = set()
        """Machines dropped from the gate: they never reported while the others did."""
        self._released: dict[str, float] = {}
        """Per machine, the time of the latest report released."""
        self.superseded = 0
        """Reports not released: older than a report of their machine already released."""

    @property
    def engaged(self) -> bool:
        """Telemetry has been read for at least one machine."""
        return any(w > -math.inf for w in self._watermark.values())

    def watermark(self, machine_id: str) -> float:
        """Simulated time up to which the machine's status is known (-inf: not yet)."""
        return self._watermark[machine_id]

    def observe(self, machine_id: str, at: float) -> None:
        """A report already applied (one from before production started): it only
        tells how far the machine's status is known."""
        known = self._watermark.get(machine_id)
        if known is not None and at > known:
            self._watermark[machine_id] = at

    def add(self, machine_id: str, status: MachineStatus, at: float) -> None:
        """A report of ``machine_id`` at simulated time ``at`` (other machines are ignored)."""
        known = self._watermark.get(machine_id)
        if known is None:
            return
        if at > known:
            self._watermark[machine_id] = at
        self._seq += 1
        heapq.heappush(self._pending, (at, self._seq, machine_id, status))

    def horizon(self) -> float:
        """How far production may go, inclusive: the lowest watermark, less the hold for
        late reports, or just short of it plus the promise (-inf before any report)."""
        reported = self.reported_until()
        if self._promise_s and math.isfinite(reported):
            # a component due exactly at the next report waits for it
            return math.nextafter(reported + self._promise_s, -math.inf)
        return reported - self._hold_s

    def reported_until(self) -> float:
        """The lowest watermark: the latest report every machine has sent (-inf before
        any report); without late delivery, also the horizon."""
        marks = [w for m, w in self._watermark.items() if m not in self.ignored]
        if not marks:
            return math.inf
        lowest = min(marks)
        if lowest == -math.inf:
            ahead = max(marks)
            if ahead == -math.inf:
                return -math.inf
            for machine_id, mark in self._watermark.items():
                if mark == -math.inf and machine_id not in self.ignored:
                    if self._first_seen is None:
                        self._first_seen = ahead
                    if ahead - self._first_seen >= self._silent_after_s:
                        self.ignored.add(machine_id)
            marks = [w for m, w in self._watermark.items() if m not in self.ignored]
            lowest = min(marks)
        return lowest

    def next_change(self) -> float:
        """Time of the earliest report not yet released (math.inf if none)."""
        return self._pending[0][0] if self._pending else math.inf

    def release(self, until: float) -> list[tuple[str, MachineStatus, float]]:
        """Reports at or before ``until``, in time order: (machine id, status, time)."""
        out: list[tuple[str, MachineStatus, float]] = []
        pending = self._pending
        while pending and pending[0][0] <= until:
            at, _seq, machine_id, status = heapq.heappop(pending)
            if at < self._released.get(machine_id, -math.inf):
                # read after a later report of its machine was applied (another producer's
                # record from the past): that later status stands
                self.superseded += 1
                continue
            self._released[machine_id] = at
            out.append((machine_id, status, at))
        return out
