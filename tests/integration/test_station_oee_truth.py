"""The stations' true OEE on ``factory-ground-truth``, over a real broker.

A drained three-hour run at ``--speed max`` (``--seed 7``, a fixed ``--start``): every
station has one ``oee_truth`` record per window; its ``good`` count is the number of
quality control's ``pass`` checks of the station's widgets completed in that window (the
assembly service computes the verdict quality control will publish); and a window the
answer key's starvation spells cover loses availability by exactly that time.
"""

from __future__ import annotations

import math
from collections import Counter

import pytest

from tests.conftest import run_drained
from widget_factory.core.inspection import QualityInspection
from widget_factory.factory_config import default_config
from widget_factory.kafka_io.broker import EmbeddedBroker
from widget_factory.kafka_io.reader import read_to_end
from widget_factory.kafka_io.settings import KafkaSettings
from widget_factory.kafka_io.topics import FACTORY_GROUND_TRUTH, QUALITY_CONTROL, WIDGET_ASSEMBLY
from widget_factory.schemas import (
    FaultTruth,
    OeeTruth,
    QualityCheck,
    QualityStatus,
    WidgetAssembled,
    decode,
    decode_as,
)

pytestmark = pytest.mark.integration

START = "2026-03-01T00:00:00+00:00"
SEED = 7
CONFIG = default_config()
STATIONS = {s.id for s in CONFIG.stations}


def test_every_station_has_its_true_oee_per_window(own_broker: EmbeddedBroker) -> None:
    bootstrap = own_broker.bootstrap_servers
    settings = KafkaSettings(bootstrap, source="flag")
    run_drained(bootstrap, seed=SEED, extra=("--start", START, "--no-dashboard", "--no-analytics"))
    stations: list[OeeTruth] = []
    machines: list[bytes] = []
    spells: list[FaultTruth] = []
    for message in read_to_end(settings, [FACTORY_GROUND_TRUTH]):
        event = decode(message.value())
        if isinstance(event, OeeTruth) and event.target_kind == "station":
            stations.append(event)
            assert message.key() == event.target_id.encode()
        elif isinstance(event, OeeTruth):
            machines.append(message.value())
        elif isinstance(event, FaultTruth) and event.kind == "starvation" and event.phase == "end":
            spells.append(event)

    # one record per station and window, the machines' as before (no target_type)
    per_window = Counter((r.target_id, r.window_start.timestamp()) for r in stations)
    assert {s for s, _ in per_window} == STATIONS
    assert set(per_window.values()) == {1} and len(per_window) == 3 * 60 * len(STATIONS)
    assert len({r.event_id for r in stations}) == len(stations)
    assert len(machines) == 3 * 60 * len(CONFIG.machines)
    assert not any(b"target_type" in value for value in machines)

    # good: the quality checks that passed, of the station's widgets completed in the window
    widgets = [
        decode_as(m.value(), WidgetAssembled) for m in read_to_end(settings, [WIDGET_ASSEMBLY])
    ]
    checks = {
        c.widget_id: c
        for c in (
            decode_as(m.value(), QualityCheck) for m in read_to_end(settings, [QUALITY_CONTROL])
        )
    }
    inspection = QualityInspection(CONFIG, SEED)
    made: Counter[tuple[str, float]] = Counter()
    passed: Counter[tuple[str, float]] = Counter()
    for widget in widgets:
        check = checks[widget.widget_id]
        # the verdict the assembly side computes is the one quality control published
        mine = inspection.inspect(widget, check.inspector_id, check.checked_at.timestamp())
        assert mine == check, widget.widget_id
        key = (
            widget.assembly_station_id,
            60 * math.floor(widget.assembly_completed_at.timestamp() / 60),
        )
        made[key] += 1
        passed[key] += check.status is QualityStatus.PASS
    assert sum(r.made for r in stations) >= 50
    assert 0 < sum(r.good for r in stations) < sum(r.made for r in stations)
    for record in stations:
        key = (record.target_id, record.window_start.timestamp())
        assert (record.made, record.good) == (made[key], passed[key]), key

    # availability: the starvation spells' time in each window is lost
    assert spells
    starved_windows = 0
    for record in stations:
        begin, end = record.window_start.timestamp(), record.window_end.timestamp()
        overlap = sum(
            max(0.0, min(end, s.ended_at.timestamp()) - max(begin, s.started_at.timestamp()))
            for s in spells
            if s.target_id == record.target_id and s.ended_at is not None
        )
        assert record.starved_s <= overlap + 1e-3, record
        if overlap == 0:
            assert record.starved_s == 0.0, record
            continue
        starved_windows += 1
        assert record.producing_s <= 60.0 - overlap + 1e-3, record  # no time counts twice
        if overlap >= 1.0:
            assert record.availability is not None and record.availability < 1.0, record
    assert starved_windows >= 10
