"""Telemetry reports made a batch at a time (core/report_batch.py, core/telemetry_text.py)
are byte for byte the reports the scalar code makes: every kind of machine state, every
command, the times and numbers as msgspec writes them."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import msgspec
import numpy as np
import pytest

from widget_factory.core.ids import IdSource
from widget_factory.core.machine_state import MachineUnit
from widget_factory.core.machines import COMMAND_NAMES, MachineFleet
from widget_factory.core.report_batch import WINDOW
from widget_factory.core.telemetry_text import ReportTimes, RunningTemplate, encoded_numbers
from widget_factory.factory_config import FactoryConfig, LocationSpec, default_config
from widget_factory.schemas import MachineTelemetry, TelemetryMetrics, encode

START = datetime(2026, 1, 1, tzinfo=UTC).timestamp()


def _as_sent(event: MachineTelemetry) -> tuple[bytes, bytes, int]:
    return event.kafka_key.encode(), encode(event), int(event.timestamp.timestamp() * 1000)


def _busy() -> FactoryConfig:
    """Machines that break down, wear out and go to maintenance often."""
    config = default_config()
    return msgspec.structs.replace(
        config,
        telemetry=msgspec.structs.replace(
            config.telemetry, error_rate_per_hour=1.5, wear_per_hour=0.4
        ),
    )


@pytest.mark.parametrize("seed", [1, 2])
def test_batched_records_are_the_scalar_reports_under_every_command(seed: int) -> None:
    """Two fleets, the same seeds and commands: one makes records a batch at a time, the
    other events one by one. Breakdowns, repairs, maintenance, anomalies, stops and
    starts (a shut-down machine's lone gauss), kanban holds and releases all happen."""
    config = _busy()
    batched, scalar = (
        MachineFleet(config, random.Random(seed), IdSource(random.Random(seed + 50)), START)
        for _ in "ab"
    )
    machines = config.all_machine_ids
    plan = random.Random(seed + 100)
    now, sent, changes_seen = START, 0, 0
    commands = sorted(COMMAND_NAMES)
    for step in range(80):
        # short steps, and once one longer than a plan's window
        now += 15.0 * WINDOW * 1.3 if step == 40 else plan.choice([7.0, 60.0, 600.0, 1800.0])
        for _ in range(plan.randrange(3)):
            command, machine = plan.choice(commands), plan.choice(machines)
            when = now - plan.uniform(0.0, 30.0)
            if plan.random() < 0.5:  # at the machine's next report
                for fleet in (batched, scalar):
                    fleet.order(command, machine, when)
            else:  # at once, with a report of its own
                act = {
                    "inject_anomaly": "inject_anomaly",
                    "stop_machine": "stop",
                    "start_machine": "start",
                    "maintenance": "maintain",
                    "kanban_hold": "hold",
                    "kanban_release": "release",
                }[command]
                own = [getattr(fleet, act)(machine, when) for fleet in (batched, scalar)]
                assert _as_sent(own[0][0]) == _as_sent(own[1][0])
        records, changes = batched.report_records_until(now)
        reports, same_changes = scalar.report_until(now)
        assert changes == same_changes
        assert [(r.key, r.value, r.timestamp_ms) for r in records] == list(map(_as_sent, reports))
        sent += len(records)
        changes_seen += len(changes)
    assert sent > 20_000 and changes_seen > 100


def test_a_template_writes_what_msgspec_writes() -> None:
    rng = random.Random(4)
    names = ['M "quoted" 01', "Maschine_ü_02", "100% LOAD", "back\\slash", "PLAIN_01"]
    for name in names:
        location = LocationSpec(name[:3], rng.randrange(-2, 9), f"line {name[-2:]}")
        unit = MachineUnit(0, name, "kind/" + name, location, 30.0, 0.3, START)
        template = RunningTemplate(unit).text
        for _ in range(200):
            t = START + rng.uniform(0, 3e8)
            metrics = TelemetryMetrics(
                round(rng.uniform(-40, 140), 2),
                round(rng.uniform(0, 20), 2),
                round(rng.uniform(0, 1e5), 2),
                rng.randrange(0, 10**9),
                round(rng.uniform(0, 100), 2),
            )
            when = datetime.fromtimestamp(t, UTC)
            event_id = IdSource(rng).event_id()
            expected = encode(
                MachineTelemetry(
                    event_id=event_id,
                    machine_id=name,
                    machine_type="kind/" + name,
                    timestamp=when,
                    status=unit.status,
                    metrics=metrics,
                    location=unit.location,
                )
            )
            times = ReportTimes()
            day, clock, fraction = (
                p[0] for p in times.parts(ReportTimes.microseconds(np.array([t])))
            )
            numbers = (
                encoded_numbers(
                    [
                        metrics.temperature_celsius,
                        metrics.vibration_level,
                        metrics.power_consumption_watts,
                    ]
                )
                + encoded_numbers([metrics.cycle_count])
                + encoded_numbers([metrics.efficiency_percent])
            )
            written = template % (event_id.encode(), day, clock, fraction, *numbers)
            assert written == expected


def test_times_are_what_datetime_gives() -> None:
    """Microseconds as fromtimestamp rounds them (half to even, carries into the next
    second), epoch milliseconds as timestamp() gives them, the text as msgspec writes it."""
    rng = random.Random(8)
    times = [START + rng.uniform(0, 4e8) for _ in range(20_000)]
    times += [
        START + n + f
        for n in range(0, 400, 7)
        for f in (0.0, 0.5e-6, 1.5e-6, 0.9999995, 0.9999996, 0.25)
    ]
    times += [float(n) for n in range(0, 200_000, 9_999)]  # whole seconds, and 1970
    micro = ReportTimes.microseconds(np.array(times))
    report_times = ReportTimes()
    days, clocks, fractions = report_times.parts(micro)
    milliseconds = ReportTimes.milliseconds(micro)
    for i, t in enumerate(times):
        when = datetime.fromtimestamp(t, UTC)
        assert milliseconds[i] == int(when.timestamp() * 1000), t
        assert b'"' + days[i] + clocks[i] + fractions[i] + b'"' == msgspec.json.encode(when), t


def test_only_a_reporting_fleet_loads_numpy() -> None:
    """numpy costs a process some 20 MB: no service loads it on start (their peak memory
    is a bench target); telemetry loads it when its fleet is built, component production
    only for its first batch of 64 components or more (a paced factory never has one)."""
    import subprocess
    import sys

    services = (
        "component_production_simulator",
        "widget_assembly_simulator",
        "quality_control_simulator",
        "inventory_simulator",
        "analytics.service",
        "machine_telemetry_simulator",  # it loads numpy when its fleet is built
    )
    code = "; ".join(f"import widget_factory.{name}" for name in services)
    loaded = subprocess.run(
        [sys.executable, "-c", f"{code}; import sys; print('numpy' in sys.modules)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert loaded == "False"
