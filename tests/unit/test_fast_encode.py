"""The generators' fast encoding writes exactly what ``encode`` writes for the Structs.

Production, telemetry and true OEE encode their records straight to bytes (core/fast_encode.py);
the contract's definition is still the Structs of ``schemas.py``. Every test here builds
the same record both ways, on many random values and on edge ones, and compares bytes,
key and record timestamp as ``EventProducer.send_all`` would give them.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime

import pytest

from widget_factory.core.fast_encode import (
    ComponentWire,
    OeeHead,
    made_component,
    window_part,
)
from widget_factory.core.ids import IdSource, event_id_from, uuid5_text
from widget_factory.core.machine_state import MachineUnit, sensor_reading, sensor_record
from widget_factory.core.machines import MachineFleet
from widget_factory.core.oee_truth import OeeTruthTracker
from widget_factory.core.production import ComponentProduction
from widget_factory.core.uuid_text import version5_texts
from widget_factory.factory_config import LocationSpec, default_config
from widget_factory.schemas import (
    ComponentProduced,
    Dimensions,
    MachineStatus,
    MachineTelemetry,
    OeeTruth,
    QualityMetrics,
    decode,
    encode,
)

START = 1_767_225_600.0

EDGE_TIMES = [
    0.0,
    START,
    START + 0.5e-6,  # a tie at half a microsecond
    START + 1.5e-6,
    START + 0.9999996,  # rounds up to the next second
    START + 59.999_999_5,
    START + 86_399.999_999_7,  # the next day
    1_709_164_800.25,  # 2024-02-29
    951_782_400.000_001,  # 2000-02-29
    253_402_300_799.25,  # the last second of 9999
    -1.25,
    -0.000_000_4,
    1e-7,
]

EDGE_FLOATS = [0.0, -0.0, 0.1, 1e-7, 5e-324, 1e16, 1e22, 123456789.125, -17.5, 100.0, 0.005]


def random_time(rng: random.Random) -> float:
    return rng.choice(
        [
            START + rng.uniform(0, 400 * 86_400),
            START + rng.randrange(400 * 86_400),  # whole seconds: no fraction written
            START + rng.randrange(10**9) / 1e6,
            rng.uniform(-1e9, 4e9),
        ]
    )


def random_float(rng: random.Random) -> float:
    return rng.choice(
        [
            round(rng.uniform(0, 5000) * 100) / 100,
            round(rng.gauss(22, 10) * 10) / 10,
            rng.uniform(-1e6, 1e6),
            rng.expovariate(1e-3) * 10 ** rng.randint(-12, 20),
            rng.choice(EDGE_FLOATS),
        ]
    )


def random_name(rng: random.Random) -> str:
    return rng.choice(["FRAME_MACHINE_01", "LINE_A", 'a "quoted" name', "Größe ✓", "tab\there"])


def _both(rng: random.Random, t: float) -> tuple[ComponentProduced, tuple[bytes, bytes, int]]:
    """One random component, as the Struct and as the fast path's record."""
    fields = {
        "event_id": IdSource(rng).event_id(),
        "component_id": f"COMP_METAL_FRAME_{rng.getrandbits(32):08x}",
        "component_type": rng.choice(["metal_frame", "sensor", "x_9"]),
        "machine_id": random_name(rng),
        "batch_id": random_name(rng),
    }
    numbers = [random_float(rng) for _ in range(5)]
    defects = rng.choice([0, 0, 1, 2, 3, 10**6])
    line, degraded = random_name(rng), rng.random() < 0.3
    event = ComponentProduced(
        **fields,
        produced_at=datetime.fromtimestamp(t, UTC),
        quality_metrics=QualityMetrics(
            numbers[0], Dimensions(numbers[1], numbers[2], numbers[3]), numbers[4], defects
        ),
        production_line=line,
        made_while_degraded=degraded,
    )
    made = made_component(*fields.values(), t, *numbers, defects, line, degraded)
    assert made.at == event.produced_at.timestamp()
    assert (made.component_id, made.machine_id, made.defect_count) == (
        event.component_id,
        event.machine_id,
        defects,
    )
    return event, (made.key, made.value, made.timestamp_ms)


def _as_sent(event: ComponentProduced | OeeTruth | MachineTelemetry) -> tuple[bytes, bytes, int]:
    """Key, value and timestamp as ``EventProducer.send_all`` gives an event."""
    return (
        event.kafka_key.encode(),
        encode(event),
        int(event.occurred_at.timestamp() * 1000),
    )


def test_a_component_encodes_as_its_struct_on_many_random_records() -> None:
    rng = random.Random(2)
    for _ in range(5000):
        event, fast = _both(rng, random_time(rng))
        assert fast == _as_sent(event), event


@pytest.mark.parametrize("t", EDGE_TIMES)
def test_a_component_encodes_as_its_struct_at_edge_times(t: float) -> None:
    rng = random.Random(t)
    for _ in range(50):
        event, fast = _both(rng, t)
        assert fast == _as_sent(event)


def test_the_wire_struct_has_the_events_fields_in_its_order() -> None:
    assert ComponentWire.__struct_fields__ == ComponentProduced.__struct_fields__
    assert ComponentWire.__struct_config__.tag == ComponentProduced.__struct_config__.tag
    assert ComponentWire.__struct_config__.tag_field == "event_type"


def test_production_records_are_its_events_encoded() -> None:
    """The generator's records and its events (decoded from them) agree byte for byte."""
    for seed in range(2):
        production = ComponentProduction(
            default_config(), random.Random(seed), IdSource(random.Random(seed)), START + 0.3
        )
        records = production.produce_records(START + 86_400)
        assert len(records) > 1000
        for made in records:
            assert _as_sent(made.event()) == (made.key, made.value, made.timestamp_ms)


def _tracker_run(seed: int) -> tuple[list[OeeTruth], list[tuple[bytes, bytes, int]]]:
    """The same true-OEE tracking twice, closed as Structs and as encoded records, with
    status changes of every kind at random times (partial windows, idle, shutdown)."""
    config = default_config()
    rng = random.Random(seed)
    start = START + rng.choice([0.0, 12.345, 59.999])
    trackers = OeeTruthTracker(config, start), OeeTruthTracker(config, start)
    production = ComponentProduction(config, rng, IdSource(rng), start)
    machines = [m.id for m in config.machines]
    structs: list[OeeTruth] = []
    encoded: list[tuple[bytes, bytes, int]] = []
    now = start
    for _ in range(100):
        now += rng.uniform(1, 400)
        made = production.produce_records(now)
        if rng.random() < 0.4:
            machine, status = rng.choice(machines), rng.choice(list(MachineStatus))
            at = now - rng.uniform(0, 1)
            for tracker in trackers:
                tracker.status(machine, status, at)
        trackers[0].made_all([m.event() for m in made])
        trackers[1].made_records(made)
        structs += trackers[0].close_until(now)
        encoded += [(r.key, r.value, r.timestamp_ms) for r in trackers[1].close_until_encoded(now)]
    return structs, encoded


@pytest.mark.parametrize("seed", range(4))
def test_true_oee_records_encode_as_their_structs(seed: int) -> None:
    structs, encoded = _tracker_run(seed)
    assert len(structs) > 2000
    assert {r.availability for r in structs} - {1.0, None}  # partial windows came up
    assert encoded == [_as_sent(r) for r in structs]


def test_an_oee_head_writes_every_piece_as_encode_does() -> None:
    """Edge numbers and names straight through OeeHead, not only what a run makes."""
    rng = random.Random(5)
    for _ in range(2000):
        machine = random_name(rng)
        begin = math.floor(random_time(rng))
        end = begin + rng.choice([60, 60.5, 0.001])
        record = OeeTruth(
            event_id=event_id_from("oee_truth", machine, f"{begin:.3f}"),
            target_id=machine,
            window_start=datetime.fromtimestamp(begin, UTC),
            window_end=datetime.fromtimestamp(end, UTC),
            producing_s=abs(random_float(rng)),
            shutdown_s=abs(random_float(rng)),
            made=rng.randrange(100),
            good=rng.randrange(100),
            availability=rng.choice([None, random_float(rng)]),
            performance=rng.choice([None, random_float(rng)]),
            quality=rng.choice([None, 1.0, 0.0]),
            oee=rng.choice([None, random_float(rng)]),
            idle_s=abs(random_float(rng)),
        )
        head = OeeHead(machine)
        tail = head.remember(None, record)
        digest = head.digest(f"{begin:.3f}".encode())
        event_id = uuid5_text(digest.hex()).encode()
        assert event_id == version5_texts(digest) == record.event_id.encode()
        value = head.value(event_id, window_part(begin, end), tail)
        assert value == encode(record)
        assert decode(value) == record


@pytest.mark.parametrize("anomalous", [False, True])
@pytest.mark.parametrize("status", list(MachineStatus))
def test_a_telemetry_report_encodes_as_its_struct(status: MachineStatus, anomalous: bool) -> None:
    rng = random.Random(6)
    for _ in range(500):
        name, kind = random_name(rng), rng.choice(["metal_forming", "unknown_kind"])
        location = LocationSpec(random_name(rng), rng.randrange(-3, 100), random_name(rng))
        wear = rng.random()
        units = [MachineUnit(0, name, kind, location, 30.0, wear, START) for _ in "ab"]
        cycles = rng.uniform(0, 1e7)
        for unit in units:
            unit.status, unit.anomalous, unit.cycles = status, anomalous, cycles
        t, seed = random_time(rng), rng.random()
        event = sensor_reading(units[0], t, random.Random(seed), IdSource(random.Random(seed)))
        record = sensor_record(units[1], t, random.Random(seed), IdSource(random.Random(seed)))
        assert (record.key, record.value, record.timestamp_ms) == _as_sent(event)


def test_fleet_records_are_its_reports_encoded() -> None:
    """The same fleet twice: its reports and its records agree, commands and faults on."""
    config = default_config()
    fleets = [
        MachineFleet(config, random.Random(3), IdSource(random.Random(4)), START) for _ in "ab"
    ]
    rng = random.Random(5)
    now, sent = START, 0
    for _ in range(200):
        now += rng.uniform(1, 900)
        if rng.random() < 0.1:
            machine = rng.choice(config.machines).id
            for fleet in fleets:
                fleet.inject_anomaly(machine, now - 0.1)
        reports, changes = fleets[0].report_until(now)
        records, same_changes = fleets[1].report_records_until(now)
        assert changes == same_changes
        assert [(r.key, r.value, r.timestamp_ms) for r in records] == list(map(_as_sent, reports))
        sent += len(records)
    assert sent > 10_000
