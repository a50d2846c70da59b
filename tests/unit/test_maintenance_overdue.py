"""A machine overdue for maintenance: telemetry says so until the maintenance starts, and
production makes degraded parts on it meanwhile (pure models, no broker)."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import msgspec

from widget_factory.core.clock import to_epoch
from widget_factory.core.ids import IdSource
from widget_factory.core.machines import MachineFleet
from widget_factory.core.production import ComponentProduction
from widget_factory.factory_config import FactoryConfig, default_config
from widget_factory.schemas import MachineStatus

START = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
HOUR = 3600.0
FRAME = "FRAME_MACHINE_01"


def _worn(wait: tuple[float, float]) -> FactoryConfig:
    """No breakdowns; wear reaches the maintenance mark within minutes."""
    config = default_config()
    telemetry = msgspec.structs.replace(
        config.telemetry,
        error_rate_per_hour=0.0,
        wear_per_hour=6.0,
        maintenance_wait_s=wait,
        maintenance_s=(900.0, 900.0),
    )
    return msgspec.structs.replace(config, telemetry=telemetry)


def _reports(config: FactoryConfig) -> list[tuple[float, MachineStatus, bool]]:
    rng = random.Random(3)
    fleet = MachineFleet(config, rng, IdSource(rng), START)
    reports, _changes = fleet.report_until(START + 2 * HOUR)
    return [
        (to_epoch(r.timestamp), r.status, r.maintenance_overdue)
        for r in reports
        if r.machine_id == FRAME
    ]


def test_maintenance_starts_at_once_by_default_and_no_report_is_overdue() -> None:
    reports = _reports(_worn((0.0, 0.0)))
    assert not any(overdue for _t, _s, overdue in reports)
    assert any(status is MachineStatus.MAINTENANCE for _t, status, _o in reports)


def test_an_overdue_machine_says_so_until_its_maintenance_starts() -> None:
    reports = _reports(_worn((1800.0, 1800.0)))
    overdue = [t for t, _s, flag in reports if flag]
    assert overdue, "the machine never fell overdue"
    first_overdue = overdue[0]
    maintenance = [t for t, s, _o in reports if s is MachineStatus.MAINTENANCE]
    starts = [t for t in maintenance if t > first_overdue]
    assert starts and 1800 - 15 <= starts[0] - first_overdue <= 1800 + 15
    # running (overdue) reports right up to the maintenance, none during it
    assert all(s is MachineStatus.RUNNING for t, s, f in reports if f)
    assert not any(f for t, s, f in reports if s is MachineStatus.MAINTENANCE)


def test_parts_made_while_overdue_are_degraded_and_carry_more_defects() -> None:
    config = default_config()
    rng = random.Random(5)
    production = ComponentProduction(config, rng, IdSource(rng), START)
    production.set_overdue(FRAME, True, START + 10 * HOUR)
    production.set_overdue(FRAME, False, START + 20 * HOUR)
    production.set_overdue("ASSEMBLY_STATION_A", True, START)  # not a production machine
    events = [e for e in production.produce_until(START + 30 * HOUR) if e.machine_id == FRAME]
    t = [to_epoch(e.produced_at) for e in events]
    during = [
        e for e, at in zip(events, t, strict=True) if START + 10 * HOUR <= at < START + 20 * HOUR
    ]
    outside = [
        e
        for e, at in zip(events, t, strict=True)
        if not START + 10 * HOUR <= at < START + 20 * HOUR
    ]
    assert len(during) > 100 and len(outside) > 200
    assert all(e.made_while_degraded for e in during)
    assert not any(e.made_while_degraded for e in outside)

    def mean_defects(parts: list) -> float:  # type: ignore[type-arg]
        return sum(e.quality_metrics.defect_count for e in parts) / len(parts)

    # healthy 80/15/4/1 % (0.26 a part) against degraded 25/35/25/15 % (1.3 a part)
    assert mean_defects(outside) < 0.45 < 0.9 < mean_defects(during)
