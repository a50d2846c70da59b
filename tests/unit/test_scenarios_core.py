"""Scenario files and their summaries, without a broker: parsing, checks, overrides,
the phase timeline, per-phase metrics and the effects they are checked against."""

from __future__ import annotations

import math
import tomllib
import uuid
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path

import pytest

from widget_factory import schemas as s
from widget_factory.core.scenario_checks import evaluate
from widget_factory.core.scenario_plan import (
    dump_toml,
    merge_overrides,
    parse_scenario,
    parse_time,
)
from widget_factory.core.scenario_report import phase_table, report_lines
from widget_factory.core.scenario_stats import Observations
from widget_factory.errors import ConfigError
from widget_factory.factory_config import default_config, parse_config
from widget_factory.scenarios import builtin_names, load_scenario
from widget_factory.scenarios.runner import prepare_config

START = datetime(2026, 1, 1, tzinfo=UTC)
HOUR = 3600.0

MINIMAL = """
[scenario]
name = "mine"
title = "Mine"
duration = "6h"
first_phase = "calm"
settle = "0"

[[step]]
at = "2h"
action = "stop-machine"
targets = ["@makes:circuit_board"]
phase = "outage"

[[step]]
at = "4h"
action = "start-machine"
targets = ["@makes:circuit_board"]
phase = "after"

[[expect]]
claim = "boards stop"
metric = "components_per_hour"
sku = "circuit_board"
phase = "outage"
below = { phase = "calm", factor = 0.1 }

[[expect]]
claim = "widgets recover"
metric = "widgets_per_hour"
phase = "after"
above = 1.5
"""


def test_every_shipped_scenario_parses_and_fits_its_factory() -> None:
    names = builtin_names()
    assert {
        "supply-disruption",
        "quality-issues",
        "machine-downtime",
        "demand-spike",
        "performance-analytics",
        "back-pressure",
    } <= set(names)
    for name in names:
        scenario, folder = load_scenario(name)
        assert folder is None and scenario.name == name
        assert scenario.expectations, name
        assert scenario.watch, name
        config, text = prepare_config(scenario, folder, None)
        assert parse_config(tomllib.loads(text)) == config  # what the services will read
        if scenario.has_commands():
            assert scenario.speed is not None and scenario.speed >= 600, name


def test_phases_follow_the_steps_that_start_them() -> None:
    scenario = parse_scenario(MINIMAL, "mine.toml")
    assert scenario.duration == 6 * HOUR
    assert [(p.label, p.start, p.end) for p in scenario.phases()] == [
        ("calm", 0.0, 2 * HOUR),
        ("outage", 2 * HOUR, 4 * HOUR),
        ("after", 4 * HOUR, math.inf),
    ]
    assert scenario.has_commands()
    scenario.check_against(default_config())


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ('action = "stop-machine"', 'action = "explode"'),
            "step[0].action: unknown action 'explode'",
        ),
        (('at = "4h"', 'at = "7h"'), "step[1].at: '7h' is not before the end"),
        (('metric = "widgets_per_hour"', 'metric = "happiness"'), "unknown metric 'happiness'"),
        (('phase = "after"\nabove', 'phase = "later"\nabove'), "unknown phase 'later'"),
        (("above = 1.5", "above = 1.5\nbelow = 3"), "exactly one of below or above"),
        (
            ('duration = "6h"', 'duration = "6h"\nspeed = "max"'),
            "only for scenarios without commands",
        ),
        (('duration = "6h"', 'duration = "6h"\nspeed = -3'), "scenario.speed: must be a positive"),
        (
            ('title = "Mine"', 'title = "Mine"\ncolour = "red"'),
            "scenario: Object contains unknown field `colour`",
        ),
        (('at = "2h"', 'at = "soon"'), "expected a time like 90, 45s, 30m, 2h, 1h30m or 1d"),
    ],
)
def test_mistakes_are_named(change: tuple[str, str], message: str) -> None:
    text = MINIMAL.replace(*change, 1)
    assert text != MINIMAL
    with pytest.raises(ConfigError) as error:
        parse_scenario(text, "mine.toml")
    assert message in str(error.value)
    assert str(error.value).startswith("mine.toml")


def test_targets_and_orders_are_checked_against_the_factory() -> None:
    bad_target = parse_scenario(MINIMAL.replace("@makes:circuit_board", "PCB_9", 1), "m.toml")
    with pytest.raises(ConfigError, match=r"step\[0\] \(stop-machine\): unknown machine 'PCB_9'"):
        bad_target.check_against(default_config())
    order = MINIMAL.replace(
        'action = "stop-machine"\ntargets = ["@makes:circuit_board"]',
        'action = "order"\nwidget_type = "basic_widget"\nquantity = 5000',
        1,
    )
    with pytest.raises(ConfigError, match="quantity 5000: at most 1000"):
        parse_scenario(order, "m.toml").check_against(default_config())


def test_times_read_like_people_write_them() -> None:
    assert [parse_time(t, "at") for t in ("0", "90", "45s", "30m", "2h", "1h30m", "1d2h", 120)] == [
        0.0,
        90.0,
        45.0,
        1800.0,
        7200.0,
        5400.0,
        93600.0,
        120.0,
    ]


def test_overrides_merge_tables_and_entries_by_id() -> None:
    base = tomllib.loads(resources.files("widget_factory").joinpath("factory.toml").read_text())
    merged = merge_overrides(
        base,
        {
            "simulation": {"order_interval_s": 1200},
            "quality": {"inspectors": ["QC_INSPECTOR_A"]},
            "machines": {"SENSOR_CALIB_01": {"cycle_time_s": [150, 200]}},
        },
    )
    config = parse_config(tomllib.loads(dump_toml(merged)))
    assert config.simulation.order_interval_s == 1200
    assert config.simulation.speed == 120  # untouched keys stay
    assert config.quality.inspectors == ["QC_INSPECTOR_A"]
    assert config.machine_by_id["SENSOR_CALIB_01"].cycle_time_s == (150, 200)
    assert config.machine_by_id["SENSOR_CALIB_01"].component_type == "sensor"
    assert config.machine_by_id["MOTOR_ASSEMBLY_01"].cycle_time_s == (240, 300)
    assert base["simulation"]["order_interval_s"] == 600  # the base is not modified
    with pytest.raises(ConfigError, match="factory.machines.NOPE: no such entry"):
        merge_overrides(base, {"machines": {"NOPE": {"cycle_time_s": [1, 2]}}})


def test_dump_toml_round_trips_the_reference_factory() -> None:
    data = tomllib.loads(resources.files("widget_factory").joinpath("factory.toml").read_text())
    assert tomllib.loads(dump_toml(data)) == data
    odd = {"a": {"b": [1.5, float("inf"), True, 'quote " and \\ and é']}}
    assert tomllib.loads(dump_toml(odd)) == odd


# --- observations and effects --------------------------------------------------------------


def _at(hours: float) -> datetime:
    return START + timedelta(hours=hours)


def _eid() -> str:
    return str(uuid.uuid4())


def _component(hours: float, kind: str = "circuit_board") -> s.ComponentProduced:
    return component_at(_at(hours), kind)


def component_at(at: datetime, kind: str) -> s.ComponentProduced:
    """A defect-free component of ``kind`` made at ``at`` (for scenario tallies)."""
    return s.ComponentProduced(
        event_id=_eid(),
        component_id=f"COMP_{kind.upper()}_{uuid.uuid4().hex[:8]}",
        component_type=kind,
        machine_id="PCB_ASSEMBLER_01",
        batch_id="B",
        produced_at=at,
        quality_metrics=s.QualityMetrics(25.0, s.Dimensions(80, 40, 2), 22.0, 0),
        production_line="LINE_A",
    )


def _widget(hours: float, order_id: str | None, defects: int = 0) -> s.WidgetAssembled:
    return s.WidgetAssembled(
        event_id=_eid(),
        widget_id=f"WIDGET_BASIC_WIDGET_{uuid.uuid4().hex[:8]}",
        widget_type="basic_widget",
        assembly_station_id="ASSEMBLY_STATION_A",
        component_ids=["COMP_METAL_FRAME_a1b2c3d4"],
        assembly_started_at=_at(hours),
        assembly_completed_at=_at(hours),
        assembly_duration_seconds=330.0,
        worker_id="WORKER_001",
        batch_id="B",
        order_id=order_id,
        component_defects=defects,
    )


def _check(widget: s.WidgetAssembled, hours: float, ok: bool) -> s.QualityCheck:
    return s.QualityCheck(
        event_id=_eid(),
        check_id="QC_1",
        widget_id=widget.widget_id,
        widget_type=widget.widget_type,
        inspector_id="QC_INSPECTOR_A",
        checked_at=_at(hours),
        status=s.QualityStatus.PASS if ok else s.QualityStatus.FAIL,
        test_results=s.TestResults(True, True, ok, 80.0),
        defects_found=[] if ok else ["visual_defect"],
    )


def _update(hours: float, change: int, level: int) -> s.InventoryUpdate:
    return s.InventoryUpdate(
        event_id=_eid(),
        item_type="component",
        sku="circuit_board",
        item_id="COMP_CIRCUIT_BOARD_00000001",
        warehouse_location="W",
        quantity_change=change,
        current_stock=level,
        updated_at=_at(hours),
        reason="production" if change > 0 else "assembly_consumption",
        batch_id="B",
    )


def _order(hours: float, order_id: str, quantity: int) -> s.ProductionOrder:
    return s.ProductionOrder(
        event_id=_eid(),
        order_id=order_id,
        widget_type="basic_widget",
        quantity=quantity,
        priority=2,
        created_at=_at(hours),
    )


def _observed(settle: float = 0.0) -> Observations:
    """Calm (0-2h): 10 boards an hour, 4 widgets; outage (2-4h): 1 board; after: 6 widgets."""
    scenario = parse_scenario(MINIMAL, "mine.toml")
    o = Observations(START.timestamp(), scenario.duration, default_config(), settle)
    for i in range(20):
        o.add(_component(i * 0.1))
    o.add(_component(3.0))
    o.add(_order(0.0, "ORDER_A", 4))
    o.add(_order(2.5, "ORDER_B", 6))
    calm = [_widget(0.5 + 0.25 * i, "ORDER_A", defects=i % 2) for i in range(4)]
    after = [_widget(4.5 + 0.1 * i, "ORDER_B") for i in range(6)]
    for w in calm + after:
        o.add(w)
        o.add(w)  # duplicates on the wire carry the same event id
    # Checks: calm widgets pass 3 of 4 (the defective one at index 1 fails), checked late.
    for i, w in enumerate(calm):
        o.add(_check(w, 2.5, ok=i != 1))
    for w in after:
        o.add(_check(w, 5.0, ok=True))
    # Stock read out of time order (as in virtual time): rebuilt from the changes.
    o.add(_update(1.0, +1, 1))
    o.add(_update(3.0, +1, 2))
    o.add(_update(0.5, +1, 3))
    o.add(_update(3.5, -1, 2))
    for t, lag in ((0.5, 0), (1.5, 12), (2.5, 30), (3.5, 8), (5.0, 1)):
        o.add_lag(t * HOUR, "quality-control", lag)
    o.finish()
    return o


def test_metrics_per_phase() -> None:
    scenario = parse_scenario(MINIMAL, "mine.toml")
    o = _observed()
    calm, outage, after = scenario.phases()

    def m(name: str, phase: object, **selector: str) -> float | None:
        return o.metric(name, phase, dict(selector))  # type: ignore[arg-type]

    assert m("components_per_hour", calm) == 10.0
    assert m("components_per_hour", outage, sku="circuit_board") == 0.5
    assert m("components_per_hour", outage, sku="sensor") == 0.0
    assert m("widgets_per_hour", calm) == 2.0
    assert m("widgets_per_hour", after) == 3.0  # 6 widgets over the 2 h left of the run
    assert m("checks_per_hour", outage) == 2.0  # the calm widgets' checks came at 2:30
    assert m("pass_rate", calm) == 0.75  # by when the widgets were built
    assert m("pass_rate", calm, defects="some") == 0.5  # widgets 1 and 3; 1 failed
    assert m("pass_rate", calm, defects="none") == 1.0
    assert m("pass_rate", outage) is None
    assert m("orders_waiting_start", calm) == 4
    assert m("orders_waiting_end", calm) == 0
    assert m("orders_waiting_max", outage) == 6
    assert m("orders_waiting_end", after) == 0
    assert m("stock_start", calm) == 0
    assert m("stock_end", calm) == 2
    assert m("stock_max", outage) == 3
    assert m("stock_end", outage) == 2
    assert m("stock_min", after) == 2
    assert m("lag_max", calm) == 12
    assert m("lag_start", outage) == 30
    assert m("lag_end", outage) == 8
    assert m("lag_max", calm, group="inventory") is None
    assert m("assembly_time", calm) == 330.0
    assert m("assembly_time_ratio", calm) == pytest.approx(1.1)


def test_rates_leave_out_the_settling_start_of_each_phase() -> None:
    scenario = parse_scenario(MINIMAL.replace('settle = "0"', 'settle = "30m"'), "mine.toml")
    assert scenario.settle == 1800
    assert parse_scenario(MINIMAL.replace('settle = "0"\n', ""), "m.toml").settle == 900
    calm, outage, _after = scenario.phases()
    o = _observed(settle=scenario.settle)
    assert o.metric("components_per_hour", calm, {}) == pytest.approx(15 / 1.5)  # 0:30-2:00
    assert o.metric("checks_per_hour", outage, {}) == pytest.approx(4 / 1.5)
    assert o.metric("orders_waiting_start", calm, {}) == 4  # levels are not settled


def test_effects_are_checked_and_explained() -> None:
    scenario = parse_scenario(MINIMAL, "mine.toml")
    outcomes = evaluate(scenario, _observed())
    assert [o.ok for o in outcomes] == [True, True]
    assert outcomes[0].text == (
        "boards stop: components_per_hour (sku circuit_board) in 'outage' = 0.5 < 0.1 x "
        "components_per_hour (sku circuit_board) in 'calm' (10.0)"
    )
    assert outcomes[1].text == "widgets recover: widgets_per_hour in 'after' = 3.0 > 1.5"
    failing = parse_scenario(MINIMAL.replace("factor = 0.1", "factor = 0.01"), "mine.toml")
    assert [o.ok for o in evaluate(failing, _observed())] == [False, True]
    no_data = parse_scenario(
        MINIMAL.replace('metric = "widgets_per_hour"', 'metric = "lag_max"\ngroup = "nobody"'),
        "mine.toml",
    )
    assert [o.ok for o in evaluate(no_data, _observed())] == [True, None]


def test_summary_tables() -> None:
    scenario = parse_scenario(MINIMAL, "mine.toml")
    o = _observed()
    rows = phase_table(scenario, o)
    assert rows[0][:5] == ["phase", "from", "to", "components/h", "widgets/h"]
    assert [r[:5] for r in rows[1:]] == [
        ["calm", "0:00", "2:00", "10.0", "2.0"],
        ["outage", "2:00", "4:00", "0.5", "0.0"],
        ["after", "4:00", "6:00", "0.0", "3.0"],
    ]
    assert rows[1][6] == "4 -> 4 (max) -> 0"
    assert rows[2][7] == "2 -> 2 (min) -> 2 (circuit_board 2)"
    title, table = report_lines("assembly_times", o)
    assert table[1] == ["basic_widget", "10", "330 s", "330 s", "330 s", "300 s", "1.10"]
    _title, defects = report_lines("component_defects", o)
    assert defects[1:] == [["0", "8", "100%"], ["1", "2", "50%"]]
    _title, quality = report_lines("quality_by_type", o)
    assert quality[1][:3] == ["basic_widget", "10", "90%"]


def test_the_documented_example_is_a_valid_scenario() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "experiments.md").read_text()
    block = docs.split("### Your own scenarios", 1)[1].split("```toml\n", 1)[1].split("```", 1)[0]
    scenario = parse_scenario(block, "experiments.md")
    config, _text = prepare_config(scenario, None, None)
    assert config.simulation.order_interval_s == 900
    assert [p.label for p in scenario.phases()] == ["working", "strike", "back to work"]
    assert [s.action for _, s in scenario.steps] == ["stop-machine", "start-machine", "order"]
    assert len(scenario.expectations) == 2 and scenario.reports == ["assembly_times"]


def test_an_interrupted_run_is_judged_only_on_what_ran() -> None:
    scenario = parse_scenario(MINIMAL, "mine.toml")
    o = _observed()
    o.duration = 3 * HOUR  # interrupted in the outage
    rows = phase_table(scenario, o)
    assert rows[3][:4] == ["after", "4:00", "", "not reached"]
    assert rows[2][4] == "0.0"  # the outage's rate over the hour that ran
    assert [x.ok for x in evaluate(scenario, o)] == [True, None]


def test_every_metric_and_report_has_a_named_builder() -> None:
    from widget_factory.core.scenario_checks import LEVEL_MEASURES, MEASURES
    from widget_factory.core.scenario_plan import METRICS, REPORTS
    from widget_factory.core.scenario_report import REPORT_BUILDERS

    for metric in METRICS:
        assert metric in MEASURES or any(metric.startswith(p) for p in LEVEL_MEASURES), metric
    assert set(REPORT_BUILDERS) == set(REPORTS)
