"""Event-time order: the same inputs in any arrival order and any chunking give the same
result (what makes a seeded virtual-time run reproducible)."""

from __future__ import annotations

import math
import random

from tests.unit.test_assembly import CONFIG, START, Maker, planner
from widget_factory.core.clock import to_datetime, to_epoch
from widget_factory.core.lockstep import EventTimeQueue, PlannerFeed, StatusGate
from widget_factory.schemas import MachineStatus, encode


def test_the_queue_pops_by_time_then_rank_then_key_never_by_arrival() -> None:
    queue: EventTimeQueue[str] = EventTimeQueue()
    for at, rank, key in [
        (2.0, 1, "b"),
        (1.0, 2, "z"),
        (2.0, 0, "y"),
        (2.0, 1, "a"),
        (3.0, 0, "c"),
    ]:
        queue.push(at, rank, key, key)
    assert queue.next_time() == 1.0
    assert [item for _, item in queue.pop_until(2.0)] == ["z", "y", "a", "b"]
    assert len(queue) == 1 and queue.next_time() == 3.0


def test_the_status_gate_waits_for_every_machine_and_releases_at_the_end() -> None:
    gate = StatusGate(["M1", "M2"], interval=15.0, end=100.0)
    assert gate.watermark() == -math.inf
    gate.add("M1", MachineStatus.RUNNING, 10.0)
    gate.add("OTHER", MachineStatus.ERROR, 50.0)  # not watched: ignored
    assert gate.watermark() == -math.inf
    gate.add("M2", MachineStatus.ERROR, 4.0)
    assert gate.watermark() == 4.0
    gate.add("M2", MachineStatus.RUNNING, 19.0)
    assert gate.watermark() == 10.0
    gate.add("M1", MachineStatus.RUNNING, 90.0)  # next report would be after the end
    gate.add("M2", MachineStatus.RUNNING, 94.0)
    assert gate.watermark() == 100.0
    assert [item for _, item in gate.pending.pop_until(10.0)] == [
        ("M2", MachineStatus.ERROR),
        ("M1", MachineStatus.RUNNING),
    ]


def _inputs(seed: int) -> list:
    """A few hours of components, orders and station statuses, in time order."""
    make, rng = Maker(), random.Random(seed)
    inputs: list = []
    t = START
    for _ in range(400):
        t += rng.uniform(5, 60)
        choice = rng.random()
        if choice < 0.05:
            inputs.append(
                (
                    "order",
                    make.order(
                        rng.choice(["basic_widget", "smart_widget"]), 2, rng.randrange(5), t
                    ),
                )
            )
        elif choice < 0.08:
            status = rng.choice([MachineStatus.ERROR, MachineStatus.RUNNING])
            inputs.append(("status", (rng.choice([s.id for s in CONFIG.stations]), status, t)))
        else:
            component_type = rng.choice(list(CONFIG.component_types))
            inputs.append(
                ("component", make.component(component_type, t, defects=rng.randrange(2)))
            )
    return inputs


def _time_of(kind: str, item) -> float:
    if kind == "order":
        return item.created_at.timestamp()
    if kind == "status":
        return item[2]
    return item.produced_at.timestamp()


def _run(inputs: list, arrival_seed: int, chunk: int, ahead: bool = False) -> list[bytes]:
    """Inputs arriving shuffled within chunks of ``chunk``; the planner stepped to the
    time every input source has reached after each chunk (as the services do), or with
    ``ahead`` to just before the next chunk's first input (a watermark that another
    partition moved on)."""
    p = planner()
    gate = StatusGate([s.id for s in CONFIG.stations], interval=1e9)
    feed = PlannerFeed(p, gate)
    shuffler = random.Random(arrival_seed)
    widgets: list[bytes] = []
    for i in range(0, len(inputs), chunk):
        batch = inputs[i : i + chunk]
        shuffler.shuffle(batch)
        for kind, item in batch:
            if kind == "order":
                feed.order(item)
            elif kind == "component":
                feed.component(item)
            else:
                gate.add(*item)
        reached = max(_time_of(kind, item) for kind, item in inputs[: i + chunk])
        later = [_time_of(kind, item) for kind, item in inputs[i + chunk :]]
        if ahead and later and min(later) > reached:
            reached = math.nextafter(min(later), -math.inf)
        result, _ = feed.step(reached)
        for build in result.completed:
            widgets.append(encode(build.widget))
            p.delivered(build.widget.widget_id)
        widgets += [repr(s).encode() for s in (*result.starvations, *result.starvation_ends)]
    result, _ = feed.step(reached + 10 * 3600)
    widgets += [encode(b.widget) for b in result.completed]
    return widgets


def test_any_arrival_order_and_any_chunking_build_the_same_widgets() -> None:
    inputs = _inputs(seed=4)
    reference = _run(inputs, arrival_seed=0, chunk=1)
    assert len(reference) > 20
    for arrival_seed, chunk in [(1, 7), (2, 50), (3, 400)]:
        assert _run(inputs, arrival_seed, chunk) == reference, (arrival_seed, chunk)


def test_how_far_past_its_inputs_the_clock_goes_changes_nothing() -> None:
    """The planner reacts to inputs at their instant, not at the time a step ends: a
    virtual clock that a quiet partition lets run ahead builds the same widgets."""
    inputs = _inputs(seed=4)
    reference = _run(inputs, arrival_seed=0, chunk=1)
    for arrival_seed, chunk in [(0, 1), (1, 7), (2, 50)]:
        assert _run(inputs, arrival_seed, chunk, ahead=True) == reference, (arrival_seed, chunk)


def test_inputs_still_waiting_when_stopping_go_into_stock() -> None:
    p, make = planner(), Maker()
    feed = PlannerFeed(p, StatusGate([s.id for s in CONFIG.stations], interval=15.0))
    components = make.kit("basic_widget", at=START + 3600)
    for component in components:
        feed.component(component)
    feed.step(START)
    assert p.stocked_ids() == set()
    assert feed.stock_the_rest() == len(components)
    assert p.stocked_ids() == {c.component_id for c in components}
    assert len(feed.queue) == 0


def test_analytics_waits_for_every_machine_sku_and_partition() -> None:
    from tests.unit.test_machines import START as T
    from tests.unit.test_machines import _fleet
    from widget_factory.analytics.event_order import AnalyticsInOrder
    from widget_factory.core.windows import PartitionProgress
    from widget_factory.schemas import InventoryUpdate

    order = AnalyticsInOrder(CONFIG, {"machine-telemetry": 0, "inventory-updates": 1})
    reports, _ = _fleet().report_until(T + 30)
    for report in reports:
        order.add("machine-telemetry", report)
    progress = {"component-production": [PartitionProgress(T + 20, False)]}
    assert order.watermark(progress) == -math.inf  # no SKU has moved yet
    for n, sku in enumerate([*CONFIG.component_types, *CONFIG.widget_types]):
        update = InventoryUpdate(
            event_id=f"00000000-0000-4000-8000-{n:012d}",
            item_type="component",
            sku=sku,
            item_id="X",
            warehouse_location="W",
            quantity_change=1,
            current_stock=1,
            updated_at=to_datetime(T + 100),
            reason="production",
            batch_id="B",
        )
        order.add("inventory-updates", update)
    earliest_latest = min(
        max(to_epoch(r.timestamp) for r in reports if r.machine_id == m)
        for m in CONFIG.all_machine_ids
    )
    assert order.watermark(progress) == min(earliest_latest, T + 20)
    assert order.watermark({**progress, "widget-assembly": []}) == -math.inf
    released = [topic for topic, _ in order.release(math.inf)]
    assert released == ["machine-telemetry"] * len(reports) + ["inventory-updates"] * 11


def test_a_starvation_begins_when_its_orders_came_however_far_a_step_goes() -> None:
    """Orders in at the start, the first part a moment later: whether the clock stopped
    at the start or went straight past it, the starvation dates from the orders."""

    def run(steps: list[float]) -> list[str]:
        p, make = planner(), Maker()
        feed = PlannerFeed(p, StatusGate([s.id for s in CONFIG.stations], interval=1e9))
        feed.order(make.order("basic_widget", 2, 1, START))
        feed.component(make.component("metal_frame", START + 2.5))
        for component in make.kit("basic_widget", at=START + 3600):
            feed.component(component)
        seen = []
        for until in steps:
            result, _ = feed.step(until)
            seen += [repr(s) for s in (*result.starvations, *result.starvation_ends)]
        return seen

    stopped = run([START, START + 7200])
    assert stopped, "the station starved for an hour with an order waiting"
    assert run([START + 7200]) == stopped
    assert run([START + 1.0, START + 7200]) == stopped
