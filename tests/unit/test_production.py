"""Component production: cycle times, batches, stoppages, blocked statuses, determinism."""

from __future__ import annotations

import math
import random
import re
from collections import Counter
from datetime import UTC, datetime

import msgspec
import pytest

from widget_factory import schemas
from widget_factory.core.clock import to_epoch
from widget_factory.core.ids import IdSource
from widget_factory.core.machines import UnknownMachine
from widget_factory.core.production import PRODUCING_STATUSES, ComponentProduction
from widget_factory.factory_config import FactoryConfig, default_config
from widget_factory.schemas import ComponentProduced, MachineStatus

START = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
HOUR = 3600.0
DAY = 86400.0
COMPONENT_ID = re.compile(r"^COMP_[A-Z0-9_]+_[0-9a-f]{8}$")
EVENT_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
BATCH_ID = re.compile(r"^BATCH_(\d{8}_\d{4})_\d{4}$")
FRAME = "FRAME_MACHINE_01"


def _config(**simulation: object) -> FactoryConfig:
    config = default_config()
    return msgspec.structs.replace(
        config, simulation=msgspec.structs.replace(config.simulation, **simulation)
    )


def _production(config: FactoryConfig | None = None, seed: int = 7) -> ComponentProduction:
    rng = random.Random(seed)
    return ComponentProduction(config or default_config(), rng, IdSource(rng), START)


def _times(events: list[ComponentProduced], machine_id: str) -> list[float]:
    return [to_epoch(e.produced_at) for e in events if e.machine_id == machine_id]


def test_cycle_times_stay_in_the_range_with_jitter() -> None:
    production = _production(_config(stoppage_probability=0.0))
    times = _times(production.produce_until(START + 2 * DAY), FRAME)
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert len(gaps) > 2000
    low, high = default_config().machine_by_id[FRAME].cycle_time_s
    jitter = default_config().simulation.cycle_jitter
    assert min(gaps) >= low * (1 - jitter) - 1e-5
    assert max(gaps) <= high * (1 + jitter) + 1e-5
    # The jitter is really applied: some cycles fall outside the bare range.
    assert min(gaps) < low and max(gaps) > high
    assert sum(gaps) / len(gaps) == pytest.approx((low + high) / 2, rel=0.03)


def test_output_begins_within_one_cycle_of_the_start() -> None:
    production = _production(_config(stoppage_probability=0.0))
    events = production.produce_until(START + 2 * HOUR)
    config = default_config()
    for machine in config.machines:
        first = _times(events, machine.id)[0]
        assert START <= first <= START + machine.cycle_time_s[1] * (1 + 0.2)


def test_components_come_in_time_order_and_next_time_tells_the_next() -> None:
    production = _production()
    previous = START
    for hour in range(1, 25):
        expected_next = production.next_time()
        events = production.produce_until(START + hour * HOUR)
        times = [to_epoch(e.produced_at) for e in events]
        assert times == sorted(times)
        assert times[0] == pytest.approx(expected_next, abs=1e-5)
        assert times[0] >= previous
        assert times[-1] <= START + hour * HOUR
        previous = times[-1]
    assert production.next_time() > START + 24 * HOUR


def test_ids_match_the_contract_and_never_repeat() -> None:
    events = _production().produce_until(START + 3 * DAY)
    assert len(events) > 5000
    assert all(COMPONENT_ID.match(e.component_id) for e in events)
    assert all(EVENT_ID.match(e.event_id) for e in events)
    assert all(e.component_id.startswith(f"COMP_{e.component_type.upper()}_") for e in events)
    assert len({e.component_id for e in events}) == len(events)
    assert len({e.event_id for e in events}) == len(events)


def test_each_machine_makes_its_type_on_its_line() -> None:
    events = _production().produce_until(START + DAY)
    config = default_config()
    for event in events:
        spec = config.machine_by_id[event.machine_id]
        assert event.component_type == spec.component_type
        assert event.production_line == f"LINE_{spec.location.line}"
    assert {e.machine_id for e in events} == {m.id for m in config.machines}


def test_batch_changes_every_batch_size_components() -> None:
    events = [e for e in _production().produce_until(START + 3 * DAY) if e.machine_id == FRAME]
    batches: list[list[ComponentProduced]] = []
    for event in events:
        if not batches or batches[-1][0].batch_id != event.batch_id:
            batches.append([])
        batches[-1].append(event)
    assert len(batches) >= 5
    assert all(len(batch) == 50 for batch in batches[:-1])
    assert 1 <= len(batches[-1]) <= 50
    assert len({batch[0].batch_id for batch in batches}) == len(batches)
    for batch in batches:
        match = BATCH_ID.match(batch[0].batch_id)
        assert match is not None
        assert match.group(1) == batch[0].produced_at.strftime("%Y%m%d_%H%M")


def test_batch_size_comes_from_the_config() -> None:
    events = _production(_config(batch_size=3)).produce_until(START + DAY)
    frames = [e.batch_id for e in events if e.machine_id == FRAME]
    assert all(len(set(frames[i : i + 3])) == 1 for i in range(0, len(frames) - 3, 3))
    assert len(set(frames)) == math.ceil(len(frames) / 3)


@pytest.mark.parametrize(
    "status", [MachineStatus.ERROR, MachineStatus.MAINTENANCE, MachineStatus.SHUTDOWN]
)
def test_no_output_while_blocked_and_one_cycle_after_running(status: MachineStatus) -> None:
    production = _production(_config(stoppage_probability=0.0))
    blocked_at = START + 2 * HOUR
    production.produce_until(blocked_at)
    production.set_status(FRAME, status, blocked_at)
    assert production.status(FRAME) is status
    during = production.produce_until(blocked_at + 5 * HOUR)
    assert _times(during, FRAME) == []
    # The other machines keep working.
    assert len({e.machine_id for e in during}) == len(default_config().machines) - 1
    resumed_at = blocked_at + 5 * HOUR
    production.set_status(FRAME, MachineStatus.RUNNING, resumed_at)
    after = _times(production.produce_until(resumed_at + HOUR), FRAME)
    assert resumed_at + 45 * 0.8 - 1e-5 <= after[0] <= resumed_at + 75 * 1.2 + 1e-5
    assert len(after) > 30


def test_a_component_due_inside_a_blocked_period_is_not_produced() -> None:
    config = _config(stoppage_probability=0.0)
    reference = _times(_production(config).produce_until(START + 3 * HOUR), FRAME)
    due = next(t for t in reference if t > START + 2 * HOUR)
    production = _production(config)
    production.produce_until(due - 1)
    production.set_status(FRAME, MachineStatus.ERROR, due - 1)
    production.produce_until(due + 1)
    production.set_status(FRAME, MachineStatus.RUNNING, due + 1)
    after = _times(production.produce_until(START + 4 * HOUR), FRAME)
    assert due not in after
    assert after[0] >= due + 1 + 45 * 0.8 - 1e-5


def test_resuming_never_goes_behind_what_was_already_produced() -> None:
    production = _production(_config(stoppage_probability=0.0))
    production.set_status(FRAME, MachineStatus.ERROR, START)
    last = to_epoch(production.produce_until(START + 5 * HOUR)[-1].produced_at)
    production.set_status(FRAME, MachineStatus.RUNNING, START + HOUR)  # a late message
    after = _times(production.produce_until(START + 6 * HOUR), FRAME)
    assert after[0] >= last + 45 * 0.8 - 1e-5


def test_idle_keeps_producing_and_repeated_statuses_change_nothing() -> None:
    assert MachineStatus.IDLE in PRODUCING_STATUSES
    a = _production(seed=3)
    b = _production(seed=3)
    a.set_status(FRAME, MachineStatus.IDLE, START + 10)
    a.set_status(FRAME, MachineStatus.RUNNING, START + 20)
    assert [schemas.encode(e) for e in a.produce_until(START + DAY)] == [
        schemas.encode(e) for e in b.produce_until(START + DAY)
    ]


def test_unknown_machines_are_ignored_by_set_status_and_refused_by_status() -> None:
    production = _production()
    production.set_status("ASSEMBLY_STATION_A", MachineStatus.ERROR, START)
    production.set_status("NOPE", MachineStatus.SHUTDOWN, START)
    assert production.status(FRAME) is MachineStatus.RUNNING
    with pytest.raises(UnknownMachine, match="NOPE"):
        production.status("NOPE")


def test_next_time_is_infinite_when_every_machine_is_blocked() -> None:
    production = _production()
    for machine in default_config().machines:
        production.set_status(machine.id, MachineStatus.SHUTDOWN, START)
    assert production.next_time() == math.inf
    assert production.produce_until(START + DAY) == []


def test_stoppages_delay_the_next_cycle_and_are_reported_once() -> None:
    production = _production(_config(stoppage_probability=1.0, stoppage_s=(600.0, 900.0)))
    events = production.produce_until(START + DAY)
    stoppages = production.drain_stoppages()
    assert production.drain_stoppages() == []
    assert len(stoppages) == len(events)
    times = _times(events, FRAME)
    frame_stops = [s for s in stoppages if s.machine_id == FRAME]
    for before, after, stop in zip(times, times[1:], frame_stops, strict=False):
        assert stop.start == pytest.approx(before)
        assert 600 - 1e-5 <= stop.end - stop.start <= 900 + 1e-5
        assert stop.end + 45 * 0.8 - 1e-5 <= after <= stop.end + 75 * 1.2 + 1e-5


def test_no_stoppages_when_their_probability_is_zero() -> None:
    production = _production(_config(stoppage_probability=0.0))
    production.produce_until(START + DAY)
    assert production.drain_stoppages() == []


def _expected_per_day(config: FactoryConfig) -> float:
    sim = config.simulation
    pause = sim.stoppage_probability * sum(sim.stoppage_s) / 2
    return sum(DAY / (sum(m.cycle_time_s) / 2 + pause) for m in config.machines)


@pytest.mark.parametrize("stoppage_probability", [0.0, 0.02])
def test_rate_over_a_day_matches_the_mean_cycles(stoppage_probability: float) -> None:
    config = _config(stoppage_probability=stoppage_probability)
    production = _production(config)
    events = production.produce_until(START + DAY)
    assert len(events) == pytest.approx(_expected_per_day(config), rel=0.10)
    assert sum(production.produced.values()) == len(events)
    assert production.produced == dict(Counter(e.machine_id for e in events))


def test_quality_metrics_follow_the_component_type() -> None:
    events = _production().produce_until(START + 3 * DAY)
    frames = [e.quality_metrics for e in events if e.component_type == "metal_frame"]
    weights = [q.weight_grams for q in frames]
    mean = sum(weights) / len(weights)
    sd = math.sqrt(sum((w - mean) ** 2 for w in weights) / len(weights))
    assert mean == pytest.approx(150.0, abs=0.5)
    assert sd == pytest.approx(5.0, rel=0.1)
    lengths = [q.dimensions_mm.length for q in frames]
    assert sum(lengths) / len(lengths) == pytest.approx(100.0, abs=0.1)
    assert all(
        95 < q.dimensions_mm.length < 105 and 47 < q.dimensions_mm.width < 53 for q in frames
    )
    temps = [q.temperature_celsius for q in frames]
    assert sum(temps) / len(temps) == pytest.approx(22.0, abs=0.3)
    assert all(round(q.weight_grams, 2) == q.weight_grams for q in frames)
    defects = Counter(e.quality_metrics.defect_count for e in events)
    assert set(defects) <= {0, 1, 2, 3}
    assert defects[0] / len(events) == pytest.approx(0.80, abs=0.02)
    assert defects[1] / len(events) == pytest.approx(0.15, abs=0.02)


def test_same_seed_same_events_whatever_the_call_pattern() -> None:
    one = _production(seed=42).produce_until(START + DAY)
    split = _production(seed=42)
    pieces: list[ComponentProduced] = []
    now = START
    while now < START + DAY:
        now = min(now + 997.0, START + DAY)
        while batch := split.produce_until(now, limit=7):
            pieces.extend(batch)
    assert [schemas.encode(e) for e in one] == [schemas.encode(e) for e in pieces]
    other = _production(seed=43).produce_until(START + DAY)
    assert [schemas.encode(e) for e in one] != [schemas.encode(e) for e in other]


def test_limit_is_respected() -> None:
    production = _production()
    assert len(production.produce_until(START + DAY, limit=5)) == 5
    assert production.produce_until(START + DAY, limit=0) == []


def test_every_event_round_trips_through_the_schema() -> None:
    for event in _production().produce_until(START + 6 * HOUR):
        assert schemas.decode(schemas.encode(event)) == event
