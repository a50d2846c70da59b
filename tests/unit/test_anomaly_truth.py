"""An injected anomaly is recorded as one, by the answer key and by the alert alike."""

from __future__ import annotations

import random

from tests.unit.test_machines import FRAME, HOUR, START, _config, _fleet, _of, _quiet
from widget_factory.core.clock import to_datetime, to_epoch
from widget_factory.core.ground_truth import FaultTracker
from widget_factory.core.ids import IdSource
from widget_factory.core.machine_alerts import machine_error_alert
from widget_factory.factory_config import default_config
from widget_factory.schemas import MachineStatus


def _alert_words(change: object) -> str:
    alert = machine_error_alert(change, IdSource(random.Random(1)))  # type: ignore[arg-type]
    assert alert is not None and alert.kind == "machine_error"
    return alert.message


def test_a_commanded_anomaly_on_a_running_machine_is_an_anomaly_caused_by_the_command() -> None:
    fleet = _fleet(_quiet())
    tracker = FaultTracker(default_config())
    fleet.report_until(START + HOUR)
    _, change = fleet.inject_anomaly(FRAME, START + HOUR + 5, "command")
    assert change is not None
    assert (change.previous, change.current) == (MachineStatus.RUNNING, MachineStatus.ERROR)
    assert (change.reason, change.cause) == ("anomaly injected", "command")
    [begin] = tracker.observe(change)
    assert (begin.phase, begin.kind, begin.cause) == ("begin", "anomaly", "command")
    assert begin.started_at == to_datetime(START + HOUR + 5)
    assert (
        f"Machine {FRAME} in ERROR state (anomaly injected: anomaly, cause command)"
        == _alert_words(change)
    )


def test_an_anomaly_on_a_machine_broken_down_ends_the_breakdown_and_begins_an_anomaly() -> None:
    # every running machine breaks down at its first report and stays down an hour
    fleet = _fleet(_config(error_rate_per_hour=1e6, repair_s=(HOUR, HOUR)))
    tracker = FaultTracker(default_config())
    _, changes = fleet.report_until(START + 60)
    records = tracker.observe_all(changes)
    [breakdown] = [r for r in records if r.target_id == FRAME]
    assert (breakdown.kind, breakdown.cause) == ("breakdown", "random")
    assert "breakdown, cause random" in _alert_words(
        next(c for c in changes if c.machine_id == FRAME)
    )

    report, change = fleet.inject_anomaly(FRAME, START + 100, "scenario")
    assert report.status is MachineStatus.ERROR
    assert report.metrics.temperature_celsius > 100  # anomalous readings from now on
    assert change is not None
    assert (change.previous, change.current, change.cause) == (
        MachineStatus.ERROR,
        MachineStatus.ERROR,
        "scenario",
    )
    assert fleet.take_changes() == []
    end, begin = tracker.observe(change)
    assert (end.phase, end.fault_id, end.ended_at) == (
        "end",
        breakdown.fault_id,
        to_datetime(START + 100),
    )
    assert (begin.phase, begin.kind, begin.cause) == ("begin", "anomaly", "scenario")
    assert begin.expected_end_at == to_datetime(change.until)
    assert "anomaly, cause scenario" in _alert_words(change)
    # a second anomaly while the first lasts changes nothing
    assert fleet.inject_anomaly(FRAME, START + 200, "command")[1] is None


def test_a_breakdown_drawn_for_the_instant_of_an_anomaly_command_gives_way_to_it() -> None:
    """The breakdown draw covers the time since the last report and is dated at its end:
    for a command's instant, that is the command's doing, not a random breakdown."""
    # breakdowns certain in any interval, repaired within two seconds
    fleet = _fleet(_config(error_rate_per_hour=1e6, repair_s=(1.0, 2.0)))
    reports, _ = fleet.report_until(START + HOUR)
    last = to_epoch(_of(reports, FRAME)[-1].timestamp)
    _, change = fleet.inject_anomaly(FRAME, last + 10, "command")
    earlier = fleet.take_changes()
    assert [c.reason for c in earlier if c.machine_id == FRAME] == ["repaired"]
    assert change is not None
    assert (change.previous, change.reason, change.cause) == (
        MachineStatus.RUNNING,
        "anomaly injected",
        "command",
    )
    tracker = FaultTracker(default_config())
    kinds = [(r.phase, r.kind, r.cause) for r in tracker.observe_all([*earlier, change])]
    assert ("begin", "anomaly", "command") in kinds
    assert not [k for k in kinds if k[0] == "begin" and k[1] == "breakdown"]
