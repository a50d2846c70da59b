"""True OEE per machine and window from the production simulation's own state."""

from __future__ import annotations

import random

import pytest

from widget_factory.core.clock import to_datetime
from widget_factory.core.ids import IdSource
from widget_factory.core.oee_truth import OeeTruthTracker
from widget_factory.core.production import ComponentProduction
from widget_factory.factory_config import default_config
from widget_factory.schemas import (
    ComponentProduced,
    Dimensions,
    MachineStatus,
    QualityMetrics,
    decode,
    encode,
)

CONFIG = default_config()
T = 1_767_225_600.0  # a whole minute
M = CONFIG.machines[0]


def component(at: float, defects: int = 0, machine_id: str = M.id) -> ComponentProduced:
    ids = IdSource(random.Random(at))
    return ComponentProduced(
        event_id=ids.event_id(),
        component_id=ids.component_id(M.component_type),
        component_type=M.component_type,
        machine_id=machine_id,
        batch_id="B",
        produced_at=to_datetime(at),
        quality_metrics=QualityMetrics(1.0, Dimensions(1, 1, 1), 22.0, defects),
        production_line="LINE_A",
    )


def test_availability_performance_and_quality_per_window() -> None:
    tracker = OeeTruthTracker(CONFIG, T)
    tracker.made(component(T + 10))
    tracker.made(component(T + 20, defects=1))
    tracker.status(M.id, MachineStatus.ERROR, T + 90)
    assert tracker.close_until(T + 59) == []
    records = tracker.close_until(T + 120)
    assert len(records) == 2 * len(CONFIG.machines)
    mine = [r for r in records if r.target_id == M.id]
    first, second = mine
    assert (first.made, first.good, first.producing_s) == (2, 1, 60.0)
    assert first.availability == 1.0
    assert first.performance == 1.0  # two nominal cycles fit no 60 s: capped at 1
    assert first.quality == 0.5 and first.oee == 0.5
    assert second.producing_s == 30.0 and second.availability == 0.5
    assert second.performance == 0.0 and second.quality is None and second.oee is None
    assert decode(encode(second)) == second
    assert second.kafka_key == M.id and second.occurred_at == to_datetime(T + 120)


def test_shutdown_time_is_not_held_against_availability() -> None:
    tracker = OeeTruthTracker(CONFIG, T)
    tracker.status(M.id, MachineStatus.SHUTDOWN, T + 30)
    (record,) = [r for r in tracker.close_until(T + 60) if r.target_id == M.id]
    assert (record.producing_s, record.shutdown_s, record.availability) == (30.0, 30.0, 1.0)


def test_a_day_of_production_gives_one_record_per_machine_and_minute() -> None:
    production = ComponentProduction(CONFIG, random.Random(1), IdSource(random.Random(2)), T)
    tracker = OeeTruthTracker(CONFIG, T)
    records = []
    for hour in range(1, 25):
        for event in production.produce_until(T + hour * 3600):
            tracker.made(event)
        records += tracker.close_until(T + hour * 3600)
    assert len(records) == 24 * 60 * len(CONFIG.machines)
    assert sum(r.made for r in records) == sum(production.produced.values())
    mean_availability = sum(r.availability or 0 for r in records) / len(records)
    assert mean_availability == pytest.approx(1.0)
    assert len({r.event_id for r in records}) == len(records)
