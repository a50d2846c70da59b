"""Machine status model and telemetry: reports, breakdowns, maintenance, commands."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import msgspec
import pytest

from widget_factory import schemas
from widget_factory.core.clock import to_epoch
from widget_factory.core.ids import IdSource
from widget_factory.core.machines import MachineFleet, StatusChange, UnknownMachine
from widget_factory.errors import FactoryError
from widget_factory.factory_config import FactoryConfig, default_config
from widget_factory.schemas import MachineStatus, MachineTelemetry

START = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
HOUR = 3600.0
FRAME = "FRAME_MACHINE_01"
STATION = "ASSEMBLY_STATION_B"


def _config(**telemetry: object) -> FactoryConfig:
    config = default_config()
    return msgspec.structs.replace(
        config, telemetry=msgspec.structs.replace(config.telemetry, **telemetry)
    )


def _fleet(config: FactoryConfig | None = None, seed: int = 11) -> MachineFleet:
    rng = random.Random(seed)
    return MachineFleet(config or default_config(), rng, IdSource(rng), START)


def _quiet() -> FactoryConfig:
    """No breakdowns, no wear: machines run until told otherwise."""
    return _config(error_rate_per_hour=0.0, wear_per_hour=0.0)


def _of(reports: list[MachineTelemetry], machine_id: str) -> list[MachineTelemetry]:
    return [r for r in reports if r.machine_id == machine_id]


def test_thirteen_machines_report_every_interval() -> None:
    fleet = _fleet()
    assert fleet.machine_ids() == default_config().all_machine_ids
    assert len(fleet.machine_ids()) == 13
    reports, _ = fleet.report_until(START + HOUR)
    times = [to_epoch(r.timestamp) for r in reports]
    assert times == sorted(times)
    for machine_id in fleet.machine_ids():
        mine = [to_epoch(r.timestamp) for r in _of(reports, machine_id)]
        assert START <= mine[0] < START + 15
        assert len(mine) in (239, 240)
        gaps = {round(b - a, 6) for a, b in zip(mine, mine[1:], strict=False)}
        assert gaps == {15.0}
    assert fleet.next_time() > START + HOUR
    assert fleet.report_until(START + HOUR) == ([], [])


def test_types_and_locations_come_from_the_config() -> None:
    config = default_config()
    reports, _ = _fleet().report_until(START + 15)
    by_id = {r.machine_id: r for r in reports}
    for machine in config.machines:
        report = by_id[machine.id]
        assert report.machine_type == machine.machine_type
        assert report.location == schemas.Location(
            machine.location.building, machine.location.floor, machine.location.line
        )
    assert by_id[STATION].machine_type == "widget_assembly"
    assert by_id[STATION].location.line == "B"


def test_cycle_count_follows_the_mean_cycle_time() -> None:
    fleet = _fleet(_quiet())
    reports, changes = fleet.report_until(START + 2 * HOUR)
    assert changes == []
    frame = _of(reports, FRAME)
    counts = [r.metrics.cycle_count for r in frame]
    assert counts == sorted(counts)
    elapsed = to_epoch(frame[-1].timestamp) - START
    assert counts[-1] == pytest.approx(elapsed / 60.0, abs=2)  # FRAME: 45-75 s
    station = _of(reports, STATION)[-1]  # builds industrial (600 s) and smart (540 s)
    assert station.metrics.cycle_count == pytest.approx(
        (to_epoch(station.timestamp) - START) / 570.0, abs=1
    )


def test_high_error_rate_breaks_machines_then_repairs_them() -> None:
    fleet = _fleet(_config(error_rate_per_hour=500.0, repair_s=(600.0, 900.0)))
    reports, changes = fleet.report_until(START + 3 * HOUR)
    mine = [c for c in changes if c.machine_id == FRAME]
    assert mine[0].reason == "breakdown"
    assert (mine[0].previous, mine[0].current) == (MachineStatus.RUNNING, MachineStatus.ERROR)
    assert mine[1].reason == "repaired"
    assert (mine[1].previous, mine[1].current) == (MachineStatus.ERROR, MachineStatus.RUNNING)
    assert 600 - 1e-5 <= mine[1].at - mine[0].at <= 900 + 1e-5
    assert [c.at for c in changes] == sorted(c.at for c in changes)
    in_error = [r for r in _of(reports, FRAME) if mine[0].at <= to_epoch(r.timestamp) < mine[1].at]
    assert in_error and all(r.status is MachineStatus.ERROR for r in in_error)
    assert all(r.metrics.power_consumption_watts <= 50 for r in in_error)


def test_breakdowns_are_rare_at_the_reference_rate() -> None:
    _, changes = _fleet(seed=1).report_until(START + 8 * HOUR)
    breakdowns = [c for c in changes if c.reason == "breakdown"]
    # 13 machines x 8 h x about 0.05-0.15 per hour.
    assert len(breakdowns) < 40


def test_wear_triggers_maintenance_which_resets_it() -> None:
    config = _config(error_rate_per_hour=0.0, wear_per_hour=36.0, maintenance_s=(900.0, 1000.0))
    fleet = _fleet(config)
    reports, changes = fleet.report_until(START + HOUR)
    mine = [c for c in changes if c.machine_id == FRAME]
    assert [c.reason for c in mine[:2]] == ["maintenance", "maintenance done"]
    assert mine[0].current is MachineStatus.MAINTENANCE
    assert 900 - 1e-5 <= mine[1].at - mine[0].at <= 1000 + 1e-5
    maintained = [
        r for r in _of(reports, FRAME) if mine[0].at <= to_epoch(r.timestamp) < mine[1].at
    ]
    assert all(r.status is MachineStatus.MAINTENANCE for r in maintained)
    assert all(r.metrics.efficiency_percent == 0 for r in maintained)
    # Replayed to the first report after maintenance (same seed, same run): the wear
    # starts again from zero there, at 0.01 per second.
    replay = _fleet(config)
    replay.report_until(mine[1].at + 15)
    assert replay.status(FRAME) is MachineStatus.RUNNING
    assert replay.wear(FRAME) <= 0.01 * 15 + 1e-9


def test_maintain_command_resets_wear() -> None:
    fleet = _fleet(_config(error_rate_per_hour=0.0, maintenance_s=(900.0, 900.0)))
    fleet.report_until(START + HOUR)
    assert fleet.wear(FRAME) > 0.0
    report, change = fleet.maintain(FRAME, START + HOUR)
    assert report.status is MachineStatus.MAINTENANCE
    assert change == StatusChange(
        FRAME, MachineStatus.RUNNING, MachineStatus.MAINTENANCE, START + HOUR, "maintenance"
    )
    assert fleet.maintain(FRAME, START + HOUR + 1)[1] is None
    _, changes = fleet.report_until(START + HOUR + 930)
    done = [c for c in changes if c.machine_id == FRAME]
    assert [(c.reason, c.at) for c in done] == [("maintenance done", START + HOUR + 900)]
    assert fleet.status(FRAME) is MachineStatus.RUNNING
    assert fleet.wear(FRAME) < 0.001


def test_inject_anomaly_gives_error_and_anomalous_readings_until_repaired() -> None:
    fleet = _fleet(_quiet())
    fleet.report_until(START + HOUR)
    report, change = fleet.inject_anomaly(FRAME, START + HOUR)
    assert report.status is MachineStatus.ERROR
    assert report.metrics.temperature_celsius > 100
    assert report.metrics.vibration_level > 6
    assert change is not None and change.reason == "anomaly injected"
    assert (change.previous, change.current) == (MachineStatus.RUNNING, MachineStatus.ERROR)
    assert fleet.status(FRAME) is MachineStatus.ERROR
    reports, changes = fleet.report_until(START + 2 * HOUR)
    repaired = [c for c in changes if c.machine_id == FRAME]
    assert [c.reason for c in repaired] == ["repaired"]
    repair_s = default_config().telemetry.repair_s
    assert repair_s[0] <= repaired[0].at - (START + HOUR) <= repair_s[1]
    frame = _of(reports, FRAME)
    during = [r for r in frame if to_epoch(r.timestamp) < repaired[0].at]
    after = [r for r in frame if to_epoch(r.timestamp) >= repaired[0].at]
    assert during and all(r.metrics.temperature_celsius > 90 for r in during)
    assert all(r.status is MachineStatus.ERROR for r in during)
    assert after and all(r.status is MachineStatus.RUNNING for r in after)
    assert all(r.metrics.temperature_celsius < 80 for r in after)


def test_stop_shuts_down_with_no_breakdowns_until_start() -> None:
    fleet = _fleet(_config(error_rate_per_hour=500.0, repair_s=(1.0, 2.0)))
    report, change = fleet.stop(FRAME, START)
    assert report.status is MachineStatus.SHUTDOWN
    assert change is not None and change.reason == "stopped"
    assert fleet.stop(FRAME, START + 1)[1] is None
    reports, changes = fleet.report_until(START + 5 * HOUR)
    assert [c for c in changes if c.machine_id == FRAME] == []
    frame = _of(reports, FRAME)
    assert len(frame) > 1000
    assert all(r.status is MachineStatus.SHUTDOWN for r in frame)
    assert all(r.metrics.power_consumption_watts == 0 for r in frame)
    assert all(r.metrics.vibration_level == 0 for r in frame)
    # Everyone else did break down.
    assert {c.machine_id for c in changes if c.reason == "breakdown"} == set(
        fleet.machine_ids()
    ) - {FRAME}


def test_start_goes_idle_then_running_at_the_next_report() -> None:
    fleet = _fleet(_quiet())
    fleet.stop(FRAME, START)
    fleet.report_until(START + HOUR)
    report, change = fleet.start(FRAME, START + HOUR)
    assert report.status is MachineStatus.IDLE
    assert change == StatusChange(
        FRAME, MachineStatus.SHUTDOWN, MachineStatus.IDLE, START + HOUR, "started"
    )
    reports, changes = fleet.report_until(START + HOUR + 15)
    assert _of(reports, FRAME)[0].status is MachineStatus.RUNNING
    assert [(c.previous, c.current, c.reason) for c in changes] == [
        (MachineStatus.IDLE, MachineStatus.RUNNING, "started")
    ]
    # Starting a running machine is a no-op.
    report, change = fleet.start(FRAME, START + HOUR + 20)
    assert change is None
    assert report.status is MachineStatus.RUNNING


def test_unknown_machine_is_refused_by_name() -> None:
    fleet = _fleet()
    for command in (fleet.inject_anomaly, fleet.stop, fleet.start, fleet.maintain):
        with pytest.raises(UnknownMachine) as info:
            command("FRAME_MACHINE_99", START)
        assert "FRAME_MACHINE_99" in str(info.value)
        assert FRAME in str(info.value)
        assert isinstance(info.value, KeyError)
        assert isinstance(info.value, FactoryError)
    with pytest.raises(UnknownMachine):
        fleet.status("NOPE")


def test_readings_are_shaped_by_status() -> None:
    fleet = _fleet(_quiet())
    running, _ = fleet.report_until(START + HOUR)
    running_power = [r.metrics.power_consumption_watts for r in _of(running, FRAME)]
    assert min(running_power) > 1500
    assert all(r.metrics.efficiency_percent > 70 for r in running)
    assert all(30 < r.metrics.temperature_celsius < 90 for r in running)
    error_report, _ = fleet.inject_anomaly(FRAME, START + HOUR)
    assert error_report.metrics.power_consumption_watts < min(running_power)
    maintenance_report, _ = fleet.maintain(STATION, START + HOUR)
    assert maintenance_report.metrics.efficiency_percent == 0
    assert maintenance_report.metrics.temperature_celsius < 35
    assert 50 <= maintenance_report.metrics.power_consumption_watts <= 150
    shutdown_report, _ = fleet.stop("SENSOR_CALIB_01", START + HOUR)
    assert shutdown_report.metrics.power_consumption_watts == 0
    assert shutdown_report.metrics.temperature_celsius < 30


def test_ordinary_error_readings_are_hot_and_weak() -> None:
    fleet = _fleet(_config(error_rate_per_hour=500.0, repair_s=(3000.0, 3000.0)))
    reports, _ = fleet.report_until(START + HOUR)
    errors = [r for r in reports if r.status is MachineStatus.ERROR]
    assert len(errors) > 100
    assert all(r.metrics.power_consumption_watts <= 50 for r in errors)
    assert all(r.metrics.efficiency_percent <= 20 for r in errors)
    mean_temperature = sum(r.metrics.temperature_celsius for r in errors) / len(errors)
    assert mean_temperature == pytest.approx(85, abs=2)


def test_same_seed_same_reports() -> None:
    def run(seed: int) -> list[bytes]:
        fleet = _fleet(_config(error_rate_per_hour=2.0), seed=seed)
        out = [schemas.encode(r) for r in fleet.report_until(START + HOUR)[0]]
        out.append(schemas.encode(fleet.inject_anomaly(FRAME, START + HOUR)[0]))
        out += [schemas.encode(r) for r in fleet.report_until(START + 4 * HOUR)[0]]
        return out

    assert run(5) == run(5)
    assert run(5) != run(6)


def test_every_report_round_trips_through_the_schema() -> None:
    fleet = _fleet(_config(error_rate_per_hour=1.0, wear_per_hour=2.0))
    reports, changes = fleet.report_until(START + 6 * HOUR)
    reports.append(fleet.inject_anomaly(FRAME, START + 6 * HOUR)[0])
    reports.append(fleet.stop(STATION, START + 6 * HOUR)[0])
    statuses = {r.status for r in reports}
    assert statuses >= {
        MachineStatus.RUNNING,
        MachineStatus.ERROR,
        MachineStatus.MAINTENANCE,
        MachineStatus.SHUTDOWN,
    }
    assert {c.reason for c in changes} >= {
        "breakdown",
        "repaired",
        "maintenance",
        "maintenance done",
    }
    for report in reports:
        assert schemas.decode(schemas.encode(report)) == report
    assert len({r.event_id for r in reports}) == len(reports)
