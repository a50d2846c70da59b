"""The optimised hot paths give exactly what the straightforward code gave."""

from __future__ import annotations

import random
import uuid

import msgspec

from widget_factory.bench import bench_config_path
from widget_factory.core.assembly import AssemblyPlanner
from widget_factory.core.assembly_records import ChangeSet
from widget_factory.core.ids import NAMESPACE, IdSource, event_id_from, scramble32
from widget_factory.core.orders import OrderGenerator
from widget_factory.core.production import ComponentProduction
from widget_factory.factory_config import load_config
from widget_factory.kafka_io.changelog import changelog_records as _changelog_records

START = 1_767_225_600.0


def test_event_ids_are_the_uuid_module_s_version_4_text_for_the_same_draws() -> None:
    ids, twin = random.Random(3), random.Random(3)
    source = IdSource(ids)
    for _ in range(5000):
        assert source.event_id() == str(uuid.UUID(int=twin.getrandbits(128), version=4))


def test_derived_event_ids_are_the_uuid_module_s_version_5() -> None:
    rng = random.Random(5)
    for _ in range(5000):
        parts = [str(uuid.UUID(int=rng.getrandbits(128))), "x" * rng.randrange(30), "é"]
        assert event_id_from(*parts) == str(uuid.uuid5(NAMESPACE, "/".join(parts)))


def test_component_ids_walk_the_scrambled_counter() -> None:
    rng, twin = random.Random(9), random.Random(9)
    source = IdSource(rng)
    start = twin.getrandbits(32)
    for step in range(100):
        expected = f"COMP_METAL_FRAME_{scramble32(start + step):08x}"
        assert source.component_id("metal_frame") == expected


def _planner(config_path: str) -> AssemblyPlanner:
    config = load_config(config_path)
    planner = AssemblyPlanner(
        config, [s.id for s in config.stations], random.Random(1), IdSource(random.Random(2))
    )
    orders = OrderGenerator(config, random.Random(3), IdSource(random.Random(4)), START)
    for order in orders.initial_orders(START):
        planner.add_order(order)
    return planner


def test_a_large_step_is_written_in_parts_that_replay_to_the_same_state() -> None:
    config_path = str(bench_config_path())
    config = load_config(config_path)
    planner = _planner(config_path)
    production = ComponentProduction(config, random.Random(5), IdSource(random.Random(6)), START)
    for component in production.produce_until(START + 1200):
        planner.receive_component(component)
    planner.record_position("component-production", 0, 12_000)
    planner.step(START + 1200)
    changes = planner.take_changes()
    records = _changelog_records(changes)
    assert len(records) > 2  # thousands of builds: far over one record's limit
    assert all(len(r) <= 1024 * 1024 for r in records)
    decoder = msgspec.json.Decoder(ChangeSet)
    parts = [decoder.decode(r) for r in records]
    assert [p.positions for p in parts[:-1]] == [{}] * (len(parts) - 1)
    assert parts[-1].positions == changes.positions

    whole, split = _planner(config_path), _planner(config_path)
    whole.replay(changes)
    for part in parts:
        split.replay(part)
    assert split.stock_levels() == whole.stock_levels()
    assert [b.widget for b in split.in_progress()] == [b.widget for b in whole.in_progress()]
    assert {k: (o.started, o.delivered) for k, o in split.orders.items()} == {
        k: (o.started, o.delivered) for k, o in whole.orders.items()
    }


def test_a_small_step_is_one_record_as_before() -> None:
    changes = ChangeSet(instance="A", positions={"component-production:0": 5})
    assert _changelog_records(changes) == [msgspec.json.encode(changes)]
