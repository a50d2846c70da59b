"""Commands take effect at the machine's next report, so status changes only at report
instants and a report tells the status up to the next one: production may run up to
the next report (the gate's promise) and still never make anything while down."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime

import msgspec
import pytest

from widget_factory.core.audit_status import StatusHistory, produced_while_down
from widget_factory.core.clock import to_epoch
from widget_factory.core.ground_truth import FaultTracker
from widget_factory.core.ids import IdSource
from widget_factory.core.machines import MachineFleet, UnknownMachine
from widget_factory.core.production import ComponentProduction
from widget_factory.core.status_watermark import StatusGate
from widget_factory.factory_config import FactoryConfig, default_config
from widget_factory.schemas import ComponentProduced, MachineStatus, MachineTelemetry

START = datetime(2026, 1, 1, tzinfo=UTC).timestamp()
HOUR = 3600.0
FRAME = "FRAME_MACHINE_01"
RUNNING, ERROR, IDLE = MachineStatus.RUNNING, MachineStatus.ERROR, MachineStatus.IDLE
SHUTDOWN, MAINTENANCE = MachineStatus.SHUTDOWN, MachineStatus.MAINTENANCE


def _quiet() -> FactoryConfig:
    """No breakdowns, no wear: machines change only when told."""
    config = default_config()
    telemetry = msgspec.structs.replace(
        config.telemetry, error_rate_per_hour=0.0, wear_per_hour=0.0
    )
    return msgspec.structs.replace(config, telemetry=telemetry)


def _fleet(config: FactoryConfig | None = None, seed: int = 3) -> MachineFleet:
    rng = random.Random(seed)
    return MachineFleet(config or _quiet(), rng, IdSource(rng), START)


def _times(reports: list[MachineTelemetry], machine_id: str) -> list[float]:
    return [r.timestamp.timestamp() for r in reports if r.machine_id == machine_id]


def test_a_command_takes_effect_at_the_machines_first_report_at_or_after_it() -> None:
    fleet = _fleet()
    interval = default_config().simulation.telemetry_interval_s
    reports, _ = fleet.report_until(START + HOUR)
    last = _times(reports, FRAME)[-1]
    asked = last + 1.0
    due = fleet.order("stop_machine", FRAME, asked)
    assert due == pytest.approx(last + interval, abs=1e-5)  # its next report, not at once
    assert fleet.status(FRAME) is RUNNING and fleet.pending_orders() == 1
    before, changes = fleet.report_until(due - 0.001)
    assert not changes and all(r.status is RUNNING for r in before if r.machine_id == FRAME)
    reports, changes = fleet.report_until(due)
    assert [(c.machine_id, c.current, c.at, c.cause) for c in changes] == [
        (FRAME, SHUTDOWN, due, "command")
    ]
    mine = [r for r in reports if r.machine_id == FRAME]
    assert [r.status for r in mine] == [SHUTDOWN]
    assert mine[0].timestamp.timestamp() == pytest.approx(due, abs=1e-5)
    assert fleet.pending_orders() == 0
    # a command exactly at a report instant takes effect there
    assert fleet.order("start_machine", FRAME, due + interval) == due + interval


def test_every_report_stays_on_the_machines_grid_whatever_the_commands() -> None:
    fleet = _fleet(default_config(), seed=8)
    interval = default_config().simulation.telemetry_interval_s
    reports, _ = fleet.report_until(START + 60)
    rng = random.Random(4)
    names = ["inject_anomaly", "stop_machine", "start_machine", "maintenance"]
    for step in range(1, 40):
        fleet.order(rng.choice(names), FRAME, START + step * 97.3, "scenario")
        more, _ = fleet.report_until(START + step * 97.3 + 5)
        reports += more
    times = _times(reports, FRAME)
    assert len(times) == len(set(times))  # no extra report for a command
    assert all(b - a == pytest.approx(interval) for a, b in zip(times, times[1:], strict=False))


def test_commands_for_one_machine_apply_in_the_order_given() -> None:
    fleet = _fleet()
    reports, _ = fleet.report_until(START + 100)
    last = _times(reports, FRAME)[-1]
    fleet.order("stop_machine", FRAME, last + 1)
    fleet.order("start_machine", FRAME, last + 2)
    _, changes = fleet.report_until(last + 100)
    mine = [(c.current, c.reason) for c in changes if c.machine_id == FRAME]
    assert mine[:2] == [(SHUTDOWN, "stopped"), (IDLE, "started")]
    assert mine[2] == (RUNNING, "started")  # at the report after: idle, then running
    times = [c.at for c in changes if c.machine_id == FRAME]
    assert times[0] == times[1] < times[2]


def test_an_unknown_machine_or_command_is_refused_at_once() -> None:
    fleet = _fleet()
    with pytest.raises(UnknownMachine, match="FRAME_MACHINE_99"):
        fleet.order("stop_machine", "FRAME_MACHINE_99", START)
    with pytest.raises(ValueError, match="explode"):
        fleet.order("explode", FRAME, START)
    assert fleet.pending_orders() == 0


def test_a_commanded_stop_starts_in_the_answer_key_at_the_report_that_made_it() -> None:
    config = default_config()
    fleet = MachineFleet(config, random.Random(1), IdSource(random.Random(2)), START)
    tracker = FaultTracker(config)
    machine = config.machines[0]
    fleet.report_until(START + HOUR)
    stopped_at = fleet.order("stop_machine", machine.id, START + HOUR, "command")
    _, changes = fleet.report_until(START + 2 * HOUR)
    started_at = fleet.order("start_machine", machine.id, START + 3 * HOUR, "command")
    _, more = fleet.report_until(START + 4 * HOUR)
    records = tracker.observe_all([*changes, *more])
    shutdown = [r for r in records if r.kind == "shutdown" and r.target_id == machine.id]
    assert [r.phase for r in shutdown] == ["begin", "end"]
    begin, end = shutdown
    assert begin.cause == "command"
    assert START + HOUR <= stopped_at < START + HOUR + config.simulation.telemetry_interval_s
    assert begin.started_at == end.started_at
    assert to_epoch(begin.started_at) == pytest.approx(stopped_at, abs=1e-5)
    assert end.ended_at is not None
    assert to_epoch(end.ended_at) == pytest.approx(started_at, abs=1e-5)


def _run_gated() -> tuple[list[ComponentProduced], StatusHistory]:
    """Telemetry and production of one factory, status fed to production through the
    gate a step late (then in late batches), anomalies commanded as the service does."""
    config = default_config()
    rng = random.Random(5)
    fleet = MachineFleet(config, rng, IdSource(rng), START)
    production = ComponentProduction(config, random.Random(6), IdSource(random.Random(6)), START)
    interval = config.simulation.telemetry_interval_s
    gate = StatusGate([m.id for m in config.machines], silent_after_s=60, promise_s=interval)
    history = StatusHistory()
    made: list[ComponentProduced] = []
    commands = {3600.0 + 7: "PCB_ASSEMBLER_01", 7200.0 + 3: FRAME, 9000.0 + 11: "SENSOR_CALIB_01"}
    in_flight: list[MachineTelemetry] = []
    t = START
    while t < START + 6 * 3600:
        step = 4.0 if t < START + 3 * 3600 else 400.0  # small steps, then late batches
        t += step
        # what telemetry sent last step is read now: production never passes ``t``
        for report in in_flight:
            at = report.timestamp.timestamp()
            gate.add(report.machine_id, report.status, at)
            history.add(report.machine_id, at, report.status)
        in_flight = []
        until = min(gate.horizon(), t)
        while gate.next_change() <= until:
            change = gate.next_change()
            made += production.produce_until(math.nextafter(change, -math.inf))
            for machine_id, status, at in gate.release(change):
                production.set_status(machine_id, status, at)
        made += production.produce_until(until)
        for offset, machine in commands.items():
            if t - step < START + offset <= t:
                in_flight += fleet.report_until(START + offset)[0]
                fleet.order("inject_anomaly", machine, START + offset)
        in_flight += fleet.report_until(t)[0]
    for report in in_flight:
        history.add(report.machine_id, report.timestamp.timestamp(), report.status)
    assert any(history.down_intervals(m) for m in commands.values())
    return made, history


def _while_down(made: list[ComponentProduced], history: StatusHistory) -> list[str]:
    triples = [(c.component_id, c.machine_id, c.produced_at.timestamp()) for c in made]
    return produced_while_down(history, triples)


def test_production_up_to_the_next_report_never_makes_anything_while_down() -> None:
    made, history = _run_gated()
    assert len(made) > 500
    assert _while_down(made, history) == []


@pytest.mark.parametrize("at_once", [False, True])
def test_the_promise_holds_only_if_commands_wait_for_the_next_report(at_once: bool) -> None:
    """One fast machine: a command read while its report is on its way. Acting at once
    (the old rule) puts components inside the fault; waiting for the report does not."""
    config = _quiet()
    machines = [
        msgspec.structs.replace(m, cycle_time_s=(1.0, 1.0)) if m.id == FRAME else m
        for m in config.machines
    ]
    simulation = msgspec.structs.replace(config.simulation, stoppage_probability=0.0)
    config = msgspec.structs.replace(config, machines=machines, simulation=simulation)
    interval = config.simulation.telemetry_interval_s
    fleet = _fleet(config)
    production = ComponentProduction(config, random.Random(6), IdSource(random.Random(6)), START)
    gate = StatusGate([FRAME], silent_after_s=60, promise_s=interval)
    history = StatusHistory()

    def read(reports: list[MachineTelemetry]) -> None:
        for report in reports:
            at = report.timestamp.timestamp()
            gate.add(report.machine_id, report.status, at)
            history.add(report.machine_id, at, report.status)

    def produce(until: float) -> list[ComponentProduced]:
        made: list[ComponentProduced] = []
        while gate.next_change() <= until:
            change = gate.next_change()
            made += production.produce_until(math.nextafter(change, -math.inf))
            for machine_id, status, at in gate.release(change):
                production.set_status(machine_id, status, at)
        return made + production.produce_until(until)

    read(fleet.report_until(START + 100)[0])
    last = gate.watermark(FRAME)
    made = produce(last)
    if at_once:
        in_flight = [fleet.inject_anomaly(FRAME, last + 1.0)[0]]
    else:
        fleet.order("inject_anomaly", FRAME, last + 1.0)
        in_flight = []
    made += produce(gate.horizon())  # production moves on before the news arrives
    read([*in_flight, *fleet.report_until(last + 3 * interval)[0]])
    made += produce(min(gate.horizon(), last + 3 * interval))
    assert history.down_intervals(FRAME)
    frames = [c for c in made if c.machine_id == FRAME]
    assert len(frames) > 10
    if at_once:
        assert _while_down(frames, history)
    else:
        assert _while_down(frames, history) == []


def test_the_promise_moves_the_horizon_to_just_before_the_next_report() -> None:
    gate = StatusGate(["A", "B"], silent_after_s=60, promise_s=15.0)
    assert gate.horizon() == -math.inf
    gate.add("A", RUNNING, 100.0)
    gate.add("B", RUNNING, 104.0)
    assert gate.horizon() == math.nextafter(115.0, -math.inf)  # a component at 115 waits
    assert gate.reported_until() == 100.0
    # with late delivery only what is certain counts: no promise on top of the hold
    held = StatusGate(["A"], silent_after_s=60, hold_s=30.0, promise_s=15.0)
    held.add("A", RUNNING, 100.0)
    assert held.horizon() == 70.0
