"""Kanban: limits derived from demand, the board's orders, and a simulated week of
production following a consumer with a demand spike."""

from __future__ import annotations

import random
from collections import deque
from datetime import UTC, datetime

import pytest

from tests.unit.test_factory_config import _reference
from widget_factory.core.ids import IdSource
from widget_factory.core.kanban import (
    KanbanBoard,
    KanbanLimit,
    component_type_of,
    expected_hourly_use,
    kanban_limits,
)
from widget_factory.core.machines import MachineFleet
from widget_factory.core.production import ComponentProduction
from widget_factory.errors import ConfigError
from widget_factory.factory_config import FactoryConfig, default_config, parse_config
from widget_factory.schemas import MachineStatus

START = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
HOUR = 3600.0


def test_expected_use_follows_orders_and_recipes() -> None:
    use = expected_hourly_use(default_config())
    # 6 orders an hour of 2.5 widgets on average (1-4 units), of 4 buildable types
    assert use["metal_frame"] == pytest.approx(15.0)
    assert use["circuit_board"] == pytest.approx(15.0)
    assert use["battery"] == pytest.approx(11.25)
    assert use["display_screen"] == pytest.approx(7.5)
    assert use["sensor"] == pytest.approx(7.5)
    assert use["motor"] == pytest.approx(3.75)


def test_reference_limits_hold_hours_of_use() -> None:
    limits = kanban_limits(default_config())
    assert limits["metal_frame"] == KanbanLimit(60, 30, pytest.approx(15.0))
    assert (limits["motor"].ceiling, limits["motor"].reorder) == (15, 8)
    for limit in limits.values():
        assert 0 <= limit.reorder < limit.ceiling


def test_fixed_limits_and_the_minimum_ceiling() -> None:
    data = _reference()
    data["kanban"] = {"min_ceiling": 30, "limits": {"sensor": {"ceiling": 5, "reorder": 2}}}
    limits = kanban_limits(parse_config(data))
    assert limits["sensor"] == KanbanLimit(5, 2)
    assert limits["motor"].ceiling == 30 and limits["motor"].reorder == 15


@pytest.mark.parametrize(
    ("kanban", "message"),
    [
        ({"reorder_hours": 5.0}, "kanban.reorder_hours"),
        ({"limits": {"unobtainium": {"ceiling": 5, "reorder": 2}}}, "kanban.limits.unobtainium"),
        ({"limits": {"sensor": {"ceiling": 5, "reorder": 5}}}, "kanban.limits.sensor.reorder"),
    ],
)
def test_bad_kanban_settings_are_named(kanban: dict, message: str) -> None:
    data = _reference()
    data["kanban"] = kanban
    with pytest.raises(ConfigError, match=message):
        parse_config(data)


def test_component_type_is_read_from_the_id() -> None:
    assert component_type_of("COMP_METAL_FRAME_0000002a") == "metal_frame"
    assert component_type_of("COMP_SENSOR_00000001") == "sensor"
    assert component_type_of("WIDGET_BASIC_WIDGET_00000001") is None
    assert component_type_of("COMP_") is None


def test_board_orders_up_to_the_ceiling_at_the_reorder_point() -> None:
    board = KanbanBoard({"sensor": KanbanLimit(10, 4)})
    assert board.order("sensor", 0) == 10  # empty: fill up
    for i in range(10):
        board.produced("sensor", f"S{i}")
    assert board.stock("sensor") == 10
    assert board.order("sensor", 0) == 0
    assert board.consumed(["S0", "S1", "S2", "S3", "S4", "OTHER"]) == 5
    assert board.order("sensor", 0) == 0  # 5 left: above the reorder point
    board.consumed(["S5"])
    assert board.order("sensor", 0) == 6  # 4 left: order up to 10
    assert board.order("sensor", 6) == 0  # already on order
    assert board.orders({"sensor": 0}) == {"sensor": 6}


def test_a_machine_without_allowance_parks_and_restarts_when_allowed() -> None:
    config = default_config()
    rng = random.Random(3)
    production = ComponentProduction(config, rng, IdSource(rng), START)
    for component_type in config.component_types:
        production.allow(component_type, 0 if component_type == "sensor" else 5, START)
    events = production.produce_until(START + 10 * HOUR)
    made = {t: sum(1 for e in events if e.component_type == t) for t in config.component_types}
    assert made["sensor"] == 0 and made["metal_frame"] == 5 and made["motor"] == 5
    holds = production.drain_holds()
    assert {h.machine_id for h in holds} == {m.id for m in config.machines}
    assert all(h.held for h in holds)
    released = production.allow("sensor", 3, START + 10 * HOUR)
    assert released == ["SENSOR_CALIB_01"]
    later = production.produce_until(START + 20 * HOUR)
    sensors = [e for e in later if e.component_type == "sensor"]
    assert len(sensors) == 3
    assert sensors[0].produced_at.timestamp() >= START + 10 * HOUR + 0.8 * 300
    assert [h.held for h in production.drain_holds()] == [False, True]


def test_a_parked_machine_that_breaks_comes_back_through_its_status() -> None:
    config = default_config()
    rng = random.Random(4)
    production = ComponentProduction(config, rng, IdSource(rng), START)
    production.allow("motor", 0, START)
    production.produce_until(START + HOUR)
    production.set_status("MOTOR_ASSEMBLY_01", MachineStatus.ERROR, START + HOUR)
    production.allow("motor", 2, START + 2 * HOUR)  # still down: nothing yet
    assert not [
        e for e in production.produce_until(START + 3 * HOUR) if e.component_type == "motor"
    ]
    production.set_status("MOTOR_ASSEMBLY_01", MachineStatus.RUNNING, START + 3 * HOUR)
    motors = [e for e in production.produce_until(START + 6 * HOUR) if e.component_type == "motor"]
    assert len(motors) == 2
    assert motors[0].produced_at.timestamp() > START + 3 * HOUR


def _week(config: FactoryConfig, seed: int) -> dict[str, object]:
    """A week of production under kanban, consumed by a simple line: widgets ordered at the
    config's demand (plus a spike of 80 basic widgets on day 3), each built as soon as its
    components are in stock, at most three per 5-minute step (three stations)."""
    rng = random.Random(seed)
    production = ComponentProduction(config, rng, IdSource(rng), START)
    limits = kanban_limits(config)
    board = KanbanBoard(limits)
    for component_type in limits:
        production.allow(component_type, 0, START)
    stock: dict[str, deque[str]] = {t: deque() for t in limits}
    buildable = sorted({w for s in config.stations for w in s.builds})
    waiting: deque[str] = deque()
    step = 300.0
    sim = config.simulation
    idle_at_zero = over_ceiling = 0
    lowest = dict.fromkeys(limits, 10**9)
    spike_at = START + 3 * 24 * HOUR
    after_spike_low: dict[str, int] = {}
    t = START
    while t < START + 7 * 24 * HOUR:
        t += step
        for event in production.produce_until(t):
            board.produced(event.component_type, event.component_id)
            stock[event.component_type].append(event.component_id)
        if rng.random() < step / sim.order_interval_s:
            widget_type = rng.choice(buildable)
            waiting.extend([widget_type] * rng.randint(*sim.order_quantity))
        if spike_at <= t < spike_at + step:
            waiting.extend(["basic_widget"] * 80)
        built = 0
        while waiting and built < 3:
            recipe = config.widget_types[waiting[0]].recipe
            if any(not stock[c] for c in recipe):
                break
            board.consumed([stock[c].popleft() for c in recipe])
            waiting.popleft()
            built += 1
        allowed = {c: production.allowance(c) for c in limits}
        for component_type, units in board.orders(allowed).items():
            production.allow(component_type, allowed[component_type] + units, t)
        for component_type, limit in limits.items():
            level = board.stock(component_type)
            assert level == len(stock[component_type])
            lowest[component_type] = min(lowest[component_type], level)
            if t > spike_at:
                after_spike_low[component_type] = min(
                    after_spike_low.get(component_type, level), level
                )
            over_ceiling += level > limit.ceiling
            needed = any(component_type in config.widget_types[w].recipe for w in waiting)
            if needed and level == 0 and production.allowance(component_type) <= 0:
                idle_at_zero += 1  # parked by kanban while a widget waits for it
    return {
        "over_ceiling": over_ceiling,
        "idle_at_zero": idle_at_zero,
        "lowest": lowest,
        "after_spike_low": after_spike_low,
        "final": {c: board.stock(c) for c in limits},
        "limits": limits,
        "waiting": len(waiting),
    }


@pytest.mark.parametrize("seed", [1, 2])
def test_a_week_stays_within_the_ceilings_and_never_idles_at_zero(seed: int) -> None:
    week = _week(default_config(), seed)
    assert week["over_ceiling"] == 0
    assert week["idle_at_zero"] == 0
    limits = week["limits"]
    assert isinstance(limits, dict)
    # the spike drains circuit boards below the reorder point, and they refill
    assert week["after_spike_low"]["circuit_board"] < limits["circuit_board"].reorder
    assert week["final"]["circuit_board"] > 0
    assert week["waiting"] < 40  # the line keeps up with demand after the spike


def test_without_kanban_stock_piles_up() -> None:
    """The contrast the kanban fixes: machines running flat out fill the store."""
    config = default_config()
    rng = random.Random(1)
    production = ComponentProduction(config, rng, IdSource(rng), START)
    events = production.produce_until(START + 24 * HOUR)
    frames = sum(1 for e in events if e.component_type == "metal_frame")
    assert frames > 10 * kanban_limits(config)["metal_frame"].ceiling


def test_telemetry_shows_a_held_machine_idle_until_released() -> None:
    config = default_config()
    rng = random.Random(8)
    fleet = MachineFleet(config, rng, IdSource(rng), START)
    report, change = fleet.hold("MOTOR_ASSEMBLY_01", START + 10)
    assert report.status is MachineStatus.IDLE
    assert change is not None and change.reason == "kanban hold"
    reports, _ = fleet.report_until(START + 120)
    assert {r.status for r in reports if r.machine_id == "MOTOR_ASSEMBLY_01"} == {
        MachineStatus.IDLE
    }
    # a breakdown of a held machine ends in IDLE, not RUNNING
    fleet.inject_anomaly("MOTOR_ASSEMBLY_01", START + 130)
    reports, _ = fleet.report_until(START + 4 * HOUR)
    motor = [r.status for r in reports if r.machine_id == "MOTOR_ASSEMBLY_01"]
    assert MachineStatus.RUNNING not in motor and motor[-1] is MachineStatus.IDLE
    assert fleet.status("MOTOR_ASSEMBLY_01") is MachineStatus.IDLE
    report, change = fleet.release("MOTOR_ASSEMBLY_01", START + 4 * HOUR + 1)
    assert report.status is MachineStatus.RUNNING
    assert change is not None and change.reason == "kanban release"
    # releasing a machine that is not idle changes nothing
    fleet.stop("FRAME_MACHINE_01", START + 4 * HOUR + 2)
    assert fleet.release("FRAME_MACHINE_01", START + 4 * HOUR + 3)[1] is None
    assert fleet.status("FRAME_MACHINE_01") is MachineStatus.SHUTDOWN
