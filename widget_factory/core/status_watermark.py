"""Status by simulated time: production never runs ahead of the status it follows.

The telemetry service owns machine status. It reports every machine every
``simulation.telemetry_interval_s`` and at once at every commanded change, so a report
at ``r`` tells the machine's status up to ``r``; breakdowns and maintenance start at a
report. The component producer therefore makes a component due at ``t`` on machine M
only once it has read a report of M at ``t`` or later (M's *watermark*), and applies
status reports in time order between components. However late telemetry arrives (a
loaded machine, ``--speed max``), a component never falls inside an interval where M's
telemetry said it was down: production waits instead. At paced speeds the wait is at
most one report interval of simulated time, invisible in practice.

:class:`StatusGate` holds the reports read but not yet applied, and says how far
production may go: the lowest watermark over the machines (every machine's reports
before it have then been read, whatever partition carries them). A machine that never
reports while others do (telemetry run with another factory file) stops holding the
others back once the rest are ``silent_after_s`` ahead of it.

Late delivery (``--max-delay D``, core/edge_gateway.py): telemetry sent late and out of
order breaks "a report at ``r`` means every earlier one is in" - an earlier report may
still be held by the machine's gateway. It does hold for ``r - D``: every report is sent
less than ``D`` after its time, in release order. The gate therefore waits for the
delay: with ``hold_s = D`` the horizon is the lowest watermark minus ``D``, so
production trails telemetry by ``D`` of simulated time and still never makes a component
inside a down interval, however the reports were shuffled. (The alternative, producing
on the status read so far and correcting later, would make components that the status
forbids.) At a paced speed that is ``D`` of simulated time more of latency, which is the
price of honest ordering; :meth:`StatusGate.reported_until` keeps the unheld watermark
for the end of a bounded run, whose last reports are never delayed.
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
        self, machine_ids: Iterable[str], silent_after_s: float, hold_s: float = 0.0
    ) -> None:
        self._watermark: dict[str, float] = dict.fromkeys(machine_ids, -math.inf)
        self._hold_s = hold_s
        """How late a report may be sent (``--max-delay``): the horizon stays this far back."""
        self._silent_after_s = silent_after_s
        self._pending: list[tuple[float, int, str, MachineStatus]] = []
        self._seq = 0
        self._first_seen: float | None = None
        """The highest watermark when a machine was first seen missing."""
        self.ignored: set[str] = set()
        """Machines dropped from the gate: they never reported while the others did."""

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
        """How far production may go: the lowest watermark, less the hold for late
        reports (-inf before any report)."""
        return self.reported_until() - self._hold_s

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
            out.append((machine_id, status, at))
        return out
