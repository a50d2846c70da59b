"""The answer key: every fault the core causes has exactly one begin and one end record."""

from __future__ import annotations

import json
import random
from bisect import bisect_right
from collections import defaultdict
from functools import cache
from pathlib import Path

import msgspec

from tests.unit.test_assembly import CONFIG as ASSEMBLY_CONFIG
from tests.unit.test_assembly import START as ASSEMBLY_START
from tests.unit.test_assembly import Maker, planner
from widget_factory.core.clock import to_datetime, to_epoch
from widget_factory.core.ground_truth import FaultTracker, StarvationTruth, fault_id
from widget_factory.core.ids import IdSource
from widget_factory.core.machines import MachineFleet
from widget_factory.factory_config import FactoryConfig, default_config
from widget_factory.schemas import FaultTruth, MachineStatus, OeeTruth, decode, encode

START = 1_767_225_600.0  # 2026-01-01T00:00:00Z
HOUR = 3600.0
WEEK = 7 * 24 * HOUR
ROOT = Path(__file__).resolve().parents[2]
FAULTY = {MachineStatus.ERROR, MachineStatus.MAINTENANCE, MachineStatus.SHUTDOWN}


def _busy_config() -> FactoryConfig:
    """The shipped failure rates; reports every two minutes keep a week quick to simulate."""
    config = default_config()
    return msgspec.structs.replace(
        config,
        simulation=msgspec.structs.replace(config.simulation, telemetry_interval_s=120.0),
    )


@cache
def _week(seed: int) -> tuple[list[FaultTruth], dict[str, list[tuple[float, MachineStatus]]]]:
    """A simulated week of the fleet, with commands at random times, through the tracker.

    Returns the records and every machine's reported statuses."""
    config = _busy_config()
    rng = random.Random(seed)
    fleet = MachineFleet(config, rng, IdSource(random.Random(seed + 1)), START)
    tracker = FaultTracker(config)
    commands = random.Random(seed + 2)
    records: list[FaultTruth] = []
    statuses: dict[str, list[tuple[float, MachineStatus]]] = defaultdict(list)
    actions = [fleet.inject_anomaly, fleet.stop, fleet.start, fleet.maintain, fleet.start]
    t = START
    while t < START + WEEK:
        t += commands.uniform(60.0, 1800.0)
        reports, changes = fleet.report_until(t)
        for report in reports:
            statuses[report.machine_id].append((to_epoch(report.timestamp), report.status))
        records += tracker.observe_all(changes)
        if commands.random() < 0.3:
            action = commands.choice(actions)
            cause = commands.choice(["command", "scenario"])
            report, change = action(commands.choice(fleet.machine_ids()), t, cause)
            statuses[report.machine_id].append((t, report.status))
            records += tracker.observe_all(fleet.take_changes())
            if change is not None:
                records += tracker.observe(change)
    _, changes = fleet.report_until(t)
    records += tracker.observe_all(changes)
    records += tracker.close_all(t)
    return records, statuses


def paired_faults(records: list) -> tuple[dict, dict]:
    """Begin and end records by fault id, checked: each fault begins once and ends once."""
    begins = {r.fault_id: r for r in records if r.phase == "begin"}
    ends = {r.fault_id: r for r in records if r.phase == "end"}
    assert len(begins) == sum(r.phase == "begin" for r in records), "a begin repeated"
    assert len(ends) == sum(r.phase == "end" for r in records), "an end repeated"
    assert begins.keys() == ends.keys()
    return begins, ends


def test_every_machine_fault_of_a_week_has_exactly_one_begin_and_one_end() -> None:
    records, statuses = _week(seed=7)
    begins, ends = paired_faults(records)
    kinds = {r.kind for r in begins.values()}
    assert kinds == {"breakdown", "anomaly", "maintenance", "shutdown"}
    assert len(begins) > 200
    for fid, begin in begins.items():
        end = ends[fid]
        assert (end.target_id, end.kind, end.cause) == (begin.target_id, begin.kind, begin.cause)
        assert end.started_at == begin.started_at
        assert end.ended_at is not None and end.ended_at >= begin.started_at
        assert fid == fault_id(begin.target_id, begin.kind, to_epoch(begin.started_at))
        assert end.effects is not None
        assert end.effects.unit == ("widget" if end.target_type == "station" else "component")
    # A machine's faults never overlap, and every report inside one is a faulty status;
    # every report outside all of them is running or idle.
    by_machine: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for end in ends.values():
        assert end.ended_at is not None
        by_machine[end.target_id].append((to_epoch(end.started_at), to_epoch(end.ended_at)))
    for machine_id, spells in by_machine.items():
        spells.sort()
        for (_, first_end), (second_start, _) in zip(spells, spells[1:], strict=False):
            assert first_end <= second_start
        starts = [s for s, _ in spells]
        for at, status in statuses[machine_id]:
            at = to_epoch(to_datetime(at))  # records carry microseconds, like every time
            i = bisect_right(starts, at) - 1
            inside = i >= 0 and at < spells[i][1]
            assert inside == (status in FAULTY), (machine_id, at, status)


def test_causes_name_what_started_each_fault() -> None:
    records, _ = _week(seed=8)
    begins = [r for r in records if r.phase == "begin"]
    causes = defaultdict(set)
    for r in begins:
        causes[r.kind].add(r.cause)
    assert causes["breakdown"] == {"random"}
    assert causes["anomaly"] == {"command", "scenario"}
    assert causes["shutdown"] == {"command", "scenario"}
    assert causes["maintenance"] == {"schedule", "command", "scenario"}
    assert all(r.expected_end_at is None for r in begins if r.kind == "shutdown")
    assert all(r.expected_end_at is not None for r in begins if r.kind != "shutdown")


def test_the_same_seed_gives_the_same_records_and_they_round_trip() -> None:
    first, _ = _week(seed=9)
    second, _ = _week.__wrapped__(seed=9)  # computed again, not the cached result
    assert [encode(r) for r in first] == [encode(r) for r in second]
    assert all(decode(encode(r)) == r for r in first)
    assert all(r.kafka_key == r.target_id for r in first)
    assert all(r.occurred_at == (r.started_at if r.phase == "begin" else r.ended_at) for r in first)


def test_a_commanded_stop_is_one_shutdown_with_its_interval_and_lost_output() -> None:
    config = default_config()
    fleet = MachineFleet(config, random.Random(1), IdSource(random.Random(2)), START)
    tracker = FaultTracker(config)
    machine = config.machines[0]
    fleet.report_until(START + HOUR)
    _, stop = fleet.stop(machine.id, START + HOUR, "command")
    _, start = fleet.start(machine.id, START + 3 * HOUR)
    assert stop is not None and start is not None
    begin, end = tracker.observe(stop) + tracker.observe(start)
    assert (begin.phase, begin.kind, begin.cause) == ("begin", "shutdown", "command")
    assert (end.phase, end.kind, end.open_at_end) == ("end", "shutdown", False)
    assert to_epoch(end.started_at) == START + HOUR
    assert end.ended_at is not None and to_epoch(end.ended_at) == START + 3 * HOUR
    mean_cycle = sum(machine.cycle_time_s) / 2
    assert end.effects is not None
    assert end.effects.units_not_made == int(2 * HOUR / mean_cycle)
    assert end.effects.made_while_degraded == 0


def test_a_starved_station_gives_one_begin_and_one_end() -> None:
    p, make = planner(), Maker()
    truth = StarvationTruth(ASSEMBLY_CONFIG)
    limit = ASSEMBLY_CONFIG.simulation.starvation_alert_s
    p.add_order(make.order("industrial_widget", 1, 2))  # built by station B alone
    records = []
    for t in (ASSEMBLY_START, ASSEMBLY_START + limit - 1, ASSEMBLY_START + limit + 1):
        records += truth.from_step(p.step(t), cutoff=float("inf"))
    assert [(r.phase, r.kind, r.cause) for r in records] == [("begin", "starvation", "supply")]
    assert to_epoch(records[0].started_at) == ASSEMBLY_START
    assert p.open_starvations()
    arrival = ASSEMBLY_START + 2 * limit
    for component in make.kit("industrial_widget", at=arrival):
        p.receive_component(component)
    records += truth.from_step(p.step(arrival + 5), cutoff=float("inf"))
    begin, end = records
    assert (end.phase, end.fault_id, end.target_type) == ("end", begin.fault_id, "station")
    assert end.ended_at is not None and to_epoch(end.ended_at) == arrival
    assert end.effects is not None and end.effects.unit == "widget"
    assert p.open_starvations() == []


def test_a_starvation_open_at_the_end_is_closed_there() -> None:
    p, make = planner(), Maker()
    truth = StarvationTruth(ASSEMBLY_CONFIG)
    limit = ASSEMBLY_CONFIG.simulation.starvation_alert_s
    p.add_order(make.order("industrial_widget", 1, 2))
    p.step(ASSEMBLY_START)
    begins = truth.from_step(p.step(ASSEMBLY_START + limit + 1), cutoff=ASSEMBLY_START + HOUR)
    ends = truth.close(p.open_starvations(), ASSEMBLY_START + 2 * HOUR, ASSEMBLY_START + HOUR)
    assert [r.phase for r in begins + ends] == ["begin", "end"]
    assert ends[0].open_at_end and ends[0].ended_at is not None
    assert to_epoch(ends[0].ended_at) == ASSEMBLY_START + HOUR
    # a starvation beginning after the cutoff (the run is draining) is no fault
    assert truth.close(p.open_starvations(), ASSEMBLY_START + 2 * HOUR, ASSEMBLY_START) == []


def test_the_documented_json_schemas_are_the_models() -> None:
    for name, model in (("fault_truth", FaultTruth), ("oee_truth", OeeTruth)):
        documented = json.loads((ROOT / "docs" / "schemas" / f"{name}.schema.json").read_text())
        assert documented == msgspec.json.schema(model), name
