"""Demand sized to capacity, due dates and late orders; flawed components traced from the
machine that made them through assembly."""

from __future__ import annotations

import random

import msgspec
import pytest

from tests.unit.test_assembly import START, Maker, planner, run_until
from widget_factory.core.capacity import (
    availability,
    capacity,
    order_interval_for,
    order_mix,
    utilisation,
)
from widget_factory.core.clock import to_datetime
from widget_factory.core.ids import IdSource
from widget_factory.core.orders import OrderGenerator, lead_time
from widget_factory.core.production import ComponentProduction
from widget_factory.factory_config import FactoryConfig, StationSpec, default_config
from widget_factory.schemas import ComponentProduced, MachineStatus, ProductionOrder

CONFIG = default_config()
HOUR = 3600.0


def _with_simulation(config: FactoryConfig, **changes: object) -> FactoryConfig:
    return msgspec.structs.replace(
        config, simulation=msgspec.structs.replace(config.simulation, **changes)
    )


# --- capacity and the order rate -------------------------------------------------------


def test_availability_counts_breakdowns_repairs_and_maintenance() -> None:
    # Half-worn (0.4): 0.05 * (1 + 4 * 0.4) = 0.13 breakdowns an hour, 1200 s each;
    # maintenance (1350 s) every 0.8 / 0.06 = 13.3 running hours.
    down = 0.13 * 1200 / HOUR + 1350 / HOUR / (0.8 / 0.06)
    assert availability(CONFIG) == pytest.approx(1 / (1 + down))
    perfect = msgspec.structs.replace(
        CONFIG,
        telemetry=msgspec.structs.replace(
            CONFIG.telemetry, error_rate_per_hour=0.0, wear_per_hour=0.0
        ),
    )
    assert availability(perfect) == 1.0


def test_the_sensor_machine_is_the_reference_factorys_bottleneck() -> None:
    up = availability(CONFIG)
    cap = capacity(CONFIG)
    assert order_mix(CONFIG) == {t: 0.25 for t in CONFIG.widget_types}
    # One sensor machine, 360 s mean cycle + 2% x 600 s stoppages; half the mix needs one.
    assert cap.components["sensor"] == pytest.approx(HOUR / 372 * up / 0.5)
    # Two circuit-board machines at 210 s; every widget needs one.
    assert cap.components["circuit_board"] == pytest.approx(2 * HOUR / 222 * up)
    # Three stations; the mix's mean assembly time is (300 + 450 + 600 + 540) / 4 s, and
    # the stations can share it out evenly.
    assert cap.stations == pytest.approx(3 * HOUR * up / 472.5)
    assert cap.bottleneck == "sensor"
    assert cap.widgets_per_hour == pytest.approx(18.06, abs=0.01)


def test_stations_that_build_only_one_type_bound_the_mix_by_that_type() -> None:
    stations = [
        StationSpec("ASSEMBLY_STATION_A", ["industrial_widget"], CONFIG.stations[0].location),
        StationSpec(
            "ASSEMBLY_STATION_B",
            ["basic_widget", "premium_widget", "smart_widget"],
            CONFIG.stations[1].location,
        ),
        StationSpec(
            "ASSEMBLY_STATION_C",
            ["basic_widget", "premium_widget", "smart_widget"],
            CONFIG.stations[2].location,
        ),
    ]
    config = msgspec.structs.replace(CONFIG, stations=stations)
    up = availability(config)
    # Station A alone builds industrial widgets (a quarter of the mix, 600 s each): at most
    # 4 * 3600 / 600 = 24 an hour; the other two share 3/4 x 430 s: 2 * 3600 / 322.5 = 22.3.
    assert capacity(config).stations == pytest.approx(min(24.0, 2 * HOUR / 322.5) * up)


def test_the_order_interval_for_a_target_utilisation_gives_that_utilisation() -> None:
    for target in (0.5, 0.85, 1.0):
        interval = order_interval_for(CONFIG, target)
        assert utilisation(_with_simulation(CONFIG, order_interval_s=interval)) == pytest.approx(
            target
        )
    # 2.5 units an order at 85% of ~18.06 an hour: an order every ~586 s.
    assert order_interval_for(CONFIG, 0.85) == pytest.approx(2.5 * HOUR / (0.85 * 18.064), rel=1e-3)
    with pytest.raises(ValueError):
        order_interval_for(CONFIG, 0.0)


def test_shipped_demand_keeps_the_factory_busy_but_not_overrun() -> None:
    assert 0.8 <= utilisation(CONFIG) <= 0.9
    # The walkthrough's one order of 1-5 units per 100 s would ask far beyond capacity.
    walkthrough = _with_simulation(CONFIG, order_interval_s=100.0, order_quantity=(1, 5))
    assert utilisation(walkthrough) > 5


# --- due dates and late orders -----------------------------------------------------------


def test_every_generated_order_is_due_its_assembly_time_plus_the_slack() -> None:
    generator = OrderGenerator(CONFIG, random.Random(4), IdSource(random.Random(5)), START)
    orders = generator.initial_orders(START) + generator.orders_until(START + 2 * 86400)
    assert len(orders) > 200
    slack = CONFIG.simulation.order_slack_s
    for order in orders:
        assert order.due_at is not None
        lead = order.due_at.timestamp() - order.created_at.timestamp()
        assert lead == pytest.approx(
            order.quantity * CONFIG.widget_types[order.widget_type].assembly_time_s + slack
        )
        assert lead == pytest.approx(lead_time(CONFIG, order.widget_type, order.quantity))
    # Units ordered per hour: the configured demand, 2.5 units every 600 s.
    units = sum(o.quantity for o in orders[len(CONFIG.assembly.initial_orders) :])
    assert units / 48 == pytest.approx(15.0, rel=0.15)


def _due_order(maker: Maker, widget_type: str, quantity: int, due_in: float) -> ProductionOrder:
    order = maker.order(widget_type, quantity, 1)
    return msgspec.structs.replace(order, due_at=to_datetime(START + due_in))


def test_an_order_completed_after_its_due_date_is_counted_late() -> None:
    p, maker = planner(), Maker()
    on_time = _due_order(maker, "basic_widget", 1, due_in=3 * HOUR)
    late = _due_order(maker, "premium_widget", 2, due_in=600.0)  # 2 x 450 s cannot fit
    undated = maker.order("basic_widget", 1, 1)
    for order in (on_time, late, undated):
        assert p.add_order(order)
    for _ in range(3):  # plenty: whichever station each component goes to
        for widget_type in ("basic_widget", "premium_widget", "premium_widget", "basic_widget"):
            for component in maker.kit(widget_type):
                p.receive_component(component)
    run_until(p, START + 4 * HOUR)
    assert sorted(p.orders_completed) == sorted(o.order_id for o in (on_time, late, undated))
    assert p.late_orders == 1
    (missed,) = p.orders_late
    assert missed.order_id == late.order_id
    assert missed.due_at == START + 600.0
    assert missed.late_by == pytest.approx(missed.completed_at - START - 600.0)
    assert missed.late_by > 0
    # The due date survives the changelog: a replayed planner knows it too.
    changes = p.take_changes()
    stored = msgspec.json.decode(msgspec.json.encode(changes), type=type(changes))
    assert {o.order_id: o.due_at for o in stored.orders}[late.order_id] == START + 600.0


# --- flawed components: made after a repair, carried into the widget --------------------


def test_a_machine_back_from_a_repair_makes_degraded_parts_first() -> None:
    production = ComponentProduction(CONFIG, random.Random(3), IdSource(random.Random(4)), START)
    before = production.produce_until(START + HOUR)
    assert before and not any(c.made_while_degraded for c in before)
    production.set_status("SENSOR_CALIB_01", MachineStatus.ERROR, START + HOUR)
    production.set_status("SENSOR_CALIB_01", MachineStatus.RUNNING, START + 2 * HOUR)
    # Maintenance (not a repair) leaves the next parts healthy.
    production.set_status("PCB_ASSEMBLER_01", MachineStatus.MAINTENANCE, START + HOUR)
    production.set_status("PCB_ASSEMBLER_01", MachineStatus.RUNNING, START + 2 * HOUR)
    after = production.produce_until(START + 6 * HOUR)
    sensors = [c for c in after if c.machine_id == "SENSOR_CALIB_01"]
    n = CONFIG.simulation.degraded_after_repair
    assert [c.made_while_degraded for c in sensors[: n + 2]] == [True] * n + [False] * 2
    assert sum(c.made_while_degraded for c in after) == n


def test_assembly_carries_each_flawed_component_and_its_machine_into_the_widget() -> None:
    p, maker = planner(), Maker()
    p.add_order(maker.order("basic_widget", 1, 1))
    kit: list[ComponentProduced] = maker.kit("basic_widget")
    frame, housing, board = kit
    housing = msgspec.structs.replace(
        housing,
        machine_id="PLASTIC_MOLD_02",
        quality_metrics=msgspec.structs.replace(housing.quality_metrics, defect_count=2),
    )
    board = msgspec.structs.replace(board, machine_id="PCB_ASSEMBLER_01", made_while_degraded=True)
    for component in (frame, housing, board):
        p.receive_component(component)
    (build,) = run_until(p, START + HOUR)
    widget = build.widget
    assert widget.component_defects == 2
    flaws = {f.component_id: f for f in widget.component_flaws}
    assert set(flaws) == {housing.component_id, board.component_id}  # the clean frame is left out
    assert (flaws[housing.component_id].machine_id, flaws[housing.component_id].defect_count) == (
        "PLASTIC_MOLD_02",
        2,
    )
    assert flaws[board.component_id].made_while_degraded
    assert flaws[board.component_id].machine_id == "PCB_ASSEMBLER_01"


def test_a_component_failing_as_an_unknown_defect_is_refused_by_name() -> None:
    import tomllib
    from importlib import resources

    from widget_factory.errors import ConfigError
    from widget_factory.factory_config import parse_config

    data = tomllib.loads(resources.files("widget_factory").joinpath("factory.toml").read_text())
    data["component_types"]["sensor"]["fails_as"] = ["rust"]
    with pytest.raises(ConfigError, match=r"component_types\.sensor\.fails_as: 'rust'"):
        parse_config(data)
