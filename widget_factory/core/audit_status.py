"""Audit invariant 7: no component was produced while its machine's telemetry said it
was down.

A machine's status holds from one of its telemetry records to the next (records of a
machine sorted by time; at equal times the later record counts, as the producer
applies them). A component of machine M with ``produced_at`` ``p`` breaks the rule when
M's latest record at or before ``p`` says error, maintenance or shutdown. Components made
before a machine's first record are not judged (nothing was known yet).
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable
from typing import Final

from widget_factory.schemas import MachineStatus

__all__ = ["DOWN_STATUSES", "StatusHistory", "produced_while_down"]

DOWN_STATUSES: Final = frozenset(
    {MachineStatus.ERROR, MachineStatus.MAINTENANCE, MachineStatus.SHUTDOWN}
)
"""Statuses in which a machine must make nothing."""


class StatusHistory:
    """Every machine's telemetry statuses by time, from the records of ``machine-telemetry``."""

    def __init__(self) -> None:
        self._records: defaultdict[str, list[tuple[float, int, MachineStatus]]] = defaultdict(list)
        self._seq = 0
        self._sorted: dict[str, tuple[list[float], list[MachineStatus]]] | None = None

    def add(self, machine_id: str, at: float, status: MachineStatus) -> None:
        """A record, in the order its partition holds it."""
        self._seq += 1
        self._records[machine_id].append((at, self._seq, MachineStatus(status)))
        self._sorted = None

    def status_at(self, machine_id: str, t: float) -> MachineStatus | None:
        """The machine's status at ``t`` per its telemetry (None before its first record)."""
        if self._sorted is None:
            self._sorted = {}
            for machine, records in self._records.items():
                records.sort()
                self._sorted[machine] = ([r[0] for r in records], [r[2] for r in records])
        found = self._sorted.get(machine_id)
        if found is None:
            return None
        times, statuses = found
        index = bisect.bisect_right(times, t) - 1
        return statuses[index] if index >= 0 else None

    def down_intervals(self, machine_id: str) -> list[tuple[float, float, MachineStatus]]:
        """(start, end, status) of each stretch the machine was down; the last may end at
        infinity (still down at the last record)."""
        self.status_at(machine_id, 0.0)  # sorts
        assert self._sorted is not None
        times, statuses = self._sorted.get(machine_id, ([], []))
        out: list[tuple[float, float, MachineStatus]] = []
        for i, (t, status) in enumerate(zip(times, statuses, strict=True)):
            if status not in DOWN_STATUSES:
                continue
            end = times[i + 1] if i + 1 < len(times) else float("inf")
            if out and out[-1][1] == t and out[-1][2] is status:
                out[-1] = (out[-1][0], end, status)
            elif end > t:
                out.append((t, end, status))
        return out


def produced_while_down(
    history: StatusHistory, components: Iterable[tuple[str, str, float]]
) -> list[str]:
    """Components (id, machine id, produced_at) made while their machine was down, each
    as ``"<id> on <machine> at <t>: <status>"``."""
    found: list[str] = []
    for component_id, machine_id, produced_at in components:
        status = history.status_at(machine_id, produced_at)
        if status in DOWN_STATUSES:
            assert status is not None
            found.append(f"{component_id} on {machine_id} at {produced_at:.3f}: {status.value}")
    return found
