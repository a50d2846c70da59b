"""Which faults influenced a widget's check: the pure index behind ``influence_truth``."""

from __future__ import annotations

import json
import random
from pathlib import Path

import msgspec

from widget_factory.core.clock import to_datetime, to_epoch
from widget_factory.core.event_format import format_event
from widget_factory.core.fault_influence import Attribution, FaultIndex, influence_records
from widget_factory.core.ground_truth import FaultTracker, fault_id
from widget_factory.core.ids import IdSource, event_id_from
from widget_factory.core.machines import MachineFleet
from widget_factory.core.production import ComponentProduction
from widget_factory.factory_config import default_config
from widget_factory.schemas import (
    ComponentFlaw,
    ComponentProduced,
    FaultTruth,
    InfluenceTruth,
    QualityCheck,
    QualityStatus,
    TracedTo,
    WidgetAssembled,
    decode,
    encode,
)
from widget_factory.schemas import (
    TestResults as Results,
)

ROOT = Path(__file__).resolve().parents[2]
START = 1_767_225_600.0  # 2026-01-01T00:00:00Z
HOUR = 3600.0
FRAME, MOTOR = "FRAME_MACHINE_01", "MOTOR_ASSEMBLER_01"
DAYS = 3


def fault(
    machine: str,
    kind: str,
    started: float,
    ended: float | None = None,
    *,
    target_type: str = "machine",
) -> FaultTruth:
    """A fault's begin record, or its end record when ``ended`` is given."""
    fid = fault_id(machine, kind, started)
    phase = "begin" if ended is None else "end"
    return FaultTruth(
        event_id=event_id_from("fault_truth", fid, phase),
        phase=phase,
        fault_id=fid,
        target_id=machine,
        target_type=target_type,  # type: ignore[arg-type]
        kind=kind,  # type: ignore[arg-type]
        cause="wear" if kind == "quality_drift" else "random",
        started_at=to_datetime(started),
        ended_at=None if ended is None else to_datetime(ended),
    )


def flaw(
    machine: str, at: float, defects: int = 1, degraded: bool = False, n: int = 0
) -> ComponentFlaw:
    return ComponentFlaw(
        f"COMP_METAL_FRAME_{n:08x}", machine, defects, degraded, to_datetime(START + at)
    )


def index(*records: FaultTruth) -> FaultIndex:
    faults = FaultIndex()
    for record in records:
        faults.add(record)
    return faults


def owners(faults: FaultIndex, *flaws: ComponentFlaw) -> list[tuple[str, str, tuple[str, ...]]]:
    return [(a.fault_id, a.kind, a.component_ids) for a in faults.attribute(list(flaws))]


def test_a_part_with_defects_inside_a_drift_belongs_to_it_and_only_there() -> None:
    begin = fault(FRAME, "quality_drift", START + HOUR)
    end = fault(FRAME, "quality_drift", START + HOUR, START + 3 * HOUR)
    faults = index(begin, end)
    fid = begin.fault_id
    inside = [flaw(FRAME, HOUR, n=1), flaw(FRAME, 2 * HOUR, n=2), flaw(FRAME, 3 * HOUR, n=3)]
    assert owners(faults, *inside) == [
        (fid, "quality_drift", tuple(f.component_id for f in inside))
    ]
    # before it, after it, without defects, or of another machine: not the drift's
    assert owners(faults, flaw(FRAME, HOUR - 1)) == []
    assert owners(faults, flaw(FRAME, 3 * HOUR + 1)) == []
    assert owners(faults, flaw(FRAME, 2 * HOUR, defects=0, degraded=True)) == []
    assert owners(faults, flaw(MOTOR, 2 * HOUR)) == []


def test_an_open_drift_owns_every_later_part_until_its_end_is_read() -> None:
    begin = fault(FRAME, "quality_drift", START + HOUR)
    faults = index(begin)
    assert owners(faults, flaw(FRAME, 50 * HOUR))[0][0] == begin.fault_id
    faults.add(fault(FRAME, "quality_drift", START + HOUR, START + 2 * HOUR))
    assert owners(faults, flaw(FRAME, 50 * HOUR)) == []
    assert owners(faults, flaw(FRAME, 1.5 * HOUR))[0][0] == begin.fault_id


def test_a_settling_in_part_belongs_to_the_latest_breakdown_or_anomaly_ended_before_it() -> None:
    first = fault(FRAME, "breakdown", START, START + HOUR)
    second = fault(FRAME, "anomaly", START + 5 * HOUR, START + 6 * HOUR)
    maintenance = fault(FRAME, "maintenance", START + 7 * HOUR, START + 8 * HOUR)
    faults = index(second, first, maintenance)  # in any order
    assert owners(faults, flaw(FRAME, HOUR, defects=0, degraded=True)) == [
        (first.fault_id, "breakdown", ("COMP_METAL_FRAME_00000000",))
    ]
    assert owners(faults, flaw(FRAME, 6 * HOUR + 60, degraded=True))[0][:2] == (
        second.fault_id,
        "anomaly",
    )
    # a maintenance leaves no settling in: the anomaly is still the latest repair
    assert owners(faults, flaw(FRAME, 9 * HOUR, degraded=True))[0][0] == second.fault_id
    # before any repair, or on another machine: nobody's
    assert owners(faults, flaw(FRAME, HOUR - 1, degraded=True)) == []
    assert owners(faults, flaw(MOTOR, 2 * HOUR, degraded=True)) == []
    # a part not made while degraded is no repair's, defects or not
    assert owners(faults, flaw(FRAME, 2 * HOUR, defects=3)) == []


def test_begin_records_of_repairs_stations_and_repeats_are_not_counted() -> None:
    faults = index(
        fault(FRAME, "breakdown", START),
        fault("ASSEMBLY_STATION_A", "breakdown", START, START + 60, target_type="station"),
        fault(FRAME, "shutdown", START, START + 60),
    )
    assert faults.faults == 0
    end = fault(FRAME, "breakdown", START, START + 60)
    faults.add(end)
    faults.add(end)
    assert faults.faults == 1
    assert owners(faults, flaw(FRAME, 120, degraded=True))[0][0] == end.fault_id


def test_parts_without_a_production_time_are_nobodys() -> None:
    faults = index(fault(FRAME, "quality_drift", START))
    old = msgspec.structs.replace(flaw(FRAME, 60), produced_at=None)
    assert faults.attribute([old]) == []


def test_one_record_per_fault_and_widget_says_whether_the_trace_named_its_parts() -> None:
    drift = fault(FRAME, "quality_drift", START)
    repair = fault(MOTOR, "breakdown", START, START + 60)
    flaws = [flaw(FRAME, 100, n=1), flaw(FRAME, 200, n=2), flaw(MOTOR, 120, degraded=True, n=3)]
    widget = _widget(flaws)
    check = _check(widget, traced=flaws[1].component_id)
    attributions = index(drift, repair).attribute(flaws)
    assert attributions == [
        Attribution(
            drift.fault_id, FRAME, "quality_drift", (flaws[0].component_id, flaws[1].component_id)
        ),
        Attribution(repair.fault_id, MOTOR, "breakdown", (flaws[2].component_id,)),
    ]
    records = influence_records(attributions, widget, check)
    assert [(r.fault_id, r.target_id, r.traced) for r in records] == [
        (drift.fault_id, FRAME, True),
        (repair.fault_id, MOTOR, False),
    ]
    first = records[0]
    assert (first.widget_id, first.check_id, first.status) == (
        widget.widget_id,
        check.check_id,
        QualityStatus.FAIL,
    )
    assert first.inspected_at == check.checked_at == first.occurred_at
    assert first.kafka_key == FRAME
    assert decode(encode(first)) == first
    line = format_event(first)
    assert f"quality_drift of {FRAME} in {widget.widget_id}: fail, traced to it" in line
    assert influence_records(attributions, widget, check) == records  # same ids again


def test_older_widget_records_without_production_times_still_decode() -> None:
    widget = _widget([flaw(FRAME, 60)])
    document = json.loads(encode(widget))
    del document["component_flaws"][0]["produced_at"]
    old = decode(json.dumps(document).encode())
    assert isinstance(old, WidgetAssembled) and old.component_flaws[0].produced_at is None


def test_the_documented_json_schema_is_the_model() -> None:
    path = ROOT / "docs" / "schemas" / "influence_truth.schema.json"
    assert json.loads(path.read_text()) == msgspec.json.schema(InfluenceTruth)


def test_simulated_days_give_every_flawed_part_its_machines_fault() -> None:
    """Production following the fleet's reports (as the services do): every part made
    while degraded belongs to a repair of its machine that ended before it and after
    which no other ended; every part with defects that a drift's end record lists
    belongs to that drift."""
    config = default_config()
    config = msgspec.structs.replace(
        config, kanban=msgspec.structs.replace(config.kanban, enabled=False)
    )
    fleet = MachineFleet(config, random.Random(3), IdSource(random.Random(4)), START)
    production = ComponentProduction(config, random.Random(5), IdSource(random.Random(6)), START)
    tracker = FaultTracker(config)
    faults = FaultIndex()
    parts: list[ComponentProduced] = []
    records: list[FaultTruth] = []
    t = START
    while t < START + DAYS * 24 * HOUR:
        t += 600.0
        reports, changes = fleet.report_until(t)
        records += tracker.observe_all(changes)
        for report in reports:
            at = to_epoch(report.timestamp)
            parts += production.produce_until(at - 1e-6)
            production.set_status(report.machine_id, report.status, at)
        parts += production.produce_until(t)
        records += production.drain_drifts()
    for record in records:
        faults.add(record)
    repairs = [r for r in records if r.phase == "end" and r.kind in ("breakdown", "anomaly")]
    drift_ends = [r for r in records if r.phase == "end" and r.kind == "quality_drift"]
    assert repairs and drift_ends
    flaws = [
        ComponentFlaw(
            p.component_id,
            p.machine_id,
            p.quality_metrics.defect_count,
            p.made_while_degraded,
            p.produced_at,
        )
        for p in parts
        if p.quality_metrics.defect_count or p.made_while_degraded
    ]
    owned: dict[str, set[str]] = {}
    for f in flaws:
        for a in faults.attribute([f]):
            owned.setdefault(f.component_id, set()).add(a.fault_id)
    degraded = [f for f in flaws if f.made_while_degraded]
    assert len(degraded) > 10
    for f in degraded:
        assert f.produced_at is not None
        latest = max(
            (r for r in repairs if r.target_id == f.machine_id and r.ended_at <= f.produced_at),  # type: ignore[operator]
            key=lambda r: r.ended_at,  # type: ignore[arg-type,return-value]
        )
        assert latest.fault_id in owned[f.component_id]
    listed = 0
    by_id = {f.component_id: f for f in flaws}
    for end in drift_ends:
        assert end.effects is not None
        for component_id in end.effects.degraded_ids:
            if component_id in by_id and by_id[component_id].defect_count:
                listed += 1
                assert end.fault_id in owned[component_id]
    assert listed > 30


def _widget(flaws: list[ComponentFlaw]) -> WidgetAssembled:
    return WidgetAssembled(
        event_id=event_id_from("widget", "1"),
        widget_id="WIDGET_BASIC_WIDGET_0000abcd",
        widget_type="basic_widget",
        assembly_station_id="ASSEMBLY_STATION_A",
        component_ids=[f.component_id for f in flaws],
        assembly_started_at=to_datetime(START + HOUR),
        assembly_completed_at=to_datetime(START + HOUR + 60),
        assembly_duration_seconds=60.0,
        worker_id="WORKER_001",
        batch_id="ASSY_A_20260101_01",
        component_defects=sum(f.defect_count for f in flaws),
        component_flaws=flaws,
    )


def _check(widget: WidgetAssembled, traced: str) -> QualityCheck:
    return QualityCheck(
        event_id=event_id_from("quality_check", widget.event_id),
        check_id="QC_0000ABCD",
        widget_id=widget.widget_id,
        widget_type=widget.widget_type,
        inspector_id="QC_INSPECTOR_A",
        checked_at=to_datetime(START + HOUR + 120),
        status=QualityStatus.FAIL,
        test_results=Results(True, False, True, 80.0),
        defects_found=["mechanical_defect"],
        traced_to=TracedTo(traced, FRAME, "1 component defect"),
    )
