"""The analytics core against windows computed by hand, late and out-of-order events included."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from widget_factory import schemas as s
from widget_factory.core.analytics_windows import FactoryAnalytics
from widget_factory.core.clock import to_datetime
from widget_factory.core.metric_records import Metric, decode_metric, encode_metric, make_metric
from widget_factory.core.windows import (
    HOLD,
    PartitionProgress,
    percentile,
    split_interval,
    topic_frontier,
    window_start,
)
from widget_factory.factory_config import default_config

T0 = datetime(2026, 11, 25, 8, 0, tzinfo=UTC).timestamp()
"""A whole hour: windows of 60 s and 600 s start here."""


# --- event builders (times are seconds after T0) -------------------------------------------


def _id() -> str:
    return str(uuid.uuid4())


def component(
    at: float, machine: str = "FRAME_MACHINE_01", defects: int = 0
) -> s.ComponentProduced:
    return s.ComponentProduced(
        event_id=_id(),
        component_id=f"COMP_METAL_FRAME_{uuid.uuid4().hex[:8]}",
        component_type="metal_frame",
        machine_id=machine,
        batch_id="BATCH_1",
        produced_at=to_datetime(T0 + at),
        quality_metrics=s.QualityMetrics(150.0, s.Dimensions(100.0, 50.0, 25.0), 22.0, defects),
        production_line="LINE_A",
    )


def widget(
    at: float,
    duration: float = 300.0,
    widget_type: str = "basic_widget",
    station: str = "ASSEMBLY_STATION_A",
    widget_id: str | None = None,
) -> s.WidgetAssembled:
    return s.WidgetAssembled(
        event_id=_id(),
        widget_id=widget_id or f"WIDGET_{widget_type.upper()}_{uuid.uuid4().hex[:8]}",
        widget_type=widget_type,
        assembly_station_id=station,
        component_ids=["COMP_METAL_FRAME_a1b2c3d4"],
        assembly_started_at=to_datetime(T0 + at - duration),
        assembly_completed_at=to_datetime(T0 + at),
        assembly_duration_seconds=duration,
        worker_id="WORKER_001",
        batch_id="B",
    )


def check(
    at: float,
    defects: list[str] | None = None,
    widget_type: str = "basic_widget",
    widget_id: str = "WIDGET_BASIC_WIDGET_0000abcd",
) -> s.QualityCheck:
    return s.QualityCheck(
        event_id=_id(),
        check_id="QC_1",
        widget_id=widget_id,
        widget_type=widget_type,
        inspector_id="QC_INSPECTOR_A",
        checked_at=to_datetime(T0 + at),
        status=s.QualityStatus.FAIL if defects else s.QualityStatus.PASS,
        test_results=s.TestResults(True, True, True, 90.0),
        defects_found=defects or [],
    )


def report(at: float, status: str, machine: str = "FRAME_MACHINE_01") -> s.MachineTelemetry:
    return s.MachineTelemetry(
        event_id=_id(),
        machine_id=machine,
        machine_type="metal_forming",
        timestamp=to_datetime(T0 + at),
        status=s.MachineStatus(status),
        metrics=s.TelemetryMetrics(40.0, 1.0, 2000.0, 1, 90.0),
        location=s.Location("A", 1, "A"),
    )


def stock(at: float, change: int, sku: str = "metal_frame") -> s.InventoryUpdate:
    return s.InventoryUpdate(
        event_id=_id(),
        item_type="component",
        sku=sku,
        item_id="X",
        warehouse_location="WAREHOUSE_MAIN",
        quantity_change=change,
        current_stock=max(0, change),
        updated_at=to_datetime(T0 + at),
        reason="production",
        batch_id="B",
    )


def engine(window_s: float = 60.0, lateness_s: float = 30.0) -> FactoryAnalytics:
    return FactoryAnalytics(default_config(), window_s=window_s, lateness_s=lateness_s)


def by_key(metrics: list[Metric], name: str) -> dict[str, dict]:
    return {m.key: m.values for m in metrics if m.metric == name}


def at(seconds: float) -> float:
    return T0 + seconds


# --- window helpers ------------------------------------------------------------------------


def test_window_start_and_interval_split_follow_epoch_aligned_boundaries() -> None:
    assert window_start(at(59.9), 60) == at(0)
    assert window_start(at(60), 60) == at(60)
    assert split_interval(at(50), at(130), 60) == [(at(0), 10.0), (at(60), 60.0), (at(120), 10.0)]
    assert split_interval(at(10), at(10), 60) == []


def test_nearest_rank_percentile() -> None:
    assert percentile(range(1, 21), 0.95) == 19
    assert percentile(range(1, 11), 0.95) == 10
    assert percentile([7.0], 0.95) == 7.0
    assert percentile([], 0.95) is None


def test_topic_frontier_takes_the_slowest_partition_until_the_topic_is_quiet() -> None:
    busy = [PartitionProgress(100.0, True), PartitionProgress(40.0, True)]
    assert topic_frontier(busy, quiet=False) == 40.0
    assert topic_frontier(busy, quiet=True) == 100.0
    # a partition with data waiting and nothing read yet holds everything
    assert topic_frontier([*busy, PartitionProgress(None, True)], quiet=False) is HOLD
    # an empty partition constrains nothing; an empty topic has no frontier
    assert topic_frontier([*busy, PartitionProgress(None, False)], quiet=False) == 40.0
    assert topic_frontier([PartitionProgress(None, False)], quiet=False) is None


def test_an_empty_input_of_a_known_producer_holds_until_it_has_data() -> None:
    busy = [PartitionProgress(100.0, False), PartitionProgress(40.0, False)]
    # the producer is part of the run: an empty topic or partition is still to come
    assert topic_frontier([], quiet=True, hold_empty=True) is HOLD
    assert topic_frontier([PartitionProgress(None, False)], quiet=True, hold_empty=True) is HOLD
    assert topic_frontier([*busy, PartitionProgress(None, False)], False, hold_empty=True) is HOLD
    # once every partition has data the usual rule applies
    assert topic_frontier(busy, quiet=False, hold_empty=True) == 40.0
    assert topic_frontier(busy, quiet=True, hold_empty=True) == 100.0


def test_components_that_start_after_telemetry_ran_ahead_are_not_late() -> None:
    """Virtual time: telemetry is simulated hours ahead before the first component is
    read. Held by the empty component topic, machine OEE loses none of them."""
    e = engine()
    e.add_telemetry(report(0, "running"))
    e.add_telemetry(report(15, "running"))
    ahead = {"telemetry": at(3 * 3600)}
    empty = topic_frontier([PartitionProgress(None, False)], quiet=False, hold_empty=True)
    assert not [m for m in e.advance({**ahead, "components": empty}) if m.metric == "machine_oee"]
    e.add_component(component(10))
    oee = by_key(e.advance({**ahead, "components": at(3 * 3600)}), "machine_oee")
    assert oee["FRAME_MACHINE_01"]["made"] == 1
    assert e.late_counts()["machines"] == 0
    # without the hold (an input nobody is known to produce), the same component is late
    e = engine()
    e.add_telemetry(report(0, "running"))
    e.add_telemetry(report(15, "running"))
    e.advance({**ahead, "components": topic_frontier([PartitionProgress(None, False)], False)})
    e.add_component(component(10))
    assert e.late_counts()["machines"] == 1


# --- the engine ----------------------------------------------------------------------------


def test_throughput_windows_close_at_the_watermark_and_late_events_are_counted() -> None:
    e = engine(lateness_s=30)
    for event in (
        component(10),
        component(20, defects=2),
        component(70),
        component(65, machine="FRAME_MACHINE_02"),
    ):
        e.add_component(event)
    # frontier 80 - lateness 30 = watermark 50: window [0, 60) stays open
    assert [m for m in e.advance({"components": at(80)}) if m.metric == "machine_throughput"] == []
    # an out-of-order event within the bound still counts in its window
    e.add_component(component(55))
    closed = e.advance({"components": at(100)})  # watermark 70 closes [0, 60)
    first = by_key(closed, "machine_throughput")
    assert first["FRAME_MACHINE_01"] == {"components": 3, "defective": 1, "per_hour": 180.0}
    assert first["FRAME_MACHINE_02"]["components"] == 0
    assert len(first) == len(default_config().machines)  # every machine, zero or not
    assert {m.window_start for m in closed} == {to_datetime(at(0))}
    # a late event: its window has closed
    e.add_component(component(59))
    assert e.late_counts()["production"] == 1
    closed = e.advance({"components": at(200)})  # closes [60, 120)
    second = by_key(closed, "machine_throughput")
    assert second["FRAME_MACHINE_01"]["components"] == 1
    assert second["FRAME_MACHINE_02"]["components"] == 1
    assert by_key(closed, "late_events")["production"] == {"late": 1, "late_total": 1}


def test_assembly_time_average_and_p95_by_widget_type() -> None:
    e = engine()
    durations = [300.0 + 10 * i for i in range(20)]  # 300 ... 490
    for i, duration in enumerate(durations):
        e.add_widget(widget(1 + i, duration, station="ASSEMBLY_STATION_A"))
    e.add_widget(widget(30, 600.0, "industrial_widget", "ASSEMBLY_STATION_B"))
    closed = e.advance({"widgets": at(100)})  # watermark 70: only [0, 60) closes
    times = by_key(closed, "assembly_time")
    assert times["basic_widget"] == {
        "widgets": 20,
        "avg_s": 395.0,
        "p95_s": 480.0,  # nearest rank: the 19th of 20
        "min_s": 300.0,
        "max_s": 490.0,
    }
    assert times["industrial_widget"]["p95_s"] == 600.0
    stations = by_key(closed, "station_throughput")
    assert stations["ASSEMBLY_STATION_A"]["widgets"] == 20
    assert stations["ASSEMBLY_STATION_B"]["widgets"] == 1
    assert stations["ASSEMBLY_STATION_C"]["widgets"] == 0


def test_pass_rate_by_type_and_failures_by_reason() -> None:
    e = engine()
    e.add_check(check(5))
    e.add_check(check(6))
    e.add_check(check(7))
    e.add_check(check(8, ["electrical_failure", "visual_defect"]))
    e.add_check(check(9, ["electrical_failure"], widget_type="smart_widget"))
    closed = e.advance({"checks": at(100)})
    rates = by_key(closed, "qc_pass_rate")
    assert rates["basic_widget"] == {"checks": 4, "passed": 3, "failed": 1, "pass_rate": 0.75}
    assert rates["smart_widget"]["pass_rate"] == 0.0
    reasons = by_key(closed, "qc_failure_reason")
    assert reasons["electrical_failure"] == {"failures": 2, "failed_checks": 2, "share": 1.0}
    assert reasons["visual_defect"] == {"failures": 1, "failed_checks": 2, "share": 0.5}


def test_oee_of_a_production_machine_by_hand() -> None:
    e = engine(window_s=600, lateness_s=0)
    # a report every 15 s; in ERROR from 300 s to 450 s: 450 s running, 150 s in error
    for t in range(0, 601, 15):
        e.add_telemetry(report(t, "error" if 300 <= t < 450 else "running"))
    for t, defects in ((50, 0), (100, 0), (150, 1), (200, 0), (480, 0), (540, 0)):
        e.add_component(component(t, defects=defects))
    closed = e.advance({"telemetry": at(600), "components": at(600)})
    oee = by_key(closed, "machine_oee")["FRAME_MACHINE_01"]
    assert oee["running_s"] == 450.0 and oee["error_s"] == 150.0 and oee["observed_s"] == 600.0
    assert oee["availability"] == 0.75  # 450 / 600
    assert oee["nominal_s"] == 360.0  # 6 frames x 60 s (middle of 45-75 s)
    assert oee["performance"] == 0.8  # 360 / 450
    assert oee["quality"] == pytest.approx(0.8333, abs=1e-4)  # 5 of 6 without defects
    assert oee["oee"] == 0.5


def test_kanban_idle_time_is_planned_not_an_availability_loss() -> None:
    e = engine(window_s=600, lateness_s=0)
    # idle (parked by kanban) from 0 to 300 s, error from 300 to 450 s, then running
    for t in range(0, 601, 15):
        status = "idle" if t < 300 else "error" if t < 450 else "running"
        e.add_telemetry(report(t, status))
    closed = e.advance({"telemetry": at(600), "components": at(600)})
    oee = by_key(closed, "machine_oee")["FRAME_MACHINE_01"]
    assert oee["idle_s"] == 300.0 and oee["error_s"] == 150.0 and oee["running_s"] == 150.0
    assert oee["availability"] == 0.5  # 150 / (600 - 300 idle): the breakdown is the loss


def test_oee_of_a_station_joins_quality_checks_by_widget_and_ignores_shutdown_time() -> None:
    e = engine(window_s=600, lateness_s=0)
    for t in range(0, 601, 15):
        e.add_telemetry(report(t, "shutdown" if t < 150 else "running", "ASSEMBLY_STATION_A"))
    e.add_widget(widget(100, widget_id="WIDGET_BASIC_WIDGET_000000a1"))
    e.add_widget(widget(200, widget_id="WIDGET_BASIC_WIDGET_000000a2"))
    e.add_check(check(110, widget_id="WIDGET_BASIC_WIDGET_000000a1"))
    e.add_check(check(210, ["mechanical_defect"], widget_id="WIDGET_BASIC_WIDGET_000000a2"))
    closed = e.advance({"telemetry": at(600), "widgets": at(600), "checks": at(600)})
    oee = by_key(closed, "machine_oee")["ASSEMBLY_STATION_A"]
    assert oee["shutdown_s"] == 150.0 and oee["running_s"] == 450.0
    assert oee["availability"] == 1.0  # shutdown is planned: 450 / (600 - 150)
    assert oee["performance"] == 1.0  # 2 x 300 s nominal > 450 s running: capped
    assert oee["quality"] == 0.5 and oee["oee"] == 0.5


def test_station_oee_waits_for_quality_control_but_machine_oee_does_not() -> None:
    e = engine(lateness_s=0)
    for t in range(0, 121, 15):
        e.add_telemetry(report(t, "running"))
        e.add_telemetry(report(t, "running", "ASSEMBLY_STATION_A"))
    e.add_check(check(1))
    closed = e.advance(
        {"telemetry": at(120), "components": at(120), "widgets": at(120), "checks": HOLD}
    )
    assert set(by_key(closed, "machine_oee")) == {"FRAME_MACHINE_01"}
    assert by_key(closed, "qc_pass_rate") == {}


def test_telemetry_gaps_longer_than_four_intervals_are_not_counted() -> None:
    e = engine(lateness_s=0)
    e.add_telemetry(report(0, "running"))
    e.add_telemetry(report(600, "running"))  # 10 minutes of silence: only 60 s counted
    closed = e.advance({"telemetry": at(600), "components": at(600)})
    observed = [m.values["observed_s"] for m in closed if m.metric == "machine_oee"]
    assert observed == [60.0]


def test_stock_levels_carry_forward_and_absorb_late_updates() -> None:
    e = engine(lateness_s=0)
    e.add_inventory(stock(10, +1))
    e.add_inventory(stock(20, +1))
    e.add_inventory(stock(70, -1))
    e.add_inventory(stock(30, +5, sku="battery"))
    closed = e.advance({"inventory": at(60)})
    assert by_key(closed, "stock_level")["metal_frame"] == {"level": 2, "change": 2, "updates": 2}
    e.add_inventory(stock(30, -1))  # late: window [0, 60) is closed
    closed = e.advance({"inventory": at(120)})
    levels = by_key(closed, "stock_level")
    assert levels["metal_frame"] == {"level": 0, "change": -1, "updates": 1}
    assert levels["battery"] == {"level": 5, "change": 0, "updates": 0}
    assert by_key(closed, "late_events")["stock"]["late"] == 1
    assert e.stock_levels() == {"battery": 5, "metal_frame": 0}


def test_duplicates_count_once_and_hold_or_no_frontier_closes_nothing() -> None:
    e = engine()
    event = component(10)
    e.add_component(event)
    e.add_component(event)
    assert e.advance({"components": HOLD}) == []
    assert e.advance({}) == []
    flushed = e.flush()
    assert by_key(flushed, "machine_throughput")["FRAME_MACHINE_01"]["components"] == 1
    assert e.open_windows() == 0


def test_empty_windows_between_events_report_zero_throughput() -> None:
    e = engine(lateness_s=0)
    e.add_component(component(10))
    e.add_component(component(190))
    closed = e.advance({"components": at(240)})
    counts = [
        m.values["components"]
        for m in closed
        if m.metric == "machine_throughput" and m.key == "FRAME_MACHINE_01"
    ]
    assert counts == [1, 0, 0, 1]


def test_metric_records_round_trip_with_a_deterministic_id() -> None:
    one = make_metric("qc_pass_rate", "basic_widget", at(0), at(60), {"pass_rate": 0.5})
    two = make_metric("qc_pass_rate", "basic_widget", at(0), at(60), {"pass_rate": 0.9})
    assert one.event_id == two.event_id
    assert decode_metric(encode_metric(one)) == one
    assert one.kafka_key == "qc_pass_rate" and one.timestamp_ms == int(at(60) * 1000)
