"""The inventory ledger: exact movements, out-of-order and duplicate input, restarts."""

from __future__ import annotations

import random
import uuid
from collections.abc import Hashable, Iterable

import pytest

from widget_factory.core.clock import to_datetime
from widget_factory.core.ledger import (
    InventoryLedger,
    component_type_of,
    movement_event_id,
)
from widget_factory.schemas import (
    ComponentProduced,
    Dimensions,
    InventoryUpdate,
    QualityCheck,
    QualityMetrics,
    QualityStatus,
    WidgetAssembled,
)
from widget_factory.schemas import (
    TestResults as Results,
)

T0 = 1_795_000_000.0
WAREHOUSE = "WAREHOUSE_MAIN"
BASIC = ("metal_frame", "plastic_housing", "circuit_board")

_ids = random.Random(7)


def _event_id() -> str:
    return str(uuid.UUID(int=_ids.getrandbits(128), version=4))


def comp_id(component_type: str, n: int) -> str:
    return f"COMP_{component_type.upper()}_{n:08x}"


def produced(
    component_id: str, t: float = T0, batch: str = "BATCH_20261125_0800_0001"
) -> ComponentProduced:
    return ComponentProduced(
        event_id=_event_id(),
        component_id=component_id,
        component_type=component_type_of(component_id),
        machine_id="FRAME_MACHINE_01",
        batch_id=batch,
        produced_at=to_datetime(t),
        quality_metrics=QualityMetrics(150.0, Dimensions(100.0, 50.0, 25.0), 22.0, 0),
        production_line="LINE_A",
    )


def assembled(
    widget_id: str,
    component_ids: Iterable[str],
    widget_type: str = "basic_widget",
    t: float = T0 + 300,
) -> WidgetAssembled:
    return WidgetAssembled(
        event_id=_event_id(),
        widget_id=widget_id,
        widget_type=widget_type,
        assembly_station_id="ASSEMBLY_STATION_A",
        component_ids=list(component_ids),
        assembly_started_at=to_datetime(t - 300),
        assembly_completed_at=to_datetime(t),
        assembly_duration_seconds=300.0,
        worker_id="WORKER_001",
        batch_id="ASSEMBLY_BATCH_1",
    )


def checked(
    widget_id: str, fail: bool, widget_type: str = "basic_widget", t: float = T0 + 400
) -> QualityCheck:
    return QualityCheck(
        event_id=_event_id(),
        check_id=f"QC_{widget_id[-8:].upper()}",
        widget_id=widget_id,
        widget_type=widget_type,
        inspector_id="QC_INSPECTOR_A",
        checked_at=to_datetime(t),
        status=QualityStatus.FAIL if fail else QualityStatus.PASS,
        test_results=Results(True, True, not fail, 80.0),
        defects_found=["visual_defect"] if fail else [],
    )


def basic_parts(n: int) -> list[str]:
    return [comp_id(t, n) for t in BASIC]


Event = ComponentProduced | WidgetAssembled | QualityCheck


def feed(ledger: InventoryLedger, event: Event, source: Hashable = None) -> list[InventoryUpdate]:
    if isinstance(event, ComponentProduced):
        return ledger.on_component(event, source)
    if isinstance(event, WidgetAssembled):
        return ledger.on_widget(event, source)
    return ledger.on_quality(event, source)


def feed_all(ledger: InventoryLedger, events: Iterable[Event]) -> list[InventoryUpdate]:
    out: list[InventoryUpdate] = []
    for offset, event in enumerate(events):
        out.extend(feed(ledger, event, ("topic", 0, offset)))
    return out


def assert_chain(
    updates: Iterable[InventoryUpdate], start: dict[str, int] | None = None
) -> dict[str, int]:
    """Every update's current_stock is the previous of its sku plus its change, >= 0."""
    stock = dict(start or {})
    for update in updates:
        expected = stock.get(update.sku, 0) + update.quantity_change
        assert update.current_stock == expected, update
        assert update.current_stock >= 0, update
        stock[update.sku] = update.current_stock
    return stock


def rows(updates: Iterable[InventoryUpdate]) -> list[tuple[str, str, int, int, str]]:
    return [(u.sku, u.item_id, u.quantity_change, u.current_stock, u.reason) for u in updates]


def factory_run(widgets: int, seed: int = 1) -> list[Event]:
    """An in-order stream: components, then widgets of them, then their checks."""
    rng = random.Random(seed)
    events: list[Event] = []
    for n in range(widgets):
        parts = basic_parts(n)
        events.extend(produced(c, T0 + n) for c in parts)
        widget_id = f"WIDGET_BASIC_WIDGET_{n:08x}"
        events.append(assembled(widget_id, parts, t=T0 + n + 300))
        events.append(checked(widget_id, fail=rng.random() < 0.3, t=T0 + n + 400))
    events.extend(produced(comp_id("battery", n), T0 + n) for n in range(widgets // 3))
    return events


# --- movements --------------------------------------------------------------------------


def test_production_assembly_and_reject_move_stock_one_unit_at_a_time() -> None:
    ledger = InventoryLedger(WAREHOUSE)
    parts = basic_parts(1)
    frame = parts[0]
    out = ledger.on_component(produced(frame))
    assert rows(out) == [("metal_frame", frame, 1, 1, "production")]
    update = out[0]
    assert update.item_type == "component"
    assert update.warehouse_location == WAREHOUSE
    assert update.batch_id == "BATCH_20261125_0800_0001"
    assert update.updated_at == to_datetime(T0)
    assert ledger.on_component(produced(comp_id("metal_frame", 2)))[0].current_stock == 2
    for part in parts[1:]:
        ledger.on_component(produced(part))

    out = ledger.on_widget(assembled("WIDGET_BASIC_WIDGET_00000001", parts))
    assert rows(out) == [
        ("metal_frame", parts[0], -1, 1, "assembly_consumption"),
        ("plastic_housing", parts[1], -1, 0, "assembly_consumption"),
        ("circuit_board", parts[2], -1, 0, "assembly_consumption"),
        ("basic_widget", "WIDGET_BASIC_WIDGET_00000001", 1, 1, "assembly"),
    ]
    assert {u.batch_id for u in out} == {"ASSEMBLY_BATCH_1"}
    assert {u.updated_at for u in out} == {to_datetime(T0 + 300)}
    assert [u.item_type for u in out] == ["component"] * 3 + ["widget"]

    assert ledger.on_quality(checked("WIDGET_BASIC_WIDGET_00000001", fail=False)) == []
    out = ledger.on_quality(checked("WIDGET_BASIC_WIDGET_00000001", fail=True))
    assert rows(out) == [("basic_widget", "WIDGET_BASIC_WIDGET_00000001", -1, 0, "quality_reject")]
    assert out[0].batch_id == "QC_00000001"
    assert out[0].updated_at == to_datetime(T0 + 400)
    assert ledger.stock() == {
        "metal_frame": 1,
        "plastic_housing": 0,
        "circuit_board": 0,
        "basic_widget": 0,
    }


def test_component_type_comes_from_the_component_id() -> None:
    assert component_type_of("COMP_METAL_FRAME_a1b2c3d4") == "metal_frame"
    assert component_type_of("COMP_SENSOR_00000000") == "sensor"
    for bad in ("WIDGET_BASIC_WIDGET_a1b2c3d4", "COMP_a1b2c3d4", "COMP__a1b2c3d4", "metal_frame"):
        with pytest.raises(ValueError, match="COMP_<TYPE>_<hex>"):
            component_type_of(bad)


def test_event_ids_are_one_per_item_and_reason_and_reproducible() -> None:
    events = factory_run(30)
    first = feed_all(InventoryLedger(WAREHOUSE), events)
    second = feed_all(InventoryLedger(WAREHOUSE), events)
    assert [u.event_id for u in first] == [u.event_id for u in second]
    assert all(u.event_id == movement_event_id(u.item_id, u.reason) for u in first)
    assert len({u.event_id for u in first}) == len(first)
    uuid.UUID(first[0].event_id)


# --- order and duplicates ---------------------------------------------------------------


def test_a_widget_before_its_components_waits_and_holds_its_source() -> None:
    parts = basic_parts(5)
    widget = assembled("WIDGET_BASIC_WIDGET_00000005", parts)
    in_order = InventoryLedger(WAREHOUSE)
    feed_all(in_order, [*(produced(p) for p in parts), widget])

    ledger = InventoryLedger(WAREHOUSE)
    source = ("widget-assembly", 1, 42)
    out = ledger.on_widget(widget, source)
    assert rows(out) == [("basic_widget", widget.widget_id, 1, 1, "assembly")]
    assert ledger.deferred == 3
    assert ledger.pending_sources() == {source}
    updates = list(out)
    for n, part in enumerate(parts):
        out = ledger.on_component(produced(part), ("component-production", 0, n))
        sku = component_type_of(part)
        assert rows(out) == [
            (sku, part, 1, 1, "production"),
            (sku, part, -1, 0, "assembly_consumption"),
        ]
        assert out[1].batch_id == widget.batch_id
        assert out[1].updated_at == widget.assembly_completed_at
        updates.extend(out)
        assert ledger.pending_sources() == ({source} if n < 2 else set())
    assert ledger.deferred == 0
    assert_chain(updates)
    assert ledger.stock() == in_order.stock()


def test_a_failed_check_before_its_widget_waits_for_it() -> None:
    parts = basic_parts(6)
    widget = assembled("WIDGET_BASIC_WIDGET_00000006", parts)
    check = checked(widget.widget_id, fail=True)
    events: list[Event] = [*(produced(p) for p in parts), widget, check]
    in_order = InventoryLedger(WAREHOUSE)
    feed_all(in_order, events)

    ledger = InventoryLedger(WAREHOUSE)
    source = ("quality-control", 2, 7)
    assert ledger.on_quality(check, source) == []
    assert ledger.pending_sources() == {source}
    assert ledger.deferred == 1
    feed_all(ledger, events[:3])
    assert ledger.pending_sources() == {source}
    out = ledger.on_widget(widget, ("widget-assembly", 0, 0))
    assert [u.reason for u in out][-2:] == ["assembly", "quality_reject"]
    assert out[-1].batch_id == check.check_id
    assert ledger.pending_sources() == set()
    assert (
        ledger.stock()
        == in_order.stock()
        == {
            "metal_frame": 0,
            "plastic_housing": 0,
            "circuit_board": 0,
            "basic_widget": 0,
        }
    )


def test_any_order_with_duplicates_gives_the_same_stock_and_a_valid_chain() -> None:
    events = factory_run(300)
    expected = InventoryLedger(WAREHOUSE)
    assert_chain(feed_all(expected, events))
    assert expected.stock()["basic_widget"] > 0
    assert expected.stock()["battery"] == 100

    for seed in range(5):
        rng = random.Random(seed)
        shuffled = events + rng.sample(events, len(events) // 4)  # a quarter redelivered
        rng.shuffle(shuffled)
        ledger = InventoryLedger(WAREHOUSE)
        updates = feed_all(ledger, shuffled)
        assert_chain(updates)
        assert ledger.stock() == expected.stock()
        assert ledger.pending_sources() == set()
        assert ledger.deferred == 0
        assert ledger.conflicts == []
        assert len(updates) == len({u.event_id for u in updates})


def test_the_same_event_or_movement_twice_is_counted_once() -> None:
    parts = basic_parts(9)
    widget = assembled("WIDGET_BASIC_WIDGET_00000009", parts)
    ledger = InventoryLedger(WAREHOUSE)
    component = produced(parts[0])
    assert len(ledger.on_component(component)) == 1
    assert ledger.on_component(component) == []  # same event_id
    assert ledger.on_component(produced(parts[0])) == []  # same component, new event_id
    for part in parts[1:]:
        ledger.on_component(produced(part))
    assert len(ledger.on_widget(widget)) == 4
    stock = ledger.stock()
    assert ledger.on_widget(widget) == []
    assert ledger.on_widget(assembled(widget.widget_id, parts)) == []  # re-sent, new event_id
    fail = checked(widget.widget_id, fail=True)
    assert len(ledger.on_quality(fail)) == 1
    assert ledger.on_quality(fail) == []
    assert ledger.on_quality(checked(widget.widget_id, fail=True)) == []
    stock["basic_widget"] -= 1
    assert ledger.stock() == stock
    assert ledger.duplicates == 9  # 2 events + 3 movements, each counted once
    assert ledger.conflicts == []


def test_a_duplicate_widget_while_its_components_are_awaited_consumes_them_once() -> None:
    parts = basic_parts(3)
    ledger = InventoryLedger(WAREHOUSE)
    ledger.on_widget(assembled("WIDGET_BASIC_WIDGET_00000003", parts), "first")
    assert ledger.on_widget(assembled("WIDGET_BASIC_WIDGET_00000003", parts), "second") == []
    assert ledger.pending_sources() == {"first"}
    updates = [u for p in parts for u in ledger.on_component(produced(p))]
    assert [u.quantity_change for u in updates] == [1, -1] * 3
    assert ledger.stock() == {"basic_widget": 1, **dict.fromkeys(BASIC, 0)}
    assert ledger.pending_sources() == set()


# --- conflicts --------------------------------------------------------------------------


def test_a_component_in_two_widgets_is_consumed_once_and_reported() -> None:
    parts = basic_parts(1)
    ledger = InventoryLedger(WAREHOUSE)
    updates = feed_all(ledger, [produced(p) for p in parts])
    updates += ledger.on_widget(assembled("WIDGET_BASIC_WIDGET_00000001", parts))
    other = [parts[0], comp_id("plastic_housing", 2), comp_id("circuit_board", 2)]
    updates += feed_all(ledger, [produced(p) for p in other[1:]])
    out = ledger.on_widget(assembled("WIDGET_BASIC_WIDGET_00000002", other))
    assert [u.item_id for u in out] == [*other[1:], "WIDGET_BASIC_WIDGET_00000002"]
    assert_chain(updates + out)
    assert len(ledger.conflicts) == 1
    assert parts[0] in ledger.conflicts[0] and "WIDGET_BASIC_WIDGET_00000001" in ledger.conflicts[0]
    assert ledger.stock()["metal_frame"] == 0
    assert ledger.stock()["basic_widget"] == 2
    assert ledger.take_conflicts() != [] and ledger.conflicts == []


def test_two_widgets_awaiting_the_same_component_consume_it_once() -> None:
    ledger = InventoryLedger(WAREHOUSE)
    frame = comp_id("metal_frame", 1)
    ledger.on_widget(assembled("WIDGET_BASIC_WIDGET_00000001", [frame]), "a")
    ledger.on_widget(assembled("WIDGET_BASIC_WIDGET_00000002", [frame]), "b")
    assert ledger.pending_sources() == {"a"}
    assert "already claimed by WIDGET_BASIC_WIDGET_00000001" in ledger.conflicts[0]
    out = ledger.on_component(produced(frame))
    assert rows(out) == [
        ("metal_frame", frame, 1, 1, "production"),
        ("metal_frame", frame, -1, 0, "assembly_consumption"),
    ]
    assert ledger.pending_sources() == set()


def test_movements_that_never_resolve_can_be_given_up() -> None:
    ledger = InventoryLedger(WAREHOUSE)
    ledger.on_widget(assembled("WIDGET_BASIC_WIDGET_00000001", basic_parts(1), t=T0), "old")
    ledger.on_quality(checked("WIDGET_BASIC_WIDGET_00000077", fail=True, t=T0 + 5000), "new")
    assert ledger.pending_sources() == {"old", "new"}
    messages = ledger.expire_deferred(T0 + 1000)
    assert len(messages) == 3 and all("never entered stock" in m for m in messages)
    assert ledger.pending_sources() == {"new"}
    assert ledger.deferred == 1
    # A late production is now plain stock: nothing consumes it any more.
    out = ledger.on_component(produced(basic_parts(1)[0]))
    assert [u.reason for u in out] == ["production"]


# --- restart ----------------------------------------------------------------------------


def test_restore_then_continue_matches_one_uninterrupted_run() -> None:
    events = factory_run(200, seed=3)
    random.Random(4).shuffle(events)
    whole = InventoryLedger(WAREHOUSE)
    assert_chain(feed_all(whole, events))

    first = InventoryLedger(WAREHOUSE)
    recorded = feed_all(first, events[:500])
    restarted = InventoryLedger(WAREHOUSE)
    for update in recorded:
        restarted.restore(update)
    assert restarted.stock() == first.stock()
    # Nothing was committed: the restarted service reads every input again.
    more = feed_all(restarted, events)
    assert {u.event_id for u in more}.isdisjoint(u.event_id for u in recorded)
    assert_chain(recorded + more)
    assert restarted.stock() == whole.stock()
    assert restarted.pending_sources() == set()
    assert restarted.conflicts == []
    # A replay of the whole topic (sku by sku, as its partitions keep them) gives the stock.
    replay = InventoryLedger(WAREHOUSE)
    for update in sorted(recorded + more, key=lambda u: u.sku):
        replay.restore(update)
    assert replay.stock() == whole.stock()


def test_restore_after_a_crash_in_the_middle_of_a_widgets_movements() -> None:
    parts = basic_parts(4)
    widget = assembled("WIDGET_BASIC_WIDGET_00000004", parts)
    events: list[Event] = [*(produced(p) for p in parts), widget]
    full = feed_all(InventoryLedger(WAREHOUSE), events)
    recorded = full[:-2]  # the last consumption and the widget's +1 never made it
    restarted = InventoryLedger(WAREHOUSE)
    for update in [*recorded, *recorded]:  # the topic may even hold a record twice
        restarted.restore(update)
    more = feed_all(restarted, events)
    assert [u.event_id for u in more] == [u.event_id for u in full[-2:]]
    assert_chain(recorded + more)
    assert restarted.stock() == {"basic_widget": 1, **dict.fromkeys(BASIC, 0)}


def test_restored_stock_is_authoritative() -> None:
    ledger = InventoryLedger(WAREHOUSE)
    ledger.restore(
        InventoryUpdate(
            event_id=movement_event_id(comp_id("sensor", 1), "production"),
            item_type="component",
            sku="sensor",
            item_id=comp_id("sensor", 1),
            warehouse_location=WAREHOUSE,
            quantity_change=1,
            current_stock=41,
            updated_at=to_datetime(T0),
            reason="production",
            batch_id="B",
        )
    )
    out = ledger.on_component(produced(comp_id("sensor", 2)))
    assert out[0].current_stock == 42
    assert ledger.on_component(produced(comp_id("sensor", 1))) == []


def test_memory_for_departed_units_is_bounded() -> None:
    ledger = InventoryLedger(WAREHOUSE, recent_capacity=10)
    for n in range(100):
        frame = comp_id("metal_frame", n)
        ledger.on_component(produced(frame))
        ledger.on_widget(assembled(f"WIDGET_BASIC_WIDGET_{n:08x}", [frame]))
        ledger.on_quality(checked(f"WIDGET_BASIC_WIDGET_{n:08x}", fail=True))
    assert len(ledger._consumed) == 10
    assert len(ledger._removed) == 10
    assert len(ledger._seen) == 10
    assert ledger._components == set() and ledger._widgets == {}
    # Recent departures are still recognised.
    assert ledger.on_component(produced(comp_id("metal_frame", 99))) == []
    assert ledger.stock() == {"metal_frame": 0, "basic_widget": 0}
    with pytest.raises(ValueError):
        InventoryLedger(WAREHOUSE, recent_capacity=0)
