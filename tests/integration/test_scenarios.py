"""Each scenario against a real factory on its own embedded broker: the summary shows
the effect the scenario claims, the topics confirm it independently, and the audit
still balances afterwards."""

from __future__ import annotations

import re
from datetime import datetime

import pytest

from tests.conftest import run_cli
from widget_factory import schemas as s
from widget_factory.kafka_io.broker import EmbeddedBroker
from widget_factory.kafka_io.reader import read_to_end
from widget_factory.kafka_io.settings import KafkaSettings

pytestmark = [pytest.mark.integration, pytest.mark.xdist_group("scenarios")]
"""Scenarios judge effects in simulated time: one at a time, so a busy machine's stalls
stay short in simulated minutes."""

FAST = "1200"
"""Simulated seconds per wall second in tests (the scenarios' own default)."""


def _run(broker: EmbeddedBroker, name: str, *extra: str, effects: int = 3) -> str:
    result = run_cli(
        "scenario",
        name,
        "--bootstrap-servers",
        broker.bootstrap_servers,
        "--seed",
        "4",
        *extra,
        timeout=180,
    )
    out = result.stdout
    assert "[FAIL]" not in out and "[ ?? ]" not in out, out[-4000:]
    assert result.returncode == 0, out[-4000:] + result.stderr[-2000:]
    observed = re.search(r"(\d+) of (\d+) effects observed\.", out)
    assert observed and observed.group(1) == observed.group(2), out
    assert int(observed.group(2)) >= effects, out
    audit = run_cli("audit", "--bootstrap-servers", broker.bootstrap_servers)
    assert audit.returncode == 0, audit.stdout[-3000:]
    return out


def _phase_row(out: str, phase: str) -> list[str]:
    line = next(row for row in out.splitlines() if row.strip().startswith(phase + "  "))
    return re.split(r"\s{2,}", line.strip())


def _events(broker: EmbeddedBroker, topic: str, kind: type[s.Event]) -> list:
    settings = KafkaSettings(broker.bootstrap_servers, source="flag")
    return [s.decode_as(m.value(), kind) for m in read_to_end(settings, [topic])]


def _start_of_run(out: str) -> float:
    found = re.search(r"Starting the factory at (\S+ \S+) simulated", out)
    assert found
    return datetime.fromisoformat(found.group(1) + "+00:00").timestamp()


def test_supply_disruption_starves_assembly_then_clears_the_backlog(
    own_broker: EmbeddedBroker,
) -> None:
    out = _run(own_broker, "supply-disruption", "--speed", FAST)
    assert "What to watch" in out and "widget-factory monitor --bootstrap-servers" in out
    assert "+1:00  stop-machine 10 machines" in out
    normal, stopped = _phase_row(out, "normal"), _phase_row(out, "production stopped")
    assert float(stopped[4]) < float(normal[4]) / 2  # widgets per hour
    # Independently of the summary: hardly a component was made during the stop.
    start = _start_of_run(out)
    made = [
        c.produced_at.timestamp() - start
        for c in _events(own_broker, "component-production", s.ComponentProduced)
    ]
    during = sum(1 for t in made if 3600 + 1800 <= t < 3 * 3600)
    before = sum(1 for t in made if t < 3600)
    assert before > 150 and during <= 5, (before, during)


def test_demand_spike_drains_stock_and_it_refills(own_broker: EmbeddedBroker) -> None:
    out = _run(own_broker, "demand-spike", "--speed", FAST)
    assert "ordered 80x basic_widget" in out
    assert re.search(r"the spike drains circuit-board stock: .* = \d+ < 0\.3 x", out)


def test_machine_downtime_stops_output_of_the_failed_machines(own_broker: EmbeddedBroker) -> None:
    out = _run(own_broker, "machine-downtime", "--speed", FAST)
    start = _start_of_run(out)
    alerts = _events(own_broker, "factory-alerts", s.FactoryAlert)
    injected = [a for a in alerts if "anomaly injected" in a.message]
    assert {a.source_id for a in injected} == {"PCB_ASSEMBLER_01", "PCB_ASSEMBLER_02"}
    assert min(a.raised_at.timestamp() - start for a in injected) >= 1.5 * 3600
    telemetry = _events(own_broker, "machine-telemetry", s.MachineTelemetry)
    assert any(
        t.machine_id == "DISPLAY_ASSEMBLY_01" and t.status is s.MachineStatus.MAINTENANCE
        for t in telemetry
    )


def test_back_pressure_shows_lag_growing_then_shrinking(own_broker: EmbeddedBroker) -> None:
    out = _run(own_broker, "back-pressure", "--speed", FAST)
    running, paused = _phase_row(out, "assembly running"), _phase_row(out, "assembly paused")
    assert int(running[8]) > 15  # QC lag max while assembly runs
    assert float(paused[4]) < float(running[4]) / 4  # widgets per hour: the stations paused
    # Independently: widgets waited longer and longer for their check while QC fell behind.
    checked = {
        c.widget_id: c.checked_at for c in _events(own_broker, "quality-control", s.QualityCheck)
    }
    waits = [
        (checked[w.widget_id] - w.assembly_completed_at).total_seconds()
        for w in _events(own_broker, "widget-assembly", s.WidgetAssembled)
    ]
    assert len(waits) == len(checked)
    assert max(waits) > 3600 and min(waits) < 600
    assert "lag_end (group quality-control) in 'assembly paused' = 0 <" in out or re.search(
        r"lag_end \(group quality-control\) in 'assembly paused' = [0-3] <", out
    )


def test_quality_issues_in_virtual_time(own_broker: EmbeddedBroker) -> None:
    out = _run(own_broker, "quality-issues")
    assert "in virtual time" in out
    assert "Quality by widget type" in out and "Pass rate by the defects" in out
    rows = {line.split()[0]: line for line in out.splitlines() if line.strip().endswith("%")}
    assert rows


def test_performance_analytics_in_virtual_time(own_broker: EmbeddedBroker) -> None:
    out = _run(own_broker, "performance-analytics")
    table = out[out.index("Average assembly time by widget type") :]
    for widget_type, base in (
        ("basic_widget", 300),
        ("premium_widget", 450),
        ("smart_widget", 540),
    ):
        row = re.search(rf"{widget_type}\s+(\d+)\s+(\d+) s\s+\d+ s\s+\d+ s\s+{base} s", table)
        assert row and int(row.group(1)) > 20, widget_type
        assert abs(int(row.group(2)) - base) / base < 0.1
    assert "Machine efficiency" in out and "SENSOR_CALIB_01" in out


def test_a_users_own_scenario_file(own_broker: EmbeddedBroker, tmp_path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text(
        """
[scenario]
name = "mine"
title = "Stations on strike"
speed = 600
duration = "2h30m"
first_phase = "working"

[[step]]
at = "1h"
action = "stop-machine"
targets = ["@stations"]
phase = "strike"

[[expect]]
claim = "few widgets during the strike (only builds already under way finish)"
metric = "widgets_per_hour"
phase = "strike"
below = { phase = "working", factor = 0.5 }
""",
        encoding="utf-8",
    )
    out = _run(own_broker, str(path), effects=1)
    assert "1 of 1 effects observed." in out
    assert "+1:00  stop-machine ASSEMBLY_STATION_A, ASSEMBLY_STATION_B, ASSEMBLY_STATION_C" in out


def test_scenario_mistakes_exit_2(tmp_path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[scenario]\nname = "x"\ntitle = "x"\n[[step]]\nat = "1h"\naction = "dance"\n')
    for args, message in (
        (("nope",), "unknown scenario 'nope'"),
        ((str(bad),), "step[0].action: unknown action 'dance'"),
        (("supply-disruption", "--speed", "max"), "has timed commands"),
        (("supply-disruption", "--speed", "fast"), "--speed 'fast'"),
    ):
        result = run_cli("scenario", *args, "--bootstrap-servers", "127.0.0.1:1")
        assert result.returncode == 2, (args, result.stderr)
        assert message in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    listing = run_cli("scenario", "list")
    assert listing.returncode == 0 and "supply-disruption" in listing.stdout
    plan = run_cli("scenario", "back-pressure", "--plan")
    assert "+3:00  stop-machine @stations" in plan.stdout


def test_late_delivery_shuffles_telemetry_and_production_still_follows_it(
    own_broker: EmbeddedBroker,
) -> None:
    """At a paced speed, with a fifth of the records sent up to 5 minutes late: the
    answer key lists the blips, telemetry really arrives out of order, and the audit
    (invariant 7 included: nothing made while its machine was down) still passes."""
    out = _run(own_broker, "late-delivery", "--speed", FAST, effects=4)
    assert "late_report_share in the whole run" in out
    settings = KafkaSettings(own_broker.bootstrap_servers, source="flag")
    truths = [s.decode(m.value()) for m in read_to_end(settings, ["factory-ground-truth"])]
    outages = [t for t in truths if isinstance(t, s.DelayTruth)]
    assert {o.topic for o in outages} == {"machine-telemetry", "component-production"}
    assert all(0 < o.max_delay_s < 300 for o in outages)
    reports = _events(own_broker, "machine-telemetry", s.MachineTelemetry)
    newest: dict[str, float] = {}
    behind = 0
    for report in reports:
        t = report.timestamp.timestamp()
        behind += t < newest.get(report.machine_id, t)
        newest[report.machine_id] = max(t, newest.get(report.machine_id, t))
    assert behind > len(reports) * 0.05, (behind, len(reports))
