"""A child's command line: the speed and seed the parent resolved reach it unchanged, in
the one form ``service_args`` writes and ``options`` reads."""

from __future__ import annotations

import pytest

from widget_factory.options import parse_speed
from widget_factory.processes.service_args import common_service_args, service_layout, speed_arg


@pytest.mark.parametrize("speed", [None, 1.0, 120.0, 1200.0, 0.1, 1 / 3, 12345.678901234])
def test_a_speed_written_for_a_child_reads_back_the_same(speed: float | None) -> None:
    assert parse_speed(speed_arg(speed), default=120.0) == speed


def _shared(**changes: object) -> list[str]:
    values: dict[str, object] = {
        "bootstrap": "127.0.0.1:9092",
        "speed": None,
        "seed": 7,
        "duration": "8h",
        "start": 1_700_000_000.0,
        "anchor_wall": 1_700_000_001.5,
        "config": None,
        "kafka_config": None,
        "overrides": [],
        "debug": False,
    }
    values.update(changes)
    return common_service_args(**values)  # type: ignore[arg-type]


def test_the_shared_arguments_carry_speed_seed_and_duration_as_given() -> None:
    args = _shared(speed=1200.0)
    assert args[args.index("--speed") + 1] == "1200.0"
    assert args[args.index("--seed") + 1] == "7"
    assert args[args.index("--duration") + 1] == "8h"
    assert _shared()[_shared().index("--speed") + 1] == "max"
    assert "--seed" not in _shared(seed=None)


def test_layout_deals_stations_and_leaves_the_drained_services_unbounded() -> None:
    layout = service_layout(
        ["components", "assembly", "quality", "inventory"],
        _shared(),
        stations=["A", "B", "C"],
        station_processes=2,
    )
    assert set(layout) == {"components", "assembly#1", "assembly#2", "quality", "inventory"}
    assert layout["assembly#1"].count("--station") == 2
    assert "--no-orders" in layout["assembly#2"] and "--no-orders" not in layout["assembly#1"]
    assert "--duration" in layout["components"]
    assert "--duration" not in layout["quality"] and "--duration" not in layout["inventory"]
