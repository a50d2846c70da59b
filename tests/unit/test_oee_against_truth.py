"""The analytics' OEE against the answer key's, for the same machine history.

The truth (``core/oee_truth.py``) knows the instant of every status change; the
analytics (``core/analytics_windows.py``) sees the status only in telemetry reports
every ``telemetry_interval_s`` (15 s), each held until the next. A change at ``c`` is
reported at the next report ``t >= c``, so ``t - c < 15 s`` are given to the old status:
per window, availability is off by at most (changes reaching into it) x 15 s /
(window - shutdown time), performance by that share of its producing time, quality not
at all (docs/analytics.md, "OEE against the answer key").
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest

from widget_factory.core.analytics_windows import FactoryAnalytics
from widget_factory.core.clock import to_datetime
from widget_factory.core.ids import IdSource
from widget_factory.core.oee_truth import OeeTruthTracker
from widget_factory.core.production import PRODUCING_STATUSES
from widget_factory.factory_config import default_config
from widget_factory.schemas import (
    ComponentProduced,
    Dimensions,
    Location,
    MachineStatus,
    MachineTelemetry,
    OeeTruth,
    QualityMetrics,
    TelemetryMetrics,
)

CONFIG = default_config()
MACHINE = CONFIG.machines[0]
SAMPLE_S = CONFIG.simulation.telemetry_interval_s
HOUR = 3600.0
T = 1_767_225_600.0  # a whole hour
WINDOW_S = 60.0


@dataclass
class History:
    changes: list[tuple[float, MachineStatus]]
    """(instant, status from then on), the first at T."""
    components: list[ComponentProduced]

    def status_at(self, t: float) -> MachineStatus:
        current = self.changes[0][1]
        for at, status in self.changes:
            if at > t:
                break
            current = status
        return current


def _history(rng: random.Random, hours: int, faults_per_hour: int) -> History:
    """Running spells broken by faults that begin and end at arbitrary instants."""
    ids = IdSource(random.Random(rng.random()))
    end = T + hours * HOUR
    changes = [(T, MachineStatus.RUNNING)]
    for hour in range(hours):
        slots = sorted(rng.uniform(0, HOUR - 700) for _ in range(faults_per_hour))
        for i, offset in enumerate(slots):
            begin = T + hour * HOUR + offset + i * 1.0
            begin = max(begin, changes[-1][0] + 1.0)
            status = rng.choice(
                [MachineStatus.ERROR, MachineStatus.MAINTENANCE, MachineStatus.SHUTDOWN]
            )
            changes.append((begin, status))
            changes.append((begin + rng.uniform(20.0, 600.0), MachineStatus.RUNNING))
    nominal = sum(MACHINE.cycle_time_s) / 2
    components = []
    t = T + rng.uniform(0, nominal)
    history = History(changes, components)
    while t < end:
        if history.status_at(t) in PRODUCING_STATUSES:
            components.append(
                ComponentProduced(
                    event_id=ids.event_id(),
                    component_id=ids.component_id(MACHINE.component_type),
                    component_type=MACHINE.component_type,
                    machine_id=MACHINE.id,
                    batch_id="B",
                    produced_at=to_datetime(t),
                    quality_metrics=QualityMetrics(
                        1.0, Dimensions(1, 1, 1), 22.0, int(rng.random() < 0.2)
                    ),
                    production_line="LINE_A",
                )
            )
            t += nominal * rng.uniform(0.7, 1.3)
        else:
            t += 1.0
    return history


def _truth(history: History, hours: int) -> dict[float, OeeTruth]:
    tracker = OeeTruthTracker(CONFIG, T, WINDOW_S)
    for at, status in history.changes:
        tracker.status(MACHINE.id, status, at)
    for component in history.components:
        tracker.made(component)
    return {
        r.window_start.timestamp(): r
        for r in tracker.close_until(T + hours * HOUR)
        if r.target_id == MACHINE.id
    }


def _analytics(history: History, hours: int) -> dict[float, dict]:
    engine = FactoryAnalytics(CONFIG, window_s=WINDOW_S)
    reports = int(hours * HOUR / SAMPLE_S)
    for k in range(reports + 1):  # a report every 15 s, the last at the end
        t = T + k * SAMPLE_S
        engine.add_telemetry(
            MachineTelemetry(
                event_id=f"report-{k}",
                machine_id=MACHINE.id,
                machine_type=MACHINE.machine_type,
                timestamp=to_datetime(t),
                status=history.status_at(t),
                metrics=TelemetryMetrics(40.0, 1.0, 2000.0, 1, 90.0),
                location=Location("A", 1, "A"),
            )
        )
    for component in history.components:
        engine.add_component(component)
    return {
        m.window_start.timestamp(): dict(m.values)
        for m in engine.flush()
        if m.metric == "machine_oee" and m.key == MACHINE.id
    }


def _changes_reaching(history: History, begin: float, end: float) -> int:
    """Changes whose misattributed time (up to the next report) can fall in the window."""
    return sum(1 for at, _ in history.changes[1:] if begin - SAMPLE_S < at < end)


@pytest.mark.parametrize("seed", range(6))
def test_per_window_error_stays_within_the_sampling_bound(seed: int) -> None:
    history = _history(random.Random(seed), hours=2, faults_per_hour=3)
    truth, seen = _truth(history, 2), _analytics(history, 2)
    assert set(truth) == set(seen) and len(truth) == 120
    exact = differing = 0
    for start, record in truth.items():
        values = seen[start]
        assert values["observed_s"] == pytest.approx(WINDOW_S)
        assert (values["made"], values["good"]) == (record.made, record.good)
        assert values["quality"] == pytest.approx(record.quality, abs=1e-4)
        n = _changes_reaching(history, start, start + WINDOW_S)
        planned = WINDOW_S - max(record.shutdown_s, values["shutdown_s"])
        if n == 0:
            exact += 1
            assert values["availability"] == pytest.approx(record.availability, abs=1e-4)
            assert values["performance"] == pytest.approx(record.performance, abs=1e-4)
            assert values["oee"] == pytest.approx(record.oee, abs=1e-4)
            continue
        bound = n * SAMPLE_S / planned if planned > 0 else 1.0
        if record.availability is not None and values["availability"] is not None:
            error = abs(values["availability"] - record.availability)
            assert error <= bound + 1e-4
            differing += error > 1e-4
        available = values["running_s"] + values["idle_s"]
        if record.performance is not None and values["performance"] is not None:
            least = min(record.producing_s, available)
            share = n * SAMPLE_S / least if least > 0 else 1.0
            assert abs(values["performance"] - record.performance) <= share + 1e-4
        if record.oee is not None and values["oee"] is not None:
            assert abs(values["oee"] - record.oee) <= bound + 1e-4
    assert exact > 60  # most windows have no change in reach: identical there
    assert differing > 0  # and sampling does cost some windows (the bound is tight)


def _hourly(records: list[tuple[float, float, float, int, int, float]]) -> dict[str, float]:
    available = sum(r[0] for r in records)
    shutdown = sum(r[1] for r in records)
    nominal = sum(r[2] for r in records)
    made = sum(r[3] for r in records)
    good = sum(r[4] for r in records)
    observed = sum(r[5] for r in records)
    a = available / (observed - shutdown)
    p = min(nominal, available) / available
    q = good / made
    return {"availability": a, "performance": p, "quality": q, "oee": a * p * q}


@pytest.mark.parametrize("seed", range(6))
def test_hourly_oee_is_within_one_point_of_the_truth(seed: int) -> None:
    hours = 3
    history = _history(random.Random(100 + seed), hours=hours, faults_per_hour=1)
    truth, seen = _truth(history, hours), _analytics(history, hours)
    nominal = sum(MACHINE.cycle_time_s) / 2
    for hour in range(hours):
        begin = T + hour * HOUR
        starts = [begin + i * WINDOW_S for i in range(60)]
        true_hour = _hourly(
            [
                (
                    truth[s].producing_s,
                    truth[s].shutdown_s,
                    truth[s].made * nominal,
                    truth[s].made,
                    truth[s].good,
                    WINDOW_S,
                )
                for s in starts
            ]
        )
        seen_hour = _hourly(
            [
                (
                    seen[s]["running_s"] + seen[s]["idle_s"],
                    seen[s]["shutdown_s"],
                    seen[s]["nominal_s"],
                    seen[s]["made"],
                    seen[s]["good"],
                    seen[s]["observed_s"],
                )
                for s in starts
            ]
        )
        n = _changes_reaching(history, begin, begin + HOUR)
        assert n <= 2
        for factor in ("availability", "performance", "quality", "oee"):
            error = abs(seen_hour[factor] - true_hour[factor])
            assert error <= n * SAMPLE_S / (HOUR - 600.0) + 1e-9, factor
            assert error < 0.01, factor
