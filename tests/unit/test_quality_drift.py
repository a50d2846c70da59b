"""Quality drift: worn machines make worse parts, every drift is one begin and one end
in the answer key, and inspection sees it in the yield without losing its calibration."""

from __future__ import annotations

import random
import uuid
from collections import defaultdict, deque
from functools import cache

import msgspec
import pytest

from tests.unit.test_ground_truth import paired_faults
from widget_factory.core.clock import to_datetime, to_epoch
from widget_factory.core.ground_truth import fault_id
from widget_factory.core.ids import IdSource
from widget_factory.core.inspection import QualityInspection
from widget_factory.core.machines import MachineFleet
from widget_factory.core.part_defects import (
    DRIFT_ONSET_WEIGHTS,
    HEALTHY_DEFECT_WEIGHTS,
    WORN_OUT_WEIGHTS,
    drift_defects,
)
from widget_factory.core.production import ComponentProduction
from widget_factory.core.quality_drift import LISTED_IDS, WearGauge
from widget_factory.factory_config import FactoryConfig, default_config
from widget_factory.schemas import (
    ComponentFlaw,
    ComponentProduced,
    FaultTruth,
    MachineStatus,
    QualityCheck,
    QualityStatus,
    WidgetAssembled,
    decode,
    encode,
)

START = 1_767_225_600.0  # 2026-01-01T00:00:00Z
HOUR = 3600.0
RUNNING, IDLE, ERROR = MachineStatus.RUNNING, MachineStatus.IDLE, MachineStatus.ERROR
MAINTENANCE, SHUTDOWN = MachineStatus.MAINTENANCE, MachineStatus.SHUTDOWN


def _config(drift_at_wear: float = 0.7) -> FactoryConfig:
    """The shipped factory, kanban off (production alone, as in lockstep runs)."""
    config = default_config()
    return msgspec.structs.replace(
        config,
        kanban=msgspec.structs.replace(config.kanban, enabled=False),
        quality=msgspec.structs.replace(config.quality, drift_at_wear=drift_at_wear),
    )


def _gauge(threshold: float = 0.6) -> WearGauge:
    return WearGauge("FRAME_MACHINE_01", START, wear_per_hour=0.06, threshold=threshold)


# --- one machine's gauge ---------------------------------------------------------------


def test_wear_is_unknown_until_the_first_maintenance_is_over() -> None:
    gauge = _gauge()
    gauge.status(RUNNING, START)
    assert gauge.drift_from == float("inf")
    gauge.status(RUNNING, START + 20 * HOUR)  # long running, wear still unknown
    assert not gauge.drifting_at(START + 20 * HOUR) and gauge.drain() == []
    gauge.status(MAINTENANCE, START + 20 * HOUR)
    gauge.status(RUNNING, START + 21 * HOUR)  # maintenance over: wear 0
    assert gauge.wear == 0.0
    # 0.6 / 0.06 = 10 running hours to the threshold
    assert gauge.drift_from == pytest.approx(START + 31 * HOUR)


def test_a_drift_begins_at_the_crossing_and_ends_when_the_machine_is_maintained() -> None:
    gauge = _gauge()
    gauge.status(MAINTENANCE, START)
    gauge.status(RUNNING, START + HOUR)
    crossing = START + 11 * HOUR
    assert not gauge.drifting_at(crossing - 1)
    gauge.status(SHUTDOWN, crossing + HOUR)  # seen first at a status change: dated back
    [(phase, spell)] = gauge.drain()
    assert phase == "begin" and spell.started_at == pytest.approx(crossing)
    assert gauge.drifting_at(crossing + 2 * HOUR)  # a shutdown pauses wear, not the drift
    gauge.status(RUNNING, crossing + 3 * HOUR)
    gauge.made("COMP_METAL_FRAME_00000001", crossing + 3 * HOUR + 60)
    gauge.made("COMP_METAL_FRAME_00000002", crossing + 3 * HOUR + 120)
    assert gauge.severity(crossing + 3 * HOUR) == pytest.approx(0.06 / 0.4)
    gauge.status(MAINTENANCE, crossing + 4 * HOUR)
    [(phase, ended)] = gauge.drain()
    assert phase == "end" and ended is spell and not ended.open_at_end
    assert ended.ended_at == crossing + 4 * HOUR
    assert ended.made == 2 and ended.ids == [
        "COMP_METAL_FRAME_00000001",
        "COMP_METAL_FRAME_00000002",
    ]
    assert (ended.first_at, ended.last_at) == (crossing + 3 * HOUR + 60, crossing + 3 * HOUR + 120)
    gauge.status(RUNNING, crossing + 5 * HOUR)
    assert gauge.wear == 0.0 and not gauge.drifting_at(crossing + 6 * HOUR)


def test_a_repair_ends_a_drift_and_halves_the_wear_a_stop_during_it_does_not() -> None:
    gauge = _gauge()
    gauge.status(MAINTENANCE, START)
    gauge.status(RUNNING, START)
    gauge.status(ERROR, START + 12 * HOUR)  # wear 0.72: a drift since 10 h, now over
    assert [p for p, _ in gauge.drain()] == ["begin", "end"]
    gauge.status(RUNNING, START + 13 * HOUR)
    assert gauge.wear == pytest.approx(0.36)
    gauge.status(ERROR, START + 14 * HOUR)  # wear 0.42
    gauge.status(SHUTDOWN, START + 14.5 * HOUR)  # the repair cut short: no halving
    gauge.status(IDLE, START + 15 * HOUR)
    gauge.status(RUNNING, START + 15 * HOUR)
    assert gauge.wear == pytest.approx(0.42)
    assert gauge.drift_from == pytest.approx(START + 15 * HOUR + 0.18 / 0.06 * HOUR)


def test_a_drift_going_on_at_the_end_of_the_run_closes_there_open() -> None:
    gauge = _gauge()
    gauge.status(MAINTENANCE, START)
    gauge.status(RUNNING, START)
    gauge.close(START + 12 * HOUR)  # crossed at 10 h, never seen by a part
    (begin, spell), (end, same) = gauge.drain()
    assert (begin, end) == ("begin", "end") and spell is same
    assert spell.started_at == pytest.approx(START + 10 * HOUR)
    assert spell.ended_at == START + 12 * HOUR and spell.open_at_end and spell.made == 0


def test_a_threshold_of_one_turns_drift_off() -> None:
    gauge = _gauge(threshold=1.0)
    gauge.status(MAINTENANCE, START)
    gauge.status(RUNNING, START)
    gauge.close(START + 100 * HOUR)
    assert gauge.drain() == [] and gauge.drift_from == float("inf")


def test_drifting_parts_carry_more_defects_the_more_worn() -> None:
    draws = [i / 10_000 for i in range(10_000)]

    def weights(severity: float) -> list[float]:
        counts = [0] * 4
        for u in draws:
            counts[drift_defects(severity, u)] += 1
        return [c / len(draws) for c in counts]

    assert weights(0.0) == pytest.approx(DRIFT_ONSET_WEIGHTS, abs=1e-3)
    assert weights(1.0) == pytest.approx(WORN_OUT_WEIGHTS, abs=1e-3)
    means = [sum(n * w for n, w in enumerate(weights(s))) for s in (0.0, 0.5, 1.0)]
    healthy = sum(n * w for n, w in enumerate(HEALTHY_DEFECT_WEIGHTS))
    assert healthy < means[0] < means[1] < means[2]


# --- a simulated week of the fleet and production ---------------------------------------


@cache
def _week(
    seed: int, drift_at_wear: float = 0.7, days: float = 7
) -> tuple[list[ComponentProduced], list[FaultTruth]]:
    """A week (or ``days``) of production following the fleet's telemetry reports, as
    the service does (every report applied at its time, between parts)."""
    config = _config(drift_at_wear)
    fleet = MachineFleet(config, random.Random(seed), IdSource(random.Random(seed + 1)), START)
    production = ComponentProduction(
        config, random.Random(seed + 2), IdSource(random.Random(seed + 3)), START
    )
    parts: list[ComponentProduced] = []
    records: list[FaultTruth] = []
    t = START
    while t < START + days * 24 * HOUR:
        t += 600.0
        reports, _ = fleet.report_until(t)
        for report in reports:
            at = to_epoch(report.timestamp)
            parts += production.produce_until(at - 1e-6)
            production.set_status(report.machine_id, report.status, at)
        parts += production.produce_until(t)
        records += production.drain_drifts()
    records += production.close_drifts(t)
    return parts, records


def test_every_drift_of_a_week_has_exactly_one_begin_and_one_end() -> None:
    parts, records = _week(seed=11)
    begins, ends = paired_faults(records)
    assert len(begins) > 20
    by_machine: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for fid, begin in begins.items():
        end = ends[fid]
        assert (begin.kind, begin.cause, begin.target_type) == ("quality_drift", "wear", "machine")
        assert fid == fault_id(begin.target_id, "quality_drift", to_epoch(begin.started_at))
        assert end.started_at == begin.started_at and end.target_id == begin.target_id
        assert end.ended_at is not None and end.ended_at >= begin.started_at
        assert end.effects is not None and end.effects.units_not_made == 0
        by_machine[begin.target_id].append((to_epoch(begin.started_at), to_epoch(end.ended_at)))
    for spells in by_machine.values():
        spells.sort()
        assert all(a[1] <= b[0] for a, b in zip(spells, spells[1:], strict=False))
    # The end records name exactly the parts made inside the drift, no others.
    inside = {
        p.component_id
        for p in parts
        if any(s <= to_epoch(p.produced_at) <= e for s, e in by_machine[p.machine_id])
    }
    listed = {i for r in ends.values() if r.effects for i in r.effects.degraded_ids}
    assert listed <= inside
    assert sum(r.effects.made_while_degraded for r in ends.values() if r.effects) == len(inside)
    for end in ends.values():
        assert end.effects is not None
        effects = end.effects
        assert len(effects.degraded_ids) == min(effects.made_while_degraded, LISTED_IDS)
        if effects.made_while_degraded:
            assert effects.degraded_first_at is not None and effects.degraded_last_at is not None
            assert end.started_at <= effects.degraded_first_at <= effects.degraded_last_at
            assert end.ended_at is not None and effects.degraded_last_at <= end.ended_at


def test_drifting_machines_make_visibly_more_defects() -> None:
    parts, records = _week(seed=11)
    spells = defaultdict(list)
    for r in records:
        if r.phase == "end" and r.ended_at is not None:
            spells[r.target_id].append((to_epoch(r.started_at), to_epoch(r.ended_at)))
    drifting, normal = [], []
    for p in parts:
        at = to_epoch(p.produced_at)
        inside = any(s <= at <= e for s, e in spells[p.machine_id])
        if not p.made_while_degraded:
            (drifting if inside else normal).append(p.quality_metrics.defect_count > 0)
    assert len(drifting) > 1000
    assert sum(normal) / len(normal) == pytest.approx(0.20, abs=0.01)
    assert sum(drifting) / len(drifting) > 0.5


def test_the_same_seed_gives_the_same_drifts_and_they_round_trip() -> None:
    first = _week(seed=13, days=2)[1]
    second = _week.__wrapped__(seed=13, days=2)[1]
    assert first and [encode(r) for r in first] == [encode(r) for r in second]
    assert all(decode(encode(r)) == r for r in first)
    assert _week(seed=13, drift_at_wear=1.0, days=2)[1] == []


def _widgets(parts: list[ComponentProduced], config: FactoryConfig) -> list[WidgetAssembled]:
    """Every widget the week's parts make, types in turn, parts first made first used."""
    stock: dict[str, deque[ComponentProduced]] = defaultdict(deque)
    for p in parts:
        stock[p.component_type].append(p)
    widgets: list[WidgetAssembled] = []
    types = sorted(config.widget_types)
    ids = random.Random(5)
    while True:
        widget_type = types[len(widgets) % len(types)]
        recipe = config.widget_types[widget_type].recipe
        if any(len(stock[c]) < recipe.count(c) for c in recipe):
            return widgets
        used = [stock[c].popleft() for c in recipe]
        at = to_datetime(max(to_epoch(p.produced_at) for p in used))
        widgets.append(
            WidgetAssembled(
                event_id=str(uuid.UUID(int=ids.getrandbits(128), version=4)),
                widget_id=f"WIDGET_{widget_type.upper()}_{len(widgets):08x}",
                widget_type=widget_type,
                assembly_station_id="ASSEMBLY_STATION_A",
                component_ids=[p.component_id for p in used],
                assembly_started_at=at,
                assembly_completed_at=at,
                assembly_duration_seconds=0.0,
                worker_id="WORKER_001",
                batch_id="ASSEMBLY_BATCH_1",
                component_defects=sum(p.quality_metrics.defect_count for p in used),
                component_flaws=[
                    ComponentFlaw(
                        p.component_id,
                        p.machine_id,
                        p.quality_metrics.defect_count,
                        p.made_while_degraded,
                    )
                    for p in used
                    if p.quality_metrics.defect_count or p.made_while_degraded
                ],
            )
        )


def _checks(seed: int, drift_at_wear: float) -> list[tuple[WidgetAssembled, QualityCheck]]:
    config = _config(drift_at_wear)
    inspection = QualityInspection(config, seed=seed)
    parts = _week(seed, drift_at_wear)[0]
    return [(w, inspection.inspect(w, "QC_INSPECTOR_A", START)) for w in _widgets(parts, config)]


def _yield(checks: list[QualityCheck]) -> float:
    return sum(c.status == QualityStatus.PASS for c in checks) / len(checks)


def test_drift_costs_a_week_little_yield_but_widgets_with_drift_parts_fail_more() -> None:
    """The same week with and without drift (the same parts, draws and widgets; only the
    drifting parts' defects differ): each type's yield drops by at most two points, so
    a week stays near its standard, while widgets with a drifting part fail visibly
    more, traced to those parts."""
    records = _week(seed=11)[1]
    drift_parts = {i for r in records if r.effects for i in r.effects.degraded_ids}
    drifting = _checks(11, 0.7)
    steady = _checks(11, 1.0)
    # the same widgets of the same parts (only the drifting parts' defects differ)
    assert [w.component_ids for w, _ in drifting] == [w.component_ids for w, _ in steady]
    for widget_type in _config().widget_types:
        now = [c for w, c in drifting if w.widget_type == widget_type]
        before = [c for w, c in steady if w.widget_type == widget_type]
        assert 0.0 <= _yield(before) - _yield(now) <= 0.02, widget_type
    with_drift = [c for w, c in drifting if drift_parts & set(w.component_ids)]
    without = [c for w, c in drifting if not drift_parts & set(w.component_ids)]
    assert len(with_drift) > 300
    assert _yield(with_drift) < _yield(without) - 0.03
    traced = {c.traced_to.component_id for c in with_drift if c.traced_to is not None}
    assert len(traced & drift_parts) > 20  # failures traced to the drifting machines' parts
