"""The optimised hot paths give exactly what the straightforward code gave."""

from __future__ import annotations

import random
import uuid
from collections import defaultdict

import msgspec

from widget_factory.bench import bench_config_path
from widget_factory.core.assembly import AssemblyPlanner
from widget_factory.core.assembly_records import ChangeSet
from widget_factory.core.clock import to_datetime
from widget_factory.core.ids import NAMESPACE, EventIdPrefix, IdSource, event_id_from, scramble32
from widget_factory.core.oee_truth import OeeTruthTracker
from widget_factory.core.orders import OrderGenerator
from widget_factory.core.production import ComponentProduction
from widget_factory.core.windows import split_interval, window_start
from widget_factory.factory_config import FactoryConfig, load_config
from widget_factory.kafka_io.changelog import changelog_records as _changelog_records
from widget_factory.schemas import ComponentProduced, MachineStatus, OeeTruth, encode

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


def test_ids_after_shared_leading_parts_are_the_derived_ids() -> None:
    rng = random.Random(6)
    for _ in range(2000):
        parts = [str(uuid.UUID(int=rng.getrandbits(128))), "x" * rng.randrange(30), "é"]
        prefix = EventIdPrefix(*parts[:-1])
        assert prefix(parts[-1]) == event_id_from(*parts)
        assert prefix(f"{rng.random():.3f}") != prefix(parts[-1])


class _OeeByDefinition:
    """True OEE per machine and window, straight from the definitions (one interval split
    and one record at a time): what :class:`OeeTruthTracker` must give."""

    def __init__(self, config: FactoryConfig, start: float, size: float = 60.0) -> None:
        self.size, self.first = size, start
        self.nominal = {m.id: (m.cycle_time_s[0] + m.cycle_time_s[1]) / 2 for m in config.machines}
        self.status = dict.fromkeys(self.nominal, MachineStatus.RUNNING)
        self.since = dict.fromkeys(self.nominal, start)
        self.tally: dict[tuple[float, str], list[float]] = defaultdict(lambda: [0.0] * 5)
        self.closed = window_start(start, size)

    def account(self, machine_id: str, until: float) -> None:
        if until <= self.since[machine_id]:
            return
        slot = {MachineStatus.RUNNING: 0, MachineStatus.SHUTDOWN: 1, MachineStatus.IDLE: 2}
        where = slot.get(self.status[machine_id])
        for begin, seconds in split_interval(self.since[machine_id], until, self.size):
            if where is not None:
                self.tally[begin, machine_id][where] += seconds
        self.since[machine_id] = until

    def set_status(self, machine_id: str, status: MachineStatus, at: float) -> None:
        if machine_id in self.status:
            self.account(machine_id, at)
            self.status[machine_id] = status

    def made(self, event: ComponentProduced) -> None:
        tally = self.tally[window_start(event.produced_at.timestamp(), self.size), event.machine_id]
        tally[3] += 1
        tally[4] += event.quality_metrics.defect_count == 0

    def close_until(self, t: float) -> list[OeeTruth]:
        def ratio(part: float, whole: float) -> float | None:
            return None if whole <= 0 else round(part / whole, 6)

        records = []
        while self.closed + self.size <= t:
            begin, end = self.closed, self.closed + self.size
            for machine_id in self.nominal:
                self.account(machine_id, end)
            observed = end - max(begin, self.first)
            for machine_id, nominal in self.nominal.items():
                run, down, idle, made, good = self.tally.pop((begin, machine_id), [0.0] * 5)
                factors = (
                    None if observed - down - idle <= 0 else run / (observed - down - idle),
                    None if run <= 0 else min(made * nominal, run) / run,
                    None if made <= 0 else good / made,
                )
                oee = None if None in factors else factors[0] * factors[1] * factors[2]  # type: ignore[operator]
                records.append(
                    OeeTruth(
                        event_id=event_id_from("oee_truth", machine_id, f"{begin:.3f}"),
                        target_id=machine_id,
                        window_start=to_datetime(begin),
                        window_end=to_datetime(end),
                        producing_s=round(run, 3),
                        shutdown_s=round(down, 3),
                        idle_s=round(idle, 3),
                        made=int(made),
                        good=int(good),
                        availability=None if factors[0] is None else round(factors[0], 6),
                        performance=None if factors[1] is None else round(factors[1], 6),
                        quality=None if factors[2] is None else round(factors[2], 6),
                        oee=None if oee is None else round(oee, 6),
                    )
                )
            self.closed = end
        return records


def test_true_oee_records_are_those_of_the_definitions_byte_for_byte() -> None:
    config = load_config(None)
    start = START + 17.25  # not on a window boundary
    production = ComponentProduction(config, random.Random(1), IdSource(random.Random(1)), start)
    tracker, reference = OeeTruthTracker(config, start), _OeeByDefinition(config, start)
    rng = random.Random(11)
    machines = [m.id for m in config.machines]
    now, got, expected = start, [], []
    for _ in range(300):
        now += rng.choice([7.5, 60.0, 600.0, 1234.567, 0.001])
        made = production.produce_until(now)
        tracker.made_all(made)
        for event in made:
            reference.made(event)
        if rng.random() < 0.3:
            machine_id, status = rng.choice(machines), rng.choice(list(MachineStatus))
            production.set_status(machine_id, status, now)
            tracker.status(machine_id, status, now)
            reference.set_status(machine_id, status, now)
        got += tracker.close_until(min(now, production.next_time()))
        expected += reference.close_until(min(now, production.next_time()))
    assert len(got) > 5000
    assert [encode(r) for r in got] == [encode(r) for r in expected]
