"""The dashboard's state and its server-side validation of controls, without a broker."""

from __future__ import annotations

import pytest

from tests.unit.test_analytics import check, component, report, stock, widget
from widget_factory.core.metric_records import make_metric
from widget_factory.dashboard.feed import CommandRejected, DashboardFeed
from widget_factory.dashboard.state import DashboardState
from widget_factory.factory_config import default_config
from widget_factory.kafka_io.settings import KafkaSettings


def test_state_counts_each_event_once_and_follows_the_latest_report() -> None:
    state = DashboardState(default_config())
    first = component(10)
    state.add(first)
    state.add(first)  # a duplicate on the wire
    state.add(component(20, defects=1))
    state.add(widget(30, widget_id="WIDGET_BASIC_WIDGET_000000a1"))
    state.add(check(40, ["visual_defect"]))
    state.add(check(41))
    state.add(stock(50, 3))
    state.add(report(60, "error"))
    state.add(report(45, "running"))  # older than the last report: ignored
    snap = state.snapshot()
    assert snap["totals"]["components"] == 2
    assert snap["totals"]["widgets"] == 1
    assert snap["totals"]["checks"] == 2 and snap["totals"]["pass_rate"] == 0.5
    machines = {m["id"]: m for m in snap["machines"]}
    assert len(machines) == len(default_config().all_machine_ids)
    assert machines["FRAME_MACHINE_01"]["status"] == "error"
    assert machines["FRAME_MACHINE_01"]["made"] == 2
    assert machines["PLASTIC_MOLD_01"]["status"] == "unknown"
    assert snap["stock"] == [{"sku": "metal_frame", "kind": "component", "level": 3}]
    assert snap["sim_time"].startswith("2026-11-25T08:01:00")
    assert sum(snap["throughput"]["components_per_minute"]) == 2


def test_state_aggregates_oee_over_recent_windows() -> None:
    state = DashboardState(default_config())
    for start, made, good in ((0.0, 1, 1), (60.0, 1, 0)):
        state.add(
            make_metric(
                "machine_oee",
                "FRAME_MACHINE_01",
                start,
                start + 60,
                {
                    "running_s": 60.0,
                    "observed_s": 60.0,
                    "shutdown_s": 0.0,
                    "nominal_s": 60.0 * made,
                    "inspected": made,
                    "good": good,
                },
            )
        )
    machine = next(m for m in state.snapshot()["machines"] if m["id"] == "FRAME_MACHINE_01")
    assert machine["oee"] == {"availability": 1.0, "performance": 1.0, "quality": 0.5, "oee": 0.5}


@pytest.mark.parametrize(
    ("widget_type", "quantity", "priority", "reason"),
    [
        ("gold_widget", 1, 1, "unknown widget type"),
        ("basic_widget", 0, 1, "quantity must be between 1 and 1000"),
        ("basic_widget", "many", 1, "quantity must be a whole number"),
        ("basic_widget", 5, 101, "priority must be between 0 and 100"),
        ("basic_widget", True, 1, "quantity must be a whole number"),
    ],
)
def test_orders_are_validated_before_anything_is_sent(
    widget_type: object, quantity: object, priority: object, reason: str
) -> None:
    config = default_config()
    # no broker at this address: a request that passed validation would fail to send
    feed = DashboardFeed(
        KafkaSettings("127.0.0.1:1", source="flag"), config, DashboardState(config)
    )
    with pytest.raises(CommandRejected, match=reason):
        feed.add_order(widget_type, quantity, priority)


def test_machine_commands_are_validated() -> None:
    config = default_config()
    feed = DashboardFeed(
        KafkaSettings("127.0.0.1:1", source="flag"), config, DashboardState(config)
    )
    with pytest.raises(CommandRejected, match="unknown machine"):
        feed.machine_command("NO_SUCH_MACHINE", "stop")
    with pytest.raises(CommandRejected, match="unknown action"):
        feed.machine_command("FRAME_MACHINE_01", "explode")


def test_state_marks_true_faults_and_lists_the_answer_key() -> None:
    from widget_factory.core.clock import to_datetime
    from widget_factory.core.ground_truth import fault_id
    from widget_factory.core.ids import event_id_from
    from widget_factory.schemas import FaultTruth, OeeTruth

    def fault(target: str, phase: str, start: float, end: float | None = None) -> FaultTruth:
        fid = fault_id(target, "shutdown", start)
        return FaultTruth(
            event_id=event_id_from("fault_truth", fid, phase),
            phase=phase,  # type: ignore[arg-type]
            fault_id=fid,
            target_id=target,
            target_type="machine",
            kind="shutdown",
            cause="command",
            started_at=to_datetime(1_764_057_600.0 + start),
            ended_at=None if end is None else to_datetime(1_764_057_600.0 + end),
        )

    state = DashboardState(default_config())
    state.add(fault("PLASTIC_MOLD_01", "begin", 10))
    state.add(fault("PLASTIC_MOLD_01", "begin", 10))  # a duplicate on the wire
    snap = state.snapshot()
    machines = {m["id"]: m for m in snap["machines"]}
    mark = machines["PLASTIC_MOLD_01"]["true_fault"]
    assert mark is not None and (mark["kind"], mark["cause"]) == ("shutdown", "command")
    assert machines["FRAME_MACHINE_01"]["true_fault"] is None
    assert [(f["target"], f["ended_at"]) for f in snap["answer_key"]] == [("PLASTIC_MOLD_01", None)]

    state.add(fault("PLASTIC_MOLD_01", "end", 10, 70))
    for i in range(12):  # only the newest faults stay listed, newest first
        state.add(fault("FRAME_MACHINE_01", "begin", 100 + 10 * i))
        state.add(fault("FRAME_MACHINE_01", "end", 100 + 10 * i, 105 + 10 * i))
    snap = state.snapshot()
    machines = {m["id"]: m for m in snap["machines"]}
    assert machines["PLASTIC_MOLD_01"]["true_fault"] is None
    assert machines["FRAME_MACHINE_01"]["true_fault"] is None
    starts = [f["started_at"] for f in snap["answer_key"]]
    assert len(starts) == 8 and starts == sorted(starts, reverse=True)
    assert all(f["ended_at"] is not None for f in snap["answer_key"])

    window = OeeTruth(
        event_id=event_id_from("oee_truth", "FRAME_MACHINE_01", "0"),
        target_id="FRAME_MACHINE_01",
        window_start=to_datetime(1_764_057_600.0),
        window_end=to_datetime(1_764_057_660.0),
        producing_s=30.0,
        shutdown_s=0.0,
        made=2,
        good=1,
        availability=0.5,
        performance=0.8,
        quality=0.5,
        oee=0.2,
    )
    state.add(window)
    machine = next(m for m in state.snapshot()["machines"] if m["id"] == "FRAME_MACHINE_01")
    assert machine["true_oee"] == {
        "availability": 0.5,
        "performance": 0.8,
        "quality": 0.5,
        "oee": 0.2,
    }


def test_a_quality_drift_outlasting_a_shutdown_stays_marked() -> None:
    from widget_factory.core.clock import to_datetime
    from widget_factory.core.ground_truth import fault_id
    from widget_factory.core.ids import event_id_from
    from widget_factory.schemas import FaultTruth

    def fault(kind: str, cause: str, phase: str, start: float, end: float | None = None):
        fid = fault_id("FRAME_MACHINE_01", kind, start)
        return FaultTruth(
            event_id=event_id_from("fault_truth", fid, phase),
            phase=phase,  # type: ignore[arg-type]
            fault_id=fid,
            target_id="FRAME_MACHINE_01",
            target_type="machine",
            kind=kind,  # type: ignore[arg-type]
            cause=cause,  # type: ignore[arg-type]
            started_at=to_datetime(1_764_057_600.0 + start),
            ended_at=None if end is None else to_datetime(1_764_057_600.0 + end),
        )

    def mark(state: DashboardState) -> tuple[str, str] | None:
        machines = {m["id"]: m for m in state.snapshot()["machines"]}
        found = machines["FRAME_MACHINE_01"]["true_fault"]
        return None if found is None else (found["kind"], found["cause"])

    state = DashboardState(default_config())
    state.add(fault("quality_drift", "wear", "begin", 0))
    assert mark(state) == ("quality_drift", "wear")
    state.add(fault("shutdown", "command", "begin", 60))
    assert mark(state) == ("shutdown", "command")
    state.add(fault("shutdown", "command", "end", 60, 120))
    assert mark(state) == ("quality_drift", "wear")  # the drift goes on
    state.add(fault("quality_drift", "wear", "end", 0, 300))
    assert mark(state) is None
    # an end read before its begin (two producers) leaves nothing marked
    state.add(fault("quality_drift", "wear", "end", 400, 500))
    state.add(fault("quality_drift", "wear", "begin", 400))
    assert mark(state) is None
