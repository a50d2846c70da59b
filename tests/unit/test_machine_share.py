"""Splitting the machines between generation workers: who makes what, and the streams."""

from __future__ import annotations

import random

import pytest

from widget_factory import schemas
from widget_factory.bench import bench_config_path
from widget_factory.core.ids import IdSource
from widget_factory.core.machine_share import MachineShare, parse_share, share_config
from widget_factory.core.production import ComponentProduction
from widget_factory.factory_config import load_config

START = 1_767_225_600.0


def test_every_position_has_exactly_one_worker() -> None:
    for count in (1, 2, 3, 7):
        shares = [MachineShare(k, count) for k in range(count)]
        for position in range(50):
            assert sum(share.owns(position) for share in shares) == 1
        picked = sorted(x for share in shares for x in share.pick(list(range(50))))
        assert picked == list(range(50))


def test_parse_share_reads_one_based_workers_and_refuses_the_rest() -> None:
    assert parse_share("1/2") == MachineShare(0, 2)
    assert parse_share("3/3") == MachineShare(2, 3)
    for bad in ("0/2", "3/2", "2", "a/b", "1/0", ""):
        with pytest.raises(ValueError):
            parse_share(bad)


def test_a_worker_s_config_holds_its_machines_and_stations() -> None:
    config = load_config(None)
    second = share_config(config, MachineShare(1, 2))
    assert [m.id for m in second.machines] == [m.id for m in config.machines[1::2]]
    assert [s.id for s in second.stations] == [s.id for s in config.stations[1::2]]
    assert share_config(config, MachineShare()) is config


def _events(config_path: str | None, share: MachineShare, seed: int) -> list[bytes]:
    production = ComponentProduction(
        load_config(config_path),
        random.Random(seed),
        IdSource(random.Random(seed + 1)),
        START,
        share,
    )
    out: list[bytes] = []
    now = START
    span = 3 * 3600 if config_path is None else 1200  # the bench factory makes far more
    while now < START + span:  # in steps, as the service's virtual clock moves
        now += 600
        while batch := production.produce_until(now, limit=700):
            out += [schemas.encode(e) for e in batch]
    return out


@pytest.mark.parametrize("config_path", [None, str(bench_config_path())])
@pytest.mark.parametrize("count", [2, 3])
def test_workers_together_make_exactly_the_one_process_stream(
    config_path: str | None, count: int
) -> None:
    whole = _events(config_path, MachineShare(), seed=11)
    parts = [_events(config_path, MachineShare(k, count), seed=11) for k in range(count)]
    assert sorted(e for part in parts for e in part) == sorted(whole)
    for k, part in enumerate(parts):  # each worker's machines, nobody else's
        machines = {m.id for m in MachineShare(k, count).pick(load_config(config_path).machines)}
        assert {schemas.decode(e).machine_id for e in part} == machines  # type: ignore[union-attr]


def test_component_ids_stay_unique_across_every_machine() -> None:
    ids = [schemas.decode(e).component_id for e in _events(None, MachineShare(), seed=4)]  # type: ignore[union-attr]
    assert len(ids) > 500
    assert len(set(ids)) == len(ids)


def test_the_same_seed_gives_the_same_stream_and_another_seed_another() -> None:
    assert _events(None, MachineShare(), seed=5) == _events(None, MachineShare(), seed=5)
    assert _events(None, MachineShare(), seed=5) != _events(None, MachineShare(), seed=6)


def test_values_keep_two_decimals_and_temperature_one() -> None:
    for record in _events(None, MachineShare(), seed=8)[:2000]:
        event = schemas.decode(record)
        metrics = event.quality_metrics  # type: ignore[union-attr]
        for value in (metrics.weight_grams, *schemas_dims(metrics)):
            assert round(value, 2) == value
        assert round(metrics.temperature_celsius, 1) == metrics.temperature_celsius


def schemas_dims(metrics: schemas.QualityMetrics) -> tuple[float, float, float]:
    d = metrics.dimensions_mm
    return d.length, d.width, d.height


def test_worker_command_lines_carry_each_worker_s_share() -> None:
    from widget_factory.processes.service_args import service_layout
    from widget_factory.processes.workers import worker_layout

    assert worker_layout("components", ["--seed", "3"], 2) == {
        "components#1": ["--seed", "3", "--worker", "1/2"],
        "components#2": ["--seed", "3", "--worker", "2/2"],
    }
    layout = service_layout(
        ["components", "assembly", "telemetry"], ["--seed", "3"], generation_workers=2
    )
    wait = ["--telemetry-wait", "120"]  # production waits for the run's telemetry to start
    assert layout == {
        "components#1": ["--seed", "3", *wait, "--worker", "1/2"],
        "components#2": ["--seed", "3", *wait, "--worker", "2/2"],
        "assembly": ["--seed", "3"],
        "telemetry#1": ["--seed", "3", "--worker", "1/2"],
        "telemetry#2": ["--seed", "3", "--worker", "2/2"],
    }
    assert {parse_share(args[-1]) for args in layout.values() if "--worker" in args} == {
        MachineShare(0, 2),
        MachineShare(1, 2),
    }
