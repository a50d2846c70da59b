"""Which machine faults influenced a widget's quality check: the answer key's
``influence_truth`` records (:class:`~widget_factory.schemas.InfluenceTruth`).

A fault's ``end`` record is written when the fault ends, but the parts it spoiled are
built into widgets and inspected later (hours later, sometimes), so quality control
makes the link when it inspects. It keeps a :class:`FaultIndex` of the machine faults
read from ``factory-ground-truth``: per machine, its quality drifts (from ``started_at``
to ``ended_at``, open while no end is known) and the ends of its breakdowns and
anomalies. A widget's flawed parts (its ``component_flaws``: clean parts are left out,
and cannot change a verdict anyway) are attributed by the machine and time that made
them:

- a part made while degraded (settling in after a repair) belongs to the machine's
  latest breakdown or anomaly that ended at or before the part was made: the repair
  that ended it is what left the machine settling in;
- a part with defects made inside one of the machine's quality drifts belongs to that
  drift.

A part may count for both (a drift going on again right after a repair). A widget is
influenced by a fault when it holds at least one part attributed to it.

The records of a fault reach the topic before the parts they explain (a drift's begin
and end are queued by component production ahead of the parts made after them; a
repair's end by telemetry ahead of the status report that lets the machine make
settling-in parts), so an index read up to the topic's end when a widget is inspected
knows every fault that can own its parts, and the attribution does not depend on how
far the index was read past that: the same seed gives the same records. Times are
simulated epoch seconds.
"""

from __future__ import annotations

from bisect import bisect_right, insort
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from widget_factory.core.clock import to_epoch
from widget_factory.core.ids import event_id_from
from widget_factory.schemas import (
    ComponentFlaw,
    FaultTruth,
    InfluenceTruth,
    QualityCheck,
    WidgetAssembled,
)

__all__ = ["Attribution", "FaultIndex", "influence_records"]

InfluenceKind = Literal["breakdown", "anomaly", "quality_drift"]

_REPAIRED_KINDS = frozenset({"breakdown", "anomaly"})
"""Faults (status ``error``) whose repair leaves a machine settling in: its next parts
are made while degraded."""


@dataclass(frozen=True, slots=True)
class Attribution:
    """The parts of one widget (``component_ids``, in the widget's order) that one fault
    of ``machine_id`` made worse."""

    fault_id: str
    machine_id: str
    kind: InfluenceKind
    component_ids: tuple[str, ...]


@dataclass
class _Machine:
    """One machine's faults as read so far, each list in time order."""

    drift_starts: list[tuple[float, str]] = field(default_factory=list)
    """(started_at, fault_id) of every quality drift: a machine's drifts never overlap."""
    drift_ends: dict[str, float] = field(default_factory=dict)
    """fault_id -> ended_at of the drifts whose end is known."""
    drift_ids: set[str] = field(default_factory=set)
    repairs: list[tuple[float, str, InfluenceKind]] = field(default_factory=list)
    """(ended_at, fault_id, kind) of every breakdown or anomaly that ended."""


class FaultIndex:
    """Machine faults from ``fault_truth`` records, to attribute flawed parts to them
    (module docstring). Records may come more than once and in any order."""

    def __init__(self) -> None:
        self._machines: dict[str, _Machine] = {}
        self._seen: set[tuple[str, str]] = set()
        self.faults = 0
        """Fault records taken in (each fault's begin and end count once)."""

    def add(self, record: FaultTruth) -> None:
        """Take in one record of the answer key; those of stations, and of faults that
        make no worse parts (maintenance, shutdown), are ignored."""
        if record.target_type != "machine":
            return
        kind = record.kind
        if kind != "quality_drift" and (kind not in _REPAIRED_KINDS or record.phase != "end"):
            return
        if (record.fault_id, record.phase) in self._seen:
            return
        self._seen.add((record.fault_id, record.phase))
        self.faults += 1
        machine = self._machines.get(record.target_id)
        if machine is None:
            machine = self._machines[record.target_id] = _Machine()
        if kind == "quality_drift":
            if record.fault_id not in machine.drift_ids:
                machine.drift_ids.add(record.fault_id)
                insort(machine.drift_starts, (to_epoch(record.started_at), record.fault_id))
            if record.phase == "end" and record.ended_at is not None:
                machine.drift_ends[record.fault_id] = to_epoch(record.ended_at)
        elif record.ended_at is not None:
            repaired: InfluenceKind = "anomaly" if kind == "anomaly" else "breakdown"
            insort(machine.repairs, (to_epoch(record.ended_at), record.fault_id, repaired))

    def drift_at(self, machine_id: str, t: float) -> str | None:
        """The fault id of the machine's quality drift going on at ``t`` (start and end
        included), if any."""
        machine = self._machines.get(machine_id)
        if machine is None:
            return None
        i = bisect_right(machine.drift_starts, (t, "\uffff")) - 1
        if i < 0:
            return None
        fault_id = machine.drift_starts[i][1]
        ended = machine.drift_ends.get(fault_id)
        return fault_id if ended is None or t <= ended else None

    def repair_before(self, machine_id: str, t: float) -> tuple[str, InfluenceKind] | None:
        """(fault id, kind) of the machine's latest breakdown or anomaly that ended at or
        before ``t``, if any."""
        machine = self._machines.get(machine_id)
        if machine is None:
            return None
        i = bisect_right(machine.repairs, (t, "\uffff", "")) - 1
        if i < 0:
            return None
        _ended, fault_id, kind = machine.repairs[i]
        return fault_id, kind

    def attribute(self, flaws: Sequence[ComponentFlaw]) -> list[Attribution]:
        """The faults that made some of ``flaws`` worse, each with its parts, in the order
        of their first part. Parts without a production time (older records) have no
        attribution."""
        found: dict[str, tuple[str, InfluenceKind, list[str]]] = {}
        for flaw in flaws:
            if flaw.produced_at is None:
                continue
            t = to_epoch(flaw.produced_at)
            owners: list[tuple[str, InfluenceKind]] = []
            if flaw.made_while_degraded:
                repaired = self.repair_before(flaw.machine_id, t)
                if repaired is not None:
                    owners.append(repaired)
            if flaw.defect_count > 0:
                drift = self.drift_at(flaw.machine_id, t)
                if drift is not None:
                    owners.append((drift, "quality_drift"))
            for fault_id, kind in owners:
                entry = found.get(fault_id)
                if entry is None:
                    found[fault_id] = (flaw.machine_id, kind, [flaw.component_id])
                elif flaw.component_id not in entry[2]:
                    entry[2].append(flaw.component_id)
        return [
            Attribution(fault_id, machine_id, kind, tuple(ids))
            for fault_id, (machine_id, kind, ids) in found.items()
        ]


def influence_records(
    attributions: Sequence[Attribution], widget: WidgetAssembled, check: QualityCheck
) -> list[InfluenceTruth]:
    """One ``influence_truth`` record per fault that influenced ``widget``'s ``check``;
    the same widget and faults always give the same records (``event_id`` included)."""
    traced = check.traced_to.component_id if check.traced_to is not None else None
    return [
        InfluenceTruth(
            event_id=event_id_from("influence_truth", a.fault_id, widget.widget_id),
            fault_id=a.fault_id,
            target_id=a.machine_id,
            kind=a.kind,
            widget_id=widget.widget_id,
            check_id=check.check_id,
            inspected_at=check.checked_at,
            status=check.status,
            component_ids=list(a.component_ids),
            traced=traced is not None and traced in a.component_ids,
        )
        for a in attributions
    ]
