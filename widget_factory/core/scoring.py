"""Scores an alert stream against the answer key: precision, recall, detection delay.

An alert *matches* a fault when it names the fault's target and its time falls within
``[start, end + grace]`` (simulated seconds): a detector may speak a little after the
fault is over, never before it began. An alert inside the windows of two faults of the
same target (one ending, the next beginning) counts for the one that began last. Each
fault is *detected* when at least one alert matches it; its detection delay is the time
from its start to the first matching alert. Precision is the share of alerts that match
a fault; recall the share of faults detected.

Alerts are plain (target, time, kind) triples: the factory's own ``factory-alerts`` or
any stream a user's pipeline writes, read by the ``score`` command.
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from widget_factory.core.clock import to_epoch
from widget_factory.schemas import FaultTruth

__all__ = [
    "Fault",
    "Alert",
    "KindScore",
    "Score",
    "faults_from_truth",
    "score_alerts",
    "percentile",
    "AlertShapeError",
    "alert_from_document",
    "parse_alert_time",
]

_EARLY_TOLERANCE_S = 0.001
"""Alert times often travel as milliseconds: one raised at a fault's very start may
read up to a millisecond before it."""
_LOOK_BACK = 8
"""Faults of a target looked at before an alert is declared unmatched."""


@dataclass(frozen=True)
class Fault:
    """One fault of the answer key; ``end`` is math.inf while it has no end record."""

    fault_id: str
    target_id: str
    kind: str
    cause: str
    start: float
    end: float


@dataclass(frozen=True)
class Alert:
    target_id: str
    at: float
    kind: str = ""


class AlertShapeError(ValueError):
    """A record of the alert stream lacks the target or time field, or its time is not
    a time; the message names the field."""


def parse_alert_time(value: object, field_name: str) -> float:
    """Epoch seconds from an ISO 8601 string (a naive time is taken as UTC), or from a
    number of epoch seconds (epoch milliseconds when above 1e11)."""
    if isinstance(value, bool):
        raise AlertShapeError(f"{field_name}: expected a time, got {value!r}")
    if isinstance(value, int | float):
        number = float(value)
        return number / 1000.0 if abs(number) > 1e11 else number
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise AlertShapeError(f"{field_name}: not an ISO 8601 time: {value[:60]!r}") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()
    raise AlertShapeError(f"{field_name}: expected a time, got {type(value).__name__}")


def _field(document: Mapping[str, Any], path: str) -> object:
    value: object = document
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            raise AlertShapeError(f"no field {path!r}")
        value = value[part]
    return value


def alert_from_document(
    document: object,
    target_field: str,
    time_field: str,
    kind_field: str | None = None,
    record_time: float | None = None,
) -> Alert:
    """An alert from one decoded JSON record. Fields may be dotted paths (``source.id``);
    ``time_field`` ``@timestamp`` takes ``record_time`` (the Kafka record timestamp)."""
    if not isinstance(document, Mapping):
        raise AlertShapeError("not a JSON object")
    target = _field(document, target_field)
    if not isinstance(target, str | int) or isinstance(target, bool) or target == "":
        raise AlertShapeError(f"{target_field}: expected a non-empty id, got {target!r}")
    if time_field == "@timestamp":
        if record_time is None:
            raise AlertShapeError("@timestamp: the record has no timestamp")
        at = record_time
    else:
        at = parse_alert_time(_field(document, time_field), time_field)
    kind = ""
    if kind_field:
        try:
            value = _field(document, kind_field)
        except AlertShapeError:
            value = ""
        kind = value if isinstance(value, str) else ""
    return Alert(str(target), at, kind)


def faults_from_truth(records: Iterable[FaultTruth]) -> list[Fault]:
    """Pairs begin and end records by ``fault_id`` (duplicates on the wire are ignored);
    a fault seen only by its end record counts, one with only a begin is still going."""
    begins: dict[str, FaultTruth] = {}
    ends: dict[str, FaultTruth] = {}
    for record in records:
        (begins if record.phase == "begin" else ends).setdefault(record.fault_id, record)
    faults: list[Fault] = []
    for fid in sorted(begins.keys() | ends.keys()):
        record = ends.get(fid) or begins[fid]
        end = record.ended_at
        faults.append(
            Fault(
                fid,
                record.target_id,
                record.kind,
                record.cause,
                to_epoch(record.started_at),
                math.inf if end is None else to_epoch(end),
            )
        )
    faults.sort(key=lambda f: (f.start, f.target_id, f.fault_id))
    return faults


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q`` quantile (0..1) by linear interpolation; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@dataclass
class KindScore:
    """Recall and detection delay of one fault kind (delays in simulated seconds)."""

    faults: int = 0
    detected: int = 0
    alerts_matched: int = 0
    delays: list[float] = field(default_factory=list)

    @property
    def recall(self) -> float | None:
        return self.detected / self.faults if self.faults else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "faults": self.faults,
            "detected": self.detected,
            "recall": self.recall,
            "alerts_matched": self.alerts_matched,
            "delay_median_s": percentile(self.delays, 0.5),
            "delay_p90_s": percentile(self.delays, 0.9),
        }


@dataclass
class Score:
    """The whole result: per fault kind, per alert kind, and overall."""

    grace_s: float
    by_fault_kind: dict[str, KindScore]
    alerts: int
    alerts_matched: int
    by_alert_kind: dict[str, tuple[int, int]]
    """Alert kind → (alerts, matched), when the stream names kinds."""
    missed: list[Fault]

    @property
    def precision(self) -> float | None:
        return self.alerts_matched / self.alerts if self.alerts else None

    @property
    def faults(self) -> int:
        return sum(k.faults for k in self.by_fault_kind.values())

    @property
    def detected(self) -> int:
        return sum(k.detected for k in self.by_fault_kind.values())

    @property
    def recall(self) -> float | None:
        return self.detected / self.faults if self.faults else None

    def to_dict(self) -> dict[str, Any]:
        delays = [d for k in self.by_fault_kind.values() for d in k.delays]
        return {
            "grace_s": self.grace_s,
            "faults": self.faults,
            "detected": self.detected,
            "recall": self.recall,
            "alerts": self.alerts,
            "alerts_matched": self.alerts_matched,
            "precision": self.precision,
            "delay_median_s": percentile(delays, 0.5),
            "delay_p90_s": percentile(delays, 0.9),
            "by_fault_kind": {k: v.to_dict() for k, v in sorted(self.by_fault_kind.items())},
            "by_alert_kind": {
                k: {"alerts": n, "matched": m, "precision": m / n if n else None}
                for k, (n, m) in sorted(self.by_alert_kind.items())
            },
        }


def _match(faults: list[Fault], starts: list[float], alert: Alert, grace: float) -> Fault | None:
    """The fault of the target that began last at or before the alert and whose window
    (to its end plus ``grace``) still holds it."""
    i = bisect.bisect_right(starts, alert.at + _EARLY_TOLERANCE_S) - 1
    # An earlier fault can only match if it outlasted a later one: faults of one kind
    # never overlap on a target, but a starvation may overlap a station's breakdown, and
    # a quality drift a machine's shutdown.
    for j in range(i, max(i - _LOOK_BACK, -1), -1):
        if alert.at <= faults[j].end + grace:
            return faults[j]
    return None


def score_alerts(faults: Iterable[Fault], alerts: Iterable[Alert], grace: float) -> Score:
    """Scores ``alerts`` against ``faults`` with ``grace`` simulated seconds after each end."""
    by_target: dict[str, list[Fault]] = defaultdict(list)
    kinds: dict[str, KindScore] = defaultdict(KindScore)
    for fault in faults:
        by_target[fault.target_id].append(fault)
        kinds[fault.kind].faults += 1
    starts: dict[str, list[float]] = {}
    for target, spells in by_target.items():
        spells.sort(key=lambda f: f.start)
        starts[target] = [f.start for f in spells]
    first_alert: dict[str, float] = {}
    total = matched = 0
    by_alert_kind: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for alert in alerts:
        total += 1
        counts = by_alert_kind[alert.kind] if alert.kind else None
        if counts is not None:
            counts[0] += 1
        candidates = by_target.get(alert.target_id)
        found = _match(candidates, starts[alert.target_id], alert, grace) if candidates else None
        if found is None:
            continue
        matched += 1
        if counts is not None:
            counts[1] += 1
        kinds[found.kind].alerts_matched += 1
        seen = first_alert.get(found.fault_id)
        if seen is None or alert.at < seen:
            first_alert[found.fault_id] = alert.at
    missed: list[Fault] = []
    for spells in by_target.values():
        for fault in spells:
            at = first_alert.get(fault.fault_id)
            if at is None:
                missed.append(fault)
                continue
            kinds[fault.kind].detected += 1
            kinds[fault.kind].delays.append(max(0.0, at - fault.start))
    missed.sort(key=lambda f: (f.start, f.target_id))
    return Score(
        grace,
        dict(kinds),
        total,
        matched,
        {k: (v[0], v[1]) for k, v in by_alert_kind.items()},
        missed,
    )
