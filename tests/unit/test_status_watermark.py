"""Status by simulated time: the gate releases reports in time order and never lets
production pass what telemetry has said; invariant 7 finds components made while down."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime

import msgspec

from tests.samples import sample_events
from widget_factory.core.audit import Audit
from widget_factory.core.audit_status import StatusHistory, produced_while_down
from widget_factory.core.ids import IdSource
from widget_factory.core.machines import MachineFleet
from widget_factory.core.production import ComponentProduction
from widget_factory.core.status_watermark import StatusGate
from widget_factory.factory_config import default_config
from widget_factory.schemas import ComponentProduced, MachineStatus

START = datetime(2026, 1, 1, tzinfo=UTC).timestamp()


def sample_component(machine_id: str, produced_at: datetime, serial: int) -> ComponentProduced:
    template = sample_events()[0]
    assert isinstance(template, ComponentProduced)
    return msgspec.structs.replace(
        template,
        event_id=f"{serial:08x}-0000-4000-8000-000000000000",
        component_id=f"COMP_METAL_FRAME_{serial:08x}",
        machine_id=machine_id,
        produced_at=produced_at,
    )


RUNNING, ERROR, IDLE = MachineStatus.RUNNING, MachineStatus.ERROR, MachineStatus.IDLE
MAINTENANCE, SHUTDOWN = MachineStatus.MAINTENANCE, MachineStatus.SHUTDOWN


def test_the_horizon_is_the_lowest_watermark_and_waits_for_every_machine() -> None:
    gate = StatusGate(["A", "B"], silent_after_s=60)
    assert gate.horizon() == -math.inf and not gate.engaged
    gate.add("A", RUNNING, 100.0)
    gate.add("OTHER", ERROR, 500.0)  # not a production machine: ignored
    assert gate.engaged
    assert gate.horizon() == -math.inf  # B has said nothing yet
    gate.add("B", RUNNING, 90.0)
    assert gate.horizon() == 90.0
    gate.add("B", RUNNING, 130.0)
    assert gate.horizon() == 100.0
    assert gate.watermark("B") == 130.0


def test_reports_come_out_in_time_order_up_to_the_bound() -> None:
    gate = StatusGate(["A", "B"], silent_after_s=60)
    gate.add("A", RUNNING, 10.0)
    gate.add("A", ERROR, 40.0)
    gate.add("B", RUNNING, 20.0)
    assert gate.next_change() == 10.0
    assert gate.release(30.0) == [("A", RUNNING, 10.0), ("B", RUNNING, 20.0)]
    assert gate.release(40.0) == [("A", ERROR, 40.0)]
    assert gate.next_change() == math.inf


def test_a_machine_that_never_reports_stops_holding_the_others_back() -> None:
    gate = StatusGate(["A", "GHOST"], silent_after_s=60)
    gate.add("A", RUNNING, 0.0)
    assert gate.horizon() == -math.inf
    gate.add("A", RUNNING, 59.0)
    assert gate.horizon() == -math.inf
    gate.add("A", RUNNING, 60.0)
    assert gate.horizon() == 60.0
    assert gate.ignored == {"GHOST"}


def _history(records: list[tuple[str, float, MachineStatus]]) -> StatusHistory:
    history = StatusHistory()
    for machine_id, at, status in records:
        history.add(machine_id, at, status)
    return history


def test_status_holds_from_one_record_to_the_next() -> None:
    history = _history(
        [("M", 0.0, RUNNING), ("M", 30.0, ERROR), ("M", 15.0, RUNNING), ("M", 45.0, ERROR)]
        + [("M", 60.0, RUNNING), ("M", 60.0, SHUTDOWN), ("N", 5.0, MAINTENANCE)]
    )
    assert history.status_at("M", -1.0) is None
    assert history.status_at("M", 29.9) is RUNNING
    assert history.status_at("M", 30.0) is ERROR
    assert history.status_at("M", 59.9) is ERROR
    assert history.status_at("M", 60.0) is SHUTDOWN  # the later record at the same time
    assert history.status_at("X", 60.0) is None
    assert history.down_intervals("M") == [(30.0, 60.0, ERROR), (60.0, math.inf, SHUTDOWN)]
    assert history.down_intervals("N") == [(5.0, math.inf, MAINTENANCE)]


def test_components_inside_a_down_interval_are_named() -> None:
    history = _history([("M", 0.0, RUNNING), ("M", 30.0, ERROR), ("M", 45.0, IDLE)])
    found = produced_while_down(
        history,
        [("C1", "M", 29.0), ("C2", "M", 30.0), ("C3", "M", 44.9), ("C4", "M", 45.0)]
        + [("C5", "UNSEEN", 31.0), ("C6", "M", -5.0)],
    )
    assert found == ["C2 on M at 30.000: error", "C3 on M at 44.900: error"]


def test_the_audit_reports_invariant_7() -> None:
    config = default_config()
    audit = Audit(config.recipes)
    rng = random.Random(1)
    fleet = MachineFleet(config, rng, IdSource(rng), START)
    reports, _ = fleet.report_until(START + 20)
    report, _change = fleet.inject_anomaly("FRAME_MACHINE_01", START + 25)
    for event in [*reports, report]:
        audit.add_telemetry(event)
    good = sample_component(
        machine_id="FRAME_MACHINE_01", produced_at=datetime.fromtimestamp(START + 24, UTC), serial=1
    )
    bad = sample_component(
        machine_id="FRAME_MACHINE_01", produced_at=datetime.fromtimestamp(START + 26, UTC), serial=2
    )
    audit.add_component(good)
    assert not [v for v in audit.report().violations if v.invariant == 7]
    audit.add_component(bad)
    broken = [v for v in audit.report().violations if v.invariant == 7]
    assert len(broken) == 1 and broken[0].ids[0].startswith(bad.component_id)


def test_production_gated_by_telemetry_never_makes_anything_while_down() -> None:
    """Telemetry and production of one factory, the status reports fed to production
    through the gate in batches that arrive late: no component lands in a down interval."""
    config = default_config()
    rng = random.Random(5)
    fleet = MachineFleet(config, rng, IdSource(rng), START)
    production = ComponentProduction(config, random.Random(6), IdSource(random.Random(6)), START)
    gate = StatusGate([m.id for m in config.machines], silent_after_s=60)
    history = StatusHistory()
    records: list[tuple[float, str, MachineStatus]] = []
    made: list[ComponentProduced] = []
    t = START
    fed = 0
    commands = {3600.0: "PCB_ASSEMBLER_01", 7200.0: "FRAME_MACHINE_02", 9000.0: "SENSOR_CALIB_01"}
    while t < START + 6 * 3600:
        t += 600.0
        reports = []
        for offset, machine in commands.items():
            if t - 600.0 < START + offset <= t:
                reports += fleet.report_until(START + offset)[0]
                reports.append(fleet.inject_anomaly(machine, START + offset)[0])
        reports += fleet.report_until(t)[0]
        for report in reports:
            records.append((report.timestamp.timestamp(), report.machine_id, report.status))
        for at, machine_id, status in records[fed:]:
            gate.add(machine_id, status, at)
            history.add(machine_id, at, status)
        fed = len(records)
        until = gate.horizon()
        while gate.next_change() <= until:
            change = gate.next_change()
            made += production.produce_until(math.nextafter(change, -math.inf))
            for machine_id, status, at in gate.release(change):
                production.set_status(machine_id, status, at)
        made += production.produce_until(until)
    assert len(made) > 500
    assert any(d for m in commands.values() for d in history.down_intervals(m))
    triples = [(c.component_id, c.machine_id, c.produced_at.timestamp()) for c in made]
    assert produced_while_down(history, triples) == []
    # and ungated production (statuses applied only after a whole step) does break it
    late = ComponentProduction(config, random.Random(6), IdSource(random.Random(6)), START)
    ungated: list[ComponentProduced] = []
    step_end = START
    while step_end < START + 6 * 3600:
        step_end += 600.0
        ungated += late.produce_until(step_end)
        for at, machine_id, status in records:
            if step_end - 600.0 < at <= step_end:
                late.set_status(machine_id, status, at)
    triples = [(c.component_id, c.machine_id, c.produced_at.timestamp()) for c in ungated]
    assert produced_while_down(history, triples)


def test_a_report_applied_before_the_start_only_raises_the_watermark() -> None:
    gate = StatusGate(["A"], silent_after_s=60)
    gate.observe("A", 50.0)
    gate.observe("OTHER", 80.0)
    assert gate.horizon() == 50.0 and gate.next_change() == math.inf
    gate.observe("A", 40.0)
    assert gate.watermark("A") == 50.0


def test_a_report_from_the_past_read_after_a_later_one_was_applied_is_not_applied() -> None:
    """A walkthrough script's "running" stamped with the wall clock, read while the
    factory's machine is down in its simulated present, must not start it again."""
    gate = StatusGate(["A", "B"], silent_after_s=60)
    gate.add("A", MachineStatus.ERROR, 100.0)
    gate.add("B", MachineStatus.RUNNING, 100.0)
    assert gate.release(100.0) == [
        ("A", MachineStatus.ERROR, 100.0),
        ("B", MachineStatus.RUNNING, 100.0),
    ]
    gate.add("A", MachineStatus.RUNNING, 40.0)  # from the past
    gate.add("B", MachineStatus.ERROR, 115.0)
    assert gate.release(120.0) == [("B", MachineStatus.ERROR, 115.0)]
    assert gate.superseded == 1
    assert gate.watermark("A") == 100.0
    # the same report time again (a retried record) is still applied
    gate.add("B", MachineStatus.ERROR, 115.0)
    assert gate.release(120.0) == [("B", MachineStatus.ERROR, 115.0)]
