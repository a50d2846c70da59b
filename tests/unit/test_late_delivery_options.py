"""``--late-fraction`` and ``--max-delay``: checked once, handed to every child of a run,
and held back by the consumers' watermarks."""

from __future__ import annotations

import math
from typing import Any

import pytest

from widget_factory import cli
from widget_factory.core import lockstep, status_watermark
from widget_factory.core.progress import InputProgress
from widget_factory.options import parse_late_delivery
from widget_factory.processes.service_args import common_service_args
from widget_factory.schemas import MachineStatus

SHARED = dict(
    bootstrap="127.0.0.1:9092",
    speed=None,
    seed=1,
    duration="2h",
    start=0.0,
    anchor_wall=0.0,
    config=None,
    kafka_config=None,
    overrides=(),
    debug=False,
)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["telemetry", "--late-fraction", "1"],
            "--late-fraction 1: must be at least 0 and below 1",
        ),
        (["components", "--late-fraction", "lots"], "--late-fraction 'lots': expected a number"),
        (["run", "--late-fraction", "0.2"], "--late-fraction 0.2 needs --max-delay D"),
        (
            ["telemetry", "--late-fraction", "0.2", "--max-delay", "soon"],
            "--max-delay: expected a duration",
        ),
        (["assembly", "--max-delay=-5m"], "--max-delay: a duration must be positive"),
        (["run", "--late-fraction", "0.2", "--max-delay", "inf"], "must be a finite duration"),
    ],
)
def test_a_bad_value_is_one_line_and_status_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert message in err


def test_good_values_are_read() -> None:
    assert parse_late_delivery(None, None) == (0.0, 0.0)
    assert parse_late_delivery("0.2", "5m") == (0.2, 300.0)
    assert parse_late_delivery("0", "90s") == (0.0, 90.0)  # consumers may hold alone


def test_a_run_hands_both_flags_to_its_children_and_nothing_by_default() -> None:
    plain = common_service_args(**SHARED)  # type: ignore[arg-type]
    assert "--late-fraction" not in plain and "--max-delay" not in plain
    late = common_service_args(**SHARED, late_fraction=0.2, max_delay_s=300.0)  # type: ignore[arg-type]
    assert late[-4:] == ["--late-fraction", "0.2", "--max-delay", "300.0"]
    assert parse_late_delivery(late[-3], late[-1]) == (0.2, 300.0)


def test_the_production_status_gate_waits_out_the_delay() -> None:
    gate = status_watermark.StatusGate(["M1", "M2"], silent_after_s=math.inf, hold_s=300.0)
    gate.add("M1", MachineStatus.RUNNING, 1000.0)
    gate.add("M2", MachineStatus.RUNNING, 1200.0)
    assert gate.reported_until() == 1000.0
    assert gate.horizon() == 700.0
    # a report sent late (event time 800 after 1000 was read) is still ahead of the horizon
    gate.add("M1", MachineStatus.ERROR, 800.0)
    assert gate.horizon() == 700.0 and gate.next_change() == 800.0


def test_the_stations_status_gate_waits_out_the_delay_but_not_at_the_end() -> None:
    gate = lockstep.StatusGate(["S1"], interval=15.0, end=2000.0, hold_s=300.0)
    gate.add("S1", MachineStatus.RUNNING, 1000.0)
    assert gate.watermark() == 700.0
    gate.add("S1", MachineStatus.RUNNING, 1990.0)  # the last report: nothing is late then
    assert gate.watermark() == 2000.0


def test_a_component_partition_is_complete_only_the_delay_behind() -> None:
    progress = InputProgress("component-production", "production-orders", 0.0, hold_s=300.0)
    progress.component_read(0, 1000.0)
    assert progress.local_watermark({("component-production", 0): (0, 5)}, lockstep=True) == 700.0


def test_outside_lockstep_a_station_report_sent_late_does_not_undo_a_newer_one() -> None:
    import random

    from widget_factory.core.assembly import AssemblyPlanner
    from widget_factory.core.ids import IdSource
    from widget_factory.factory_config import default_config
    from widget_factory.stations.inputs import StationInputs

    config = default_config()
    station = config.stations[0].id
    planner = AssemblyPlanner(config, [station], random.Random(1), IdSource(random.Random(2)))
    unused: Any = None  # (statuses need only the planner)
    inputs = StationInputs(config, unused, planner, *[unused] * 7)
    inputs.statuses([(station, MachineStatus.ERROR, 1000.0)])
    inputs.statuses([(station, MachineStatus.RUNNING, 900.0)])  # held by a gateway, older
    assert planner.stations[station].status is MachineStatus.ERROR
    inputs.statuses([(station, MachineStatus.RUNNING, 1015.0)])
    assert planner.stations[station].status is MachineStatus.RUNNING
