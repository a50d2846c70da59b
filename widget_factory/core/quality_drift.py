"""Quality drift: a worn production machine makes worse parts until it is maintained.

Component production keeps its own account of each machine's wear (a
:class:`WearGauge`) from the statuses it follows, with the telemetry model's rules:
``telemetry.wear_per_hour`` while RUNNING, reset by maintenance, halved by a repair. It
knows the wear from the end of the machine's first maintenance (0 then; telemetry's
starting wear is its own), and from then on the two accounts agree. Production with no
telemetry, or before a machine's first maintenance, sees no drift.

Once the wear passes ``quality.drift_at_wear`` the machine's quality *drifts*: its
components carry more defects, more the more worn it is (:func:`~widget_factory.core.part_defects.drift_defects`: from
0.9 defects a part at the threshold to 1.65 worn out, against 0.26 for a machine in
good order), and so spoil more widgets at inspection, which traces the failures to
them. The drift is a fault of the answer key (kind ``quality_drift``, cause ``wear``):
it begins at the instant the wear crossed the threshold and ends when the machine stops
for maintenance or a repair (or the run ends: ``open_at_end``). A shutdown or a kanban
hold pauses the wear, not the drift. Its end record counts the components made
meanwhile, lists their ids (the first :data:`LISTED_IDS`) and the times of the first and
the last. Everything follows simulated time, so a seed reproduces the same drifts.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Final

from widget_factory.core.clock import to_datetime
from widget_factory.core.ground_truth import fault_id
from widget_factory.core.ids import event_id_from
from widget_factory.schemas import FaultEffects, FaultTruth, MachineStatus

__all__ = [
    "LISTED_IDS",
    "DriftSpell",
    "WearGauge",
    "drift_record",
]

LISTED_IDS: Final = 200
"""At most this many component ids on a drift's end record (the count is always whole)."""


@dataclass
class DriftSpell:
    """One quality drift of one machine (simulated epoch seconds)."""

    machine_id: str
    started_at: float
    ended_at: float | None = None
    open_at_end: bool = False
    made: int = 0
    ids: list[str] = field(default_factory=list)
    first_at: float | None = None
    last_at: float | None = None


class WearGauge:
    """One machine's wear as production accounts it, and its drifts (module docstring).

    :attr:`drift_from` is the simulated time from which the machine's parts drift as long
    as its status does not change (math.inf when they will not: wear unknown, not
    running, or a threshold of 1); production compares each part's time with it, one
    comparison a part. Drifts begun or ended wait in :attr:`outbox` as (phase, spell)."""

    __slots__ = (
        "machine_id",
        "wear",
        "since",
        "current",
        "running",
        "_rate",
        "_threshold",
        "spell",
        "outbox",
    )

    def __init__(
        self, machine_id: str, start: float, wear_per_hour: float, threshold: float
    ) -> None:
        self.machine_id = machine_id
        self.wear: float | None = None
        """Unknown until the machine's first maintenance is over (then 0)."""
        self.since = start
        self.current: MachineStatus | None = None
        self.running = False
        self._rate = wear_per_hour / 3600.0
        self._threshold = threshold
        self.spell: DriftSpell | None = None
        """The drift going on, once production has seen it begin."""
        self.outbox: list[tuple[str, DriftSpell]] = []

    @property
    def drift_from(self) -> float:
        if self.spell is not None:
            return -math.inf
        wear = self.wear
        if wear is None or self._threshold >= 1.0 or not self.running:
            return math.inf
        if wear >= self._threshold:
            return self.since
        if self._rate <= 0.0:
            return math.inf
        return self.since + (self._threshold - wear) / self._rate

    def wear_at(self, t: float) -> float | None:
        """The wear at ``t`` (not before the last status change); None while unknown."""
        wear = self.wear
        if wear is None or not self.running or t <= self.since:
            return wear
        return min(1.0, wear + self._rate * (t - self.since))

    def severity(self, t: float) -> float:
        """How far past the threshold the wear is at ``t``: 0 at it, 1 worn out."""
        span = 1.0 - self._threshold
        wear = self.wear_at(t)
        return 0.0 if wear is None or span <= 0 else (wear - self._threshold) / span

    def drifting_at(self, t: float) -> bool:
        """Whether parts made at ``t`` drift; a drift seen for the first time begins,
        dated at the instant the wear crossed the threshold."""
        if self.spell is not None:
            return True
        crossing = self.drift_from
        if crossing > t:
            return False
        self.spell = DriftSpell(self.machine_id, crossing)
        self.outbox.append(("begin", self.spell))
        return True

    def made(self, component_id: str, t: float) -> None:
        """A part made at ``t`` while drifting (after :meth:`drifting_at` said so)."""
        spell = self.spell
        if spell is None:
            return
        spell.made += 1
        if len(spell.ids) < LISTED_IDS:
            spell.ids.append(component_id)
        if spell.first_at is None:
            spell.first_at = t
        spell.last_at = t

    def status(self, status: MachineStatus, at: float) -> None:
        """The machine's status from ``at`` on (every report; the same status again only
        moves the time on). A drift the wear reached before ``at`` begins; stopping for
        maintenance or a repair ends one; coming back from maintenance resets the wear,
        from a repair halves it (a stop that cuts either short does neither, as in
        telemetry)."""
        if self.spell is None and self.drift_from < at:
            self.drifting_at(at)
        if at > self.since:
            self.wear = self.wear_at(at)
            self.since = at
        previous, self.current = self.current, status
        if status is previous:
            return
        if status is MachineStatus.MAINTENANCE or status is MachineStatus.ERROR:
            self._end(at, open_at_end=False)
        elif status is MachineStatus.RUNNING or status is MachineStatus.IDLE:
            if previous is MachineStatus.MAINTENANCE:
                self.wear = 0.0
            elif previous is MachineStatus.ERROR and self.wear is not None:
                self.wear /= 2
        self.running = status is MachineStatus.RUNNING

    def close(self, at: float) -> None:
        """The run ends at ``at``: a drift going on (or reached unseen) ends there, open."""
        if self.spell is None and self.drift_from < at:
            self.drifting_at(at)
        self._end(at, open_at_end=True)

    def drain(self) -> list[tuple[str, DriftSpell]]:
        """Drifts begun or ended since the last call, as (phase, spell), in order."""
        out, self.outbox = self.outbox, []
        return out

    def _end(self, at: float, *, open_at_end: bool) -> None:
        spell, self.spell = self.spell, None
        if spell is not None:
            spell.ended_at = max(at, spell.started_at)
            spell.open_at_end = open_at_end
            self.outbox.append(("end", spell))


def drift_record(spell: DriftSpell, phase: str) -> FaultTruth:
    """The answer key's ``begin`` or ``end`` record of a drift."""
    fid = fault_id(spell.machine_id, "quality_drift", spell.started_at)
    end = phase == "end"
    effects = None
    if end:
        effects = FaultEffects(
            unit="component",
            units_not_made=0,
            made_while_degraded=spell.made,
            degraded_ids=list(spell.ids),
            degraded_first_at=None if spell.first_at is None else to_datetime(spell.first_at),
            degraded_last_at=None if spell.last_at is None else to_datetime(spell.last_at),
            widgets_influenced=None,
        )
    return FaultTruth(
        event_id=event_id_from("fault_truth", fid, phase),
        phase="end" if end else "begin",
        fault_id=fid,
        target_id=spell.machine_id,
        target_type="machine",
        kind="quality_drift",
        cause="wear",
        started_at=to_datetime(spell.started_at),
        ended_at=None if not end or spell.ended_at is None else to_datetime(spell.ended_at),
        open_at_end=spell.open_at_end if end else False,
        effects=effects,
    )
