"""Home stations for scaled-out assembly: deterministic, capable, in proportion."""

from __future__ import annotations

from collections import Counter

from widget_factory.core.routing import StationRouter, component_weights, rendezvous
from widget_factory.factory_config import default_config

CONFIG = default_config()
A, B, C = "ASSEMBLY_STATION_A", "ASSEMBLY_STATION_B", "ASSEMBLY_STATION_C"


def test_every_process_sends_a_record_to_the_same_home() -> None:
    routers = [StationRouter(CONFIG, [s]) for s in (A, B, C)]
    for n in range(500):
        component_id = f"COMP_SENSOR_{n:08x}"
        homes = {r.component_home(component_id, "sensor") for r in routers}
        assert len(homes) == 1 and homes <= {B, C}  # A never uses a sensor
        targets = [r.component_target(component_id, "sensor") for r in routers]
        home = homes.pop()
        # exactly the home's own process keeps it; every other forwards it there
        assert [t is None for t in targets] == [s == home for s in (A, B, C)]
        assert all(t in (None, home) for t in targets)


def test_homes_are_capable_and_proportional_to_expected_use() -> None:
    router = StationRouter(CONFIG, [A])
    motors = {router.component_home(f"COMP_MOTOR_{n:08x}", "motor") for n in range(200)}
    assert motors == {B}  # only industrial widgets need motors
    smart = Counter(router.order_home(f"ORDER_{n:08X}", "smart_widget") for n in range(3000))
    assert set(smart) == {B, C} and abs(smart[B] - smart[C]) < 300
    weights = component_weights(CONFIG)["sensor"]
    assert weights[B] == 3 * weights[C]  # industrial + half the smart orders vs half
    sensors = Counter(rendezvous(f"COMP_SENSOR_{n:08x}", weights) for n in range(4000))
    assert 2.6 < sensors[B] / sensors[C] < 3.4


def test_one_process_with_every_station_forwards_nothing() -> None:
    router = StationRouter(CONFIG, [A, B, C])
    assert not router.scaled_out
    assert router.component_target("COMP_SENSOR_00000001", "sensor") is None
    assert router.order_target("ORDER_00000001", "industrial_widget") is None
    two = StationRouter(CONFIG, [A, C])
    assert two.scaled_out and two.order_target("ORDER_X", "basic_widget") is None
    assert [two.partition_of(s, 6) for s in (A, B, C)] == [0, 1, 2]
    assert [two.partition_of(s, 2) for s in (A, B, C)] == [0, 1, 0]
