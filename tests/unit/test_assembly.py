"""The assembly planner: recipes, priorities, one station per component, crash replay."""

from __future__ import annotations

import random
from collections import Counter

import msgspec

from tests.samples import T0
from widget_factory.core.assembly import AssemblyPlanner
from widget_factory.core.assembly_records import ChangeSet
from widget_factory.core.ids import IdSource
from widget_factory.factory_config import default_config
from widget_factory.schemas import (
    ComponentProduced,
    Dimensions,
    MachineStatus,
    ProductionOrder,
    QualityMetrics,
)

CONFIG = default_config()
START = T0.timestamp()
STATIONS = [s.id for s in CONFIG.stations]


def planner(seed: int = 1, stations: list[str] | None = None) -> AssemblyPlanner:
    rng = random.Random(seed)
    return AssemblyPlanner(CONFIG, stations or STATIONS, rng, IdSource(random.Random(seed + 1)))


class Maker:
    def __init__(self) -> None:
        self.ids = IdSource(random.Random(99))

    def component(
        self, component_type: str, at: float = START, defects: int = 0
    ) -> ComponentProduced:
        from widget_factory.core.clock import to_datetime

        return ComponentProduced(
            event_id=self.ids.event_id(),
            component_id=self.ids.component_id(component_type),
            component_type=component_type,
            machine_id="M",
            batch_id="B",
            produced_at=to_datetime(at),
            quality_metrics=QualityMetrics(1.0, Dimensions(1, 1, 1), 22.0, defects),
            production_line="LINE_A",
        )

    def order(
        self, widget_type: str, quantity: int, priority: int, at: float = START
    ) -> ProductionOrder:
        from widget_factory.core.clock import to_datetime

        return ProductionOrder(
            event_id=self.ids.event_id(),
            order_id=self.ids.order_id(),
            widget_type=widget_type,
            quantity=quantity,
            priority=priority,
            created_at=to_datetime(at),
        )

    def kit(self, widget_type: str, at: float = START) -> list[ComponentProduced]:
        return [self.component(t, at) for t in CONFIG.recipes[widget_type]]


def run_until(p: AssemblyPlanner, until: float, step: float = 10.0) -> list:
    completed = []
    t = START
    while t <= until:
        result = p.step(t)
        for build in result.completed:
            completed.append(build)
            p.delivered(build.widget.widget_id)
        t += step
    return completed


def test_a_widget_is_built_by_recipe_and_takes_its_assembly_time() -> None:
    p, make = planner(), Maker()
    p.add_order(make.order("basic_widget", 1, 2))
    kit = make.kit("basic_widget")
    for component in kit:
        p.receive_component(component)
    result = p.step(START)
    assert len(result.started) == 1
    widget = result.started[0].widget
    assert sorted(widget.component_ids) == sorted(c.component_id for c in kit)
    assert widget.widget_type == "basic_widget"
    assert 240 <= widget.assembly_duration_seconds <= 360
    assert p.step(START + 200).completed == []
    done = p.step(START + 400).completed
    assert [b.widget.widget_id for b in done] == [widget.widget_id]
    assert widget.assembly_station_id in {"ASSEMBLY_STATION_A", "ASSEMBLY_STATION_C"}


def test_each_component_goes_to_exactly_one_station_and_is_used_once() -> None:
    p, make = planner(), Maker()
    for _ in range(5):
        p.add_order(make.order("basic_widget", 4, 1))
        p.add_order(make.order("smart_widget", 2, 2))
    components = []
    for i in range(40):
        for widget_type in ("basic_widget", "smart_widget"):
            for component in make.kit(widget_type, START + i):
                components.append(component)
                p.receive_component(component)
    stocked = p.stock_levels()
    assert sum(n for levels in stocked.values() for n in levels.values()) == len(components)
    completed = run_until(p, START + 40 * 3600)
    used = Counter(cid for b in completed for cid in b.widget.component_ids)
    assert used and max(used.values()) == 1
    for build in completed:
        assert tuple(sorted(build.widget.component_ids)) == tuple(
            sorted(cid for cid in build.widget.component_ids)
        )
        types = sorted(cid[5:-9].lower() for cid in build.widget.component_ids)
        assert types == sorted(CONFIG.recipes[build.widget.widget_type])
    remaining = sum(n for levels in p.stock_levels().values() for n in levels.values())
    assert remaining + sum(used.values()) == len(components)


def test_higher_priority_orders_are_built_first() -> None:
    p, make = planner(stations=["ASSEMBLY_STATION_A"]), Maker()
    low = make.order("basic_widget", 1, 1)
    high = make.order("premium_widget", 1, 3)
    p.add_order(low)
    p.add_order(high)
    for component in make.kit("basic_widget") + make.kit("premium_widget"):
        p.receive_component(component)
    first = p.step(START).started
    assert [b.widget.order_id for b in first] == [high.order_id]


def test_a_duplicate_component_is_not_stocked_twice() -> None:
    p, make = planner(), Maker()
    component = make.component("metal_frame")
    assert p.receive_component(component) is not None
    assert p.receive_component(component) is None
    assert sum(n for levels in p.stock_levels().values() for n in levels.values()) == 1


def test_shortage_is_reported_once_not_per_step() -> None:
    p, make = planner(stations=["ASSEMBLY_STATION_A"]), Maker()
    p.add_order(make.order("basic_widget", 1, 1))
    p.receive_component(make.component("metal_frame"))
    shortages = [s for t in range(20) for s in p.step(START + t).shortages]
    assert len(shortages) == 1
    assert set(shortages[0].missing) == {"plastic_housing", "circuit_board"}


def test_starved_station_raises_one_alert_after_the_threshold() -> None:
    p, make = planner(stations=["ASSEMBLY_STATION_A"]), Maker()
    p.add_order(make.order("basic_widget", 1, 1))
    limit = CONFIG.simulation.starvation_alert_s
    assert p.step(START).starvations == []
    assert p.step(START + limit - 1).starvations == []
    assert len(p.step(START + limit + 1).starvations) == 1
    assert p.step(START + 2 * limit).starvations == []


def test_station_in_error_starts_nothing() -> None:
    p, make = planner(stations=["ASSEMBLY_STATION_A"]), Maker()
    p.add_order(make.order("basic_widget", 1, 1))
    for component in make.kit("basic_widget"):
        p.receive_component(component)
    p.set_status("ASSEMBLY_STATION_A", MachineStatus.ERROR)
    assert p.step(START).started == []
    p.set_status("ASSEMBLY_STATION_A", MachineStatus.RUNNING)
    assert len(p.step(START + 1).started) == 1


def test_order_completes_when_all_its_widgets_are_delivered() -> None:
    p, make = planner(stations=["ASSEMBLY_STATION_A"]), Maker()
    order = make.order("basic_widget", 2, 1)
    p.add_order(order)
    for _ in range(2):
        for component in make.kit("basic_widget"):
            p.receive_component(component)
    run_until(p, START + 3600)
    assert p.orders_completed == [order.order_id]
    assert p.orders_waiting() == 0


def test_replaying_the_changelog_restores_stock_builds_and_orders() -> None:
    p, make = planner(), Maker()
    log: list[bytes] = []
    p.add_order(make.order("premium_widget", 3, 2))
    for component in (
        make.kit("premium_widget") * 1 + make.kit("premium_widget") + [make.component("motor")]
    ):
        p.receive_component(component)
    p.record_position("component-production", 0, 42)
    result = p.step(START)
    log.append(msgspec.json.encode(p.take_changes()))
    assert result.started
    # crash: a new planner replays the log
    q = planner(seed=7)
    for record in log:
        q.replay(msgspec.json.decode(record, type=ChangeSet))
    assert q.stock_levels() == p.stock_levels()
    assert [b.widget for b in q.in_progress()] == [b.widget for b in p.in_progress()]
    assert q.orders_waiting() == p.orders_waiting()
    # the in-progress build completes after the restart, with the same event id
    done = q.step(START + 3600).completed
    assert [b.widget.event_id for b in done][:1] == [result.started[0].widget.event_id]
    # replaying the same change set twice changes nothing
    for record in log:
        q.replay(msgspec.json.decode(record, type=ChangeSet))
    assert q.stock_levels() == p.stock_levels()


def test_builds_finished_but_undelivered_are_recovered() -> None:
    p, make = planner(stations=["ASSEMBLY_STATION_A"]), Maker()
    p.add_order(make.order("basic_widget", 2, 1))
    for _ in range(2):
        for component in make.kit("basic_widget"):
            p.receive_component(component)
    records = []
    first = p.step(START).started[0]
    records.append(p.take_changes())
    completed = p.step(START + 400)  # first done (not delivered), second started
    assert [b.widget.widget_id for b in completed.completed] == [first.widget.widget_id]
    records.append(p.take_changes())
    q = planner(seed=3, stations=["ASSEMBLY_STATION_A"])
    for record in records:
        q.replay(record)
    recovered = q.recovered_completions()
    assert [b.widget.widget_id for b in recovered] == [first.widget.widget_id]


def test_virtual_time_back_to_back_builds_start_when_the_station_frees() -> None:
    p, make = planner(stations=["ASSEMBLY_STATION_A"]), Maker()
    p.add_order(make.order("basic_widget", 3, 1))
    for _ in range(3):
        for component in make.kit("basic_widget"):
            p.receive_component(component)
    result = p.step(START + 10 * 3600)  # one big jump of simulated time
    assert len(result.started) == 3 and len(result.completed) == 3
    starts = [b.widget.assembly_started_at for b in result.started]
    ends = [b.widget.assembly_completed_at for b in result.started]
    assert starts[1] == ends[0] and starts[2] == ends[1]
