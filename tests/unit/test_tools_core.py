"""Pure pieces of the tools: one-line events, command checks, the factory view, rates."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from rich.console import Console

from tests.samples import T0, sample_events
from widget_factory import schemas as s
from widget_factory.core.control import (
    MAX_ORDER_QUANTITY,
    build_command,
    build_order,
    check_machine,
    check_quantity,
    check_widget_type,
    expand_targets,
)
from widget_factory.core.event_format import format_duration, format_event, format_record
from widget_factory.core.factory_view import FactoryView, GroupLag, RateMeter
from widget_factory.core.ids import IdSource
from widget_factory.errors import UsageError
from widget_factory.factory_config import default_config
from widget_factory.monitor_view import MonitorFrame, render


def _id() -> str:
    return str(uuid.uuid4())


# --- one-line events ---------------------------------------------------------------------


@pytest.mark.parametrize("event", sample_events(), ids=lambda e: e.event_type)
def test_every_event_type_is_one_line_led_by_its_simulated_time(event: s.Event) -> None:
    line = format_event(event)
    assert "\n" not in line
    assert line.startswith("2026-11-25 08:00:00  ")
    assert line == format_record(s.encode(event))


def test_lines_carry_the_facts_people_look_for() -> None:
    by_type = {e.event_type: format_event(e) for e in sample_events()}
    assert (
        "COMP_METAL_FRAME_a1b2c3d4 (metal_frame) on FRAME_MACHINE_01"
        in by_type["component_produced"]
    )
    assert "at ASSEMBLY_STATION_A by WORKER_001 in 5m00s" in by_type["widget_assembled"]
    assert "FAIL performance_below_standard (score 60.5)" in by_type["quality_check"]
    assert "PCB_ASSEMBLER_01 running: 45.0 °C" in by_type["machine_telemetry"]
    assert "metal_frame +1 -> 12 (production" in by_type["inventory_update"]
    assert "ORDER_0001: 5x premium_widget, priority 3" in by_type["production_order"]
    assert "CRITICAL PCB_ASSEMBLER_01:" in by_type["factory_alert"]
    assert "inject_anomaly FRAME_MACHINE_01" in by_type["factory_command"]


def test_dead_letters_name_their_origin_and_error() -> None:
    line = format_record(
        b"not json at all",
        headers=[
            ("source.topic", b"widget-assembly"),
            ("source.partition", b"2"),
            ("source.offset", b"41"),
            ("error", b"not valid JSON"),
            ("service", b"quality"),
        ],
        where="factory-deadletter[0]@7",
    )
    assert line == (
        "factory-deadletter[0]@7  dead letter from widget-assembly[2]@41 by quality: "
        "not valid JSON | not json at all"
    )


def test_garbage_and_foreign_json_get_a_line_not_an_exception() -> None:
    assert format_record(b"\xff\xfe garbage", where="t[0]@1").startswith(
        "t[0]@1  unreadable record (not valid JSON"
    )
    assert format_record(b'{"window": "10m", "count": 3}', where="m[1]@2") == (
        'm[1]@2  {"window":"10m","count":3}'
    )
    long = b'{"event_type": "widget_assembled"}' + b" " * 500
    assert "unreadable record" in format_record(long)
    assert format_record(None).startswith("unreadable record")


def test_durations_read_naturally() -> None:
    assert [format_duration(x) for x in (0, 45, 300, 451, 3720)] == [
        "0s",
        "45s",
        "5m00s",
        "7m31s",
        "1h02m",
    ]


# --- command checks ----------------------------------------------------------------------


def test_orders_are_checked_against_the_factory() -> None:
    config = default_config()
    ids = IdSource(random.Random(1))
    order = build_order(config, ids, "premium_widget", 20, 5, T0.timestamp())
    assert (order.widget_type, order.quantity, order.priority) == ("premium_widget", 20, 5)
    assert order.created_at == T0
    with pytest.raises(
        UsageError, match="unknown widget type 'mega_widget' \\(known: basic_widget"
    ):
        check_widget_type(config, "mega_widget")
    for bad in (0, -3, MAX_ORDER_QUANTITY + 1):
        with pytest.raises(UsageError, match=f"quantity {bad}"):
            check_quantity(bad)
    assert check_quantity(MAX_ORDER_QUANTITY) == MAX_ORDER_QUANTITY
    with pytest.raises(UsageError, match="priority 101"):
        build_order(config, ids, "basic_widget", 1, 101, 0.0)


def test_machines_are_checked_and_groups_expand() -> None:
    config = default_config()
    with pytest.raises(UsageError, match="did you mean FRAME_MACHINE_01"):
        check_machine(config, "frame_machine_01")
    with pytest.raises(UsageError, match="unknown machine 'FRAME_MACHINE_09'"):
        check_machine(config, "FRAME_MACHINE_09")
    assert expand_targets(config, ["@makes:circuit_board"]) == [
        "PCB_ASSEMBLER_01",
        "PCB_ASSEMBLER_02",
    ]
    assert len(expand_targets(config, ["@production"])) == len(config.machines)
    assert expand_targets(config, ["@stations", "ASSEMBLY_STATION_A"]) == [
        "ASSEMBLY_STATION_A",
        "ASSEMBLY_STATION_B",
        "ASSEMBLY_STATION_C",
    ]
    assert len(expand_targets(config, ["@all"])) == 13
    with pytest.raises(UsageError, match="no machine makes 'unobtainium'"):
        expand_targets(config, ["@makes:unobtainium"])
    with pytest.raises(UsageError, match="unknown machine group '@everything'"):
        expand_targets(config, ["@everything"])


def test_commands_go_out_with_the_wire_names() -> None:
    config = default_config()
    ids = IdSource(random.Random(1))
    now = datetime.now(UTC)
    names = {
        "anomaly": "inject_anomaly",
        "stop-machine": "stop_machine",
        "start-machine": "start_machine",
        "maintenance": "maintenance",
    }
    for cli_name, wire in names.items():
        command = build_command(config, ids, cli_name, "FRAME_MACHINE_01", now)
        assert (command.command, command.target_id, command.issued_at) == (
            wire,
            "FRAME_MACHINE_01",
            now,
        )
    with pytest.raises(UsageError):
        build_command(config, ids, "explode", "FRAME_MACHINE_01", now)


# --- the factory view --------------------------------------------------------------------


def _telemetry(machine: str, status: s.MachineStatus, at: datetime) -> s.MachineTelemetry:
    return s.MachineTelemetry(
        event_id=_id(),
        machine_id=machine,
        machine_type="metal_forming",
        timestamp=at,
        status=status,
        metrics=s.TelemetryMetrics(50.0, 2.0, 2000.0, 3, 90.0),
        location=s.Location("A", 1, "A"),
    )


def _update(sku: str, change: int, level: int, at: datetime) -> s.InventoryUpdate:
    return s.InventoryUpdate(
        event_id=_id(),
        item_type="component",
        sku=sku,
        item_id=f"COMP_{sku.upper()}_00000001",
        warehouse_location="WAREHOUSE_MAIN",
        quantity_change=change,
        current_stock=level,
        updated_at=at,
        reason="production" if change > 0 else "assembly_consumption",
        batch_id="B",
    )


def _widget(order_id: str | None, widget_type: str = "basic_widget") -> s.WidgetAssembled:
    return s.WidgetAssembled(
        event_id=_id(),
        widget_id=f"WIDGET_{widget_type.upper()}_{uuid.uuid4().hex[:8]}",
        widget_type=widget_type,
        assembly_station_id="ASSEMBLY_STATION_A",
        component_ids=["COMP_METAL_FRAME_a1b2c3d4"],
        assembly_started_at=T0,
        assembly_completed_at=T0,
        assembly_duration_seconds=300.0,
        worker_id="WORKER_001",
        batch_id="B",
        order_id=order_id,
    )


def _order(order_id: str, quantity: int, widget_type: str = "basic_widget") -> s.ProductionOrder:
    return s.ProductionOrder(
        event_id=_id(),
        order_id=order_id,
        widget_type=widget_type,
        quantity=quantity,
        priority=2,
        created_at=T0,
    )


def test_the_view_keeps_the_latest_status_stock_and_open_orders() -> None:
    view = FactoryView()
    later = T0 + timedelta(minutes=5)
    view.apply(_telemetry("FRAME_MACHINE_01", s.MachineStatus.ERROR, later))
    view.apply(_telemetry("FRAME_MACHINE_01", s.MachineStatus.RUNNING, T0))  # older: ignored
    view.apply(_telemetry("PCB_ASSEMBLER_01", s.MachineStatus.SHUTDOWN, T0))
    assert view.machines["FRAME_MACHINE_01"].status is s.MachineStatus.ERROR
    assert view.status_counts() == {s.MachineStatus.ERROR: 1, s.MachineStatus.SHUTDOWN: 1}
    # The ledger's running level: the last update read is the current one, whatever its time.
    view.apply(_update("metal_frame", 1, 7, later))
    view.apply(_update("metal_frame", -1, 6, T0))
    assert view.component_stock == {"metal_frame": 6}
    # Widgets may be read before their order: the book still balances.
    view.apply(_widget("ORDER_A"))
    view.apply(_widget("ORDER_A"))
    view.apply(_widget(None))
    view.apply(_order("ORDER_A", 5))
    view.apply(_order("ORDER_B", 3, "smart_widget"))
    view.apply(_order("ORDER_B", 3, "smart_widget"))  # a duplicate order id counts once
    assert view.book.waiting() == {"basic_widget": 3, "smart_widget": 3}
    assert view.book.units_waiting() == 6
    assert view.book.open_orders() == 2
    assert view.sim_now == later.timestamp()


def test_quality_tallies_drop_duplicate_checks() -> None:
    view = FactoryView()
    check = next(e for e in sample_events() if isinstance(e, s.QualityCheck))
    view.apply(check)
    view.apply(check)
    tally = view.quality["basic_widget"]
    assert (tally.passed, tally.failed, tally.defects) == (0, 1, {"performance_below_standard": 1})
    assert view.quality_total().pass_rate == 0.0


def test_rates_count_what_was_written_not_what_was_read() -> None:
    meter = RateMeter(window_s=5.0)
    meter.add(0.0, {("a", 0): 100})  # partition a[1] not known yet at the first snapshot
    assert meter.rate("a") is None
    meter.add(2.0, {("a", 0): 120, ("a", 1): 5000})
    assert meter.rate("a") == pytest.approx(10.0)  # only a[0] is in both snapshots
    meter.add(4.0, {("a", 0): 140, ("a", 1): 5010})
    assert meter.totals() == {"a": 5150}
    for t in (6.0, 8.0, 10.0):
        meter.add(t, {("a", 0): 140, ("a", 1): 5010})
    assert meter.rate("a") == 0.0  # the window slid past the growth
    assert meter.rate("missing") is None


def test_the_monitor_renders_every_panel() -> None:
    view = FactoryView()
    view.apply(_telemetry("FRAME_MACHINE_01", s.MachineStatus.ERROR, T0))
    view.apply(_update("circuit_board", 1, 0, T0))
    view.apply(_order("ORDER_A", 4))
    for event in sample_events():
        view.apply(event)
    meter = RateMeter()
    meter.add(0.0, {("component-production", 0): 10})
    meter.add(1.0, {("component-production", 0): 25})
    frame = MonitorFrame(
        view,
        meter,
        lags=[
            GroupLag("quality-control", 42, {"widget-assembly": 42}, True),
            GroupLag("machine-telemetry", 0, {}, False),
        ],
        topics=["component-production"],
        where="on 127.0.0.1:1",
        machine_order=["FRAME_MACHINE_01"],
    )
    console = Console(width=160, record=True, color_system=None)
    console.print(render(frame))
    text = console.export_text()
    for expected in (
        "simulated 2026-11-25 08:00:00 UTC",
        "FRAME_MACHINE_01",
        "error",
        "circuit_board",
        "orders waiting",
        "component-production",
        "15.0",
        "quality-control",
        "42",
        "nothing committed yet",
        "Machine PCB_ASSEMBLER_01 in ERROR state",
        "basic_widget",
    ):
        assert expected in text, expected
