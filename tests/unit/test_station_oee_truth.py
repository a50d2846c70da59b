"""True OEE per assembly station and window, from the assembly simulation's own state."""

from __future__ import annotations

import math
import random
from pathlib import Path

import msgspec
import pytest

from widget_factory.core.assembly import AssemblyPlanner
from widget_factory.core.assembly_records import BuildRecord, OrderRecord, Stocked
from widget_factory.core.ground_truth import CycleTimes, starvation_begin, starvation_end
from widget_factory.core.ids import IdSource, event_id_from
from widget_factory.core.inspection import QualityInspection
from widget_factory.core.station_oee_truth import StationOeeTruthTracker
from widget_factory.core.station_stock import assemble_widget
from widget_factory.core.station_timeline import StationTimeline, StationTurn, unsettled_since
from widget_factory.factory_config import default_config
from widget_factory.schemas import (
    MachineStatus,
    OeeTruth,
    ProductionOrder,
    QualityStatus,
    decode,
    encode,
)

CONFIG = default_config()
T = 1_767_225_600.0  # a whole minute
S = "ASSEMBLY_STATION_A"
CYCLES = CycleTimes(CONFIG)


def tracker(start: float = T, seed: int | None = 5) -> StationOeeTruthTracker:
    return StationOeeTruthTracker(CONFIG, [S], start, seed)


def builds(n: int, completes_at: float, widget_type: str = "basic_widget") -> list[BuildRecord]:
    """``n`` widgets of ``widget_type`` completed at ``completes_at``, some of flawed parts."""
    rng, ids = random.Random(n), IdSource(random.Random(n + 1))
    order = OrderRecord("ORD", widget_type, n, 1, T)
    made = []
    for i in range(n):
        parts = [
            Stocked(S, ids.component_id(c), c, defects=i % 3, produced_at=T, machine_id="M")
            for c in CONFIG.recipes[widget_type]
        ]
        build = assemble_widget(CONFIG, rng, ids, S, order, parts, T)
        made.append(BuildRecord(S, build.widget, completes_at))
    return made


def test_a_starvation_spell_is_lost_availability() -> None:
    t = tracker()
    t.starvations([starvation_begin(CYCLES, S, T + 20), starvation_end(CYCLES, S, T + 20, T + 50)])
    assert t.close_until(T + 59) == []
    (record,) = t.close_until(T + 60)
    assert (record.producing_s, record.starved_s, record.idle_s) == (30.0, 30.0, 0.0)
    assert record.availability == 0.5
    assert record.target_type == "station" and record.target_kind == "station"


def test_a_window_without_builds_has_no_quality_and_no_performance() -> None:
    (record,) = tracker().close_until(T + 60)
    assert (record.made, record.good, record.producing_s) == (0, 0, 60.0)
    assert record.availability == 1.0 and record.performance == 0.0
    assert record.quality is None and record.oee is None


def test_quality_is_the_verdict_quality_control_will_give() -> None:
    done = builds(40, T + 30)
    t = tracker(seed=5)
    t.built(done)
    (record,) = t.close_until(T + 60)
    inspection = QualityInspection(CONFIG, 5)
    passed = sum(inspection.inspect(b.widget, "QC", T).status is QualityStatus.PASS for b in done)
    assert record.made == 40 and record.good == passed and 0 < passed < 40
    assert record.quality == pytest.approx(passed / 40, abs=1e-6)
    assert record.performance == 1.0  # forty ideal assembly times do not fit a minute


def test_performance_is_ideal_assembly_time_over_run_time() -> None:
    t = tracker(seed=5)
    t.turns([StationTurn(S, T, demand=False), StationTurn(S, T + 60, demand=True)])
    t.built(builds(1, T + 599))  # basic_widget: 300 s ideal, completed in the tenth minute
    records = t.close_until(T + 600)
    assert [r.idle_s for r in records] == [60.0] + [0.0] * 9
    assert records[0].availability is None  # nothing planned: no demand
    assert records[9].performance == 1.0 and records[8].performance == 0.0


def test_no_demand_and_shutdown_are_planned_out_a_breakdown_is_not() -> None:
    t = tracker()
    t.turns(
        [
            StationTurn(S, T + 10, demand=False),
            StationTurn(S, T + 20, demand=True),
            StationTurn(S, T + 30, status=MachineStatus.SHUTDOWN),
            StationTurn(S, T + 40, status=MachineStatus.ERROR),
        ]
    )
    # a starvation through a breakdown: the breakdown counts, not the starvation
    t.starvations([starvation_begin(CYCLES, S, T + 45), starvation_end(CYCLES, S, T + 45, T + 55)])
    (record,) = t.close_until(T + 60)
    assert (record.idle_s, record.shutdown_s, record.starved_s) == (10.0, 10.0, 0.0)
    assert record.producing_s == 20.0 and record.availability == 0.5


def test_turns_told_out_of_order_and_into_later_windows() -> None:
    t = tracker()
    t.turns([StationTurn(S, T + 70, demand=True), StationTurn(S, T + 30, demand=False)])
    first, second = t.close_until(T + 120)
    assert (first.idle_s, second.idle_s) == (30.0, 10.0)


def test_windows_are_aligned_to_the_epoch_and_the_first_counts_from_the_start() -> None:
    t = tracker(start=T + 45)
    assert t.close_until(T + 59.9) == []
    first, second = t.close_until(T + 120)
    assert first.window_start.timestamp() == T and first.window_end.timestamp() == T + 60
    assert first.producing_s == 15.0 and first.availability == 1.0
    assert second.window_start.timestamp() == T + 60
    assert first.event_id == event_id_from("oee_truth", S, f"{T:.3f}")
    assert first.kafka_key == S and first.occurred_at.timestamp() == T + 60


def test_a_restarted_process_publishes_the_windows_after_its_restart() -> None:
    t = tracker()
    t.resume_at(T + 130)
    (record,) = t.close_until(T + 240)
    assert record.window_start.timestamp() == T + 180


def test_station_records_round_trip_and_machine_records_keep_their_bytes() -> None:
    (station,) = tracker().close_until(T + 60)
    assert decode(encode(station)) == station
    machine = OeeTruth(
        event_id=event_id_from("oee_truth", "M", "0"),
        target_id="M",
        window_start=station.window_start,
        window_end=station.window_end,
        producing_s=60.0,
        shutdown_s=0.0,
        made=1,
        good=1,
        availability=1.0,
        performance=1.0,
        quality=1.0,
        oee=1.0,
    )
    fields = msgspec.json.decode(encode(machine))
    assert "target_type" not in fields and "starved_s" not in fields
    assert machine.target_kind == "machine" and decode(encode(machine)) == machine


def test_the_planner_notes_when_a_station_has_no_demand_and_when_one_comes() -> None:
    planner = AssemblyPlanner(CONFIG, [S], random.Random(1), IdSource(random.Random(2)))
    planner.timeline = StationTimeline([S])
    planner.step(T)
    from widget_factory.core.clock import to_datetime

    order = ProductionOrder(
        event_id=event_id_from("o"),
        order_id="ORD_1",
        widget_type="basic_widget",
        quantity=1,
        priority=1,
        created_at=to_datetime(T + 100),
    )
    planner.step(T + 150)
    planner.add_order(order)  # learnt at T + 150, made at T + 100
    planner.step(T + 150)
    planner.set_status(S, MachineStatus.ERROR)
    planner.set_status(S, MachineStatus.ERROR)  # no change: no turn
    assert planner.timeline.take() == [
        StationTurn(S, T, demand=False),
        StationTurn(S, T + 100, demand=True),
        StationTurn(S, T + 150, status=MachineStatus.ERROR),
    ]
    # lacking parts since then: not yet a starvation, which may still be dated back there
    station = planner.stations[S]
    assert unsettled_since([(station.starved_since, station.starvation_reported)]) == T + 150
    assert unsettled_since([(None, False), (T, True)]) == math.inf


def test_a_warehouse_made_before_gains_the_new_oee_truth_columns(tmp_path: Path) -> None:
    import duckdb

    from widget_factory.kafka_io.settings import KafkaSettings
    from widget_factory.warehouse.sink import SinkOptions, WarehouseSink
    from widget_factory.warehouse.truth_tables import TRUTH_TABLES

    db = tmp_path / "factory.duckdb"
    with duckdb.connect(str(db)) as con:  # the table as an earlier release made it
        con.execute(
            "CREATE TABLE oee_truth (event_id VARCHAR, machine_id VARCHAR, "
            "window_start TIMESTAMPTZ, window_end TIMESTAMPTZ, producing_s DOUBLE, "
            "shutdown_s DOUBLE, made BIGINT, good BIGINT, availability DOUBLE, "
            "performance DOUBLE, quality DOUBLE, oee DOUBLE, kafka_partition INTEGER, "
            "kafka_offset BIGINT, PRIMARY KEY (event_id))"
        )
    sink = WarehouseSink(SinkOptions(KafkaSettings("127.0.0.1:9", source="flag"), db))
    table = next(t for t in TRUTH_TABLES if t.name == "oee_truth")
    table.create(sink.con)  # again: nothing left to add
    (station,) = tracker().close_until(T + 60)
    row = {**table.flatten(station), "kafka_partition": 0, "kafka_offset": 7}
    assert sink._insert(table, [row]) == 1
    got = sink.con.execute("SELECT machine_id, target_type, starved_s, kafka_offset FROM oee_truth")
    assert got.fetchall() == [(S, "station", 0.0, 7)]
    sink.con.close()
