"""The whole factory against a real broker: a drained run keeps every invariant, and the
walkthrough's four-terminal mode works with services started separately, in any order."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_cli, run_drained, run_virtual
from tests.integration.services import config_without_kanban
from tests.patience import ceiling
from widget_factory.kafka_io.broker import EmbeddedBroker
from widget_factory.kafka_io.reader import read_to_end
from widget_factory.kafka_io.settings import KafkaSettings
from widget_factory.schemas import (
    ComponentProduced,
    FactoryAlert,
    MachineTelemetry,
    ProductionOrder,
    WidgetAssembled,
    decode_as,
)

pytestmark = pytest.mark.integration


def audit(bootstrap: str, *extra: str) -> dict:
    result = run_cli("audit", "--json", "--bootstrap-servers", bootstrap, *extra)
    assert result.returncode in (0, 1), result.stderr
    return json.loads(result.stdout)


def test_a_drained_virtual_day_keeps_every_invariant(
    own_broker: EmbeddedBroker, tmp_path: Path
) -> None:
    bootstrap = own_broker.bootstrap_servers
    started = time.monotonic()
    # machines flat out (kanban off), the volume counted below; test_kanban.py runs kanban
    result = run_cli(
        "run",
        "--config",
        str(config_without_kanban(tmp_path)),
        "--bootstrap-servers",
        bootstrap,
        "--speed",
        "max",
        "--duration",
        "12h",
        "--seed",
        "7",
        timeout=240,
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr[-3000:]
    logs = result.stderr
    for line in (
        "Component produced: COMP_",
        "Widget assembled: WIDGET_",
        "Quality check: WIDGET_",
        "Added production order: ",
        "Starting telemetry simulation for FRAME_MACHINE_01",
    ):
        assert line in logs, line
    report = audit(bootstrap)
    print(f"\n12 simulated hours in {elapsed:.1f} s; audit counts {report['counts']}")
    assert report["ok"], report["violations"]
    counts = report["counts"]
    # 10 machines make ~3,800 components in 12 h; three stations build widgets from them.
    assert 2500 < counts["components_produced"] < 5000
    assert counts["widgets_assembled"] > 50
    assert counts["widgets_inspected"] == counts["widgets_assembled"]
    assert (
        counts["components_used"] + counts["components_in_stock"] == counts["components_produced"]
    )
    settings = KafkaSettings(bootstrap, source="flag")
    reports = [
        decode_as(m.value(), MachineTelemetry) for m in read_to_end(settings, ["machine-telemetry"])
    ]
    # 13 machines every 15 simulated seconds for 12 hours
    assert {r.machine_id for r in reports} == {
        "FRAME_MACHINE_01",
        "FRAME_MACHINE_02",
        "PLASTIC_MOLD_01",
        "PLASTIC_MOLD_02",
        "PCB_ASSEMBLER_01",
        "PCB_ASSEMBLER_02",
        "BATTERY_PACK_01",
        "DISPLAY_ASSEMBLY_01",
        "SENSOR_CALIB_01",
        "MOTOR_ASSEMBLY_01",
        "ASSEMBLY_STATION_A",
        "ASSEMBLY_STATION_B",
        "ASSEMBLY_STATION_C",
    }
    assert abs(len(reports) - 13 * 12 * 240) <= 13 * 2
    orders = [
        decode_as(m.value(), ProductionOrder) for m in read_to_end(settings, ["production-orders"])
    ]
    first = min(o.created_at for o in orders)
    opening = sorted(
        (o.widget_type, o.quantity, o.priority) for o in orders if o.created_at == first
    )
    assert opening == [("basic_widget", 10, 2), ("premium_widget", 5, 3), ("smart_widget", 3, 1)]


def test_same_seed_gives_the_same_components(tmp_path: Path) -> None:
    streams = []
    for _ in range(2):
        with EmbeddedBroker() as broker:
            result = run_cli(
                "components",
                "--bootstrap-servers",
                broker.bootstrap_servers,
                "--speed",
                "max",
                "--duration",
                "2h",
                "--seed",
                "42",
                "--start",
                "2026-01-01T00:00:00+00:00",
            )
            assert result.returncode == 0, result.stderr
            settings = KafkaSettings(broker.bootstrap_servers, source="flag")
            events = [
                decode_as(m.value(), ComponentProduced)
                for m in read_to_end(settings, ["component-production"])
            ]
            streams.append(
                sorted((e.component_id, e.produced_at, e.machine_id, e.event_id) for e in events)
            )
    assert streams[0] == streams[1]
    assert len(streams[0]) > 100


def _start(args: list[str], cwd: Path = ROOT, script: str | None = None) -> subprocess.Popen[str]:
    command = (
        [sys.executable, script, *args]
        if script
        else [sys.executable, "-m", "widget_factory", *args]
    )
    return subprocess.Popen(
        command,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def _stop(process: subprocess.Popen[str], timeout: float = 15) -> str:
    process.send_signal(signal.SIGINT)
    timeout = ceiling(timeout)
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        output, _ = process.communicate()
        raise AssertionError(f"did not stop within {timeout} s:\n{output[-2000:]}") from None
    assert process.returncode == 0, output[-2000:]
    return output


def test_four_terminals_in_any_order_lose_nothing(own_broker: EmbeddedBroker) -> None:
    """Production first (assembly not running yet), then assembly, QC, telemetry, inventory,
    each a separate process as in the walkthrough's four terminals; the walkthrough's
    scripts are run from the package folder with the subcommands' options."""
    bootstrap = own_broker.bootstrap_servers
    setup = subprocess.run(
        ["./setup_factory.sh", "--bootstrap-servers", bootstrap],
        cwd=ROOT / "widget_factory",
        capture_output=True,
        text=True,
        timeout=ceiling(60),
    )
    assert setup.returncode == 0, setup.stderr
    common = ["--bootstrap-servers", bootstrap, "--speed", "1200", "--seed", "5"]
    folder = ROOT / "widget_factory"
    components = _start(common, folder, "component_production_simulator.py")
    time.sleep(4)  # components pile up before anyone assembles them
    assembly = _start(common, folder, "widget_assembly_simulator.py")
    quality = _start(common, folder, "quality_control_simulator.py")
    telemetry = _start(common, folder, "machine_telemetry_simulator.py")
    inventory = _start(["inventory", *common])
    try:
        deadline = time.monotonic() + ceiling(60)
        settings = KafkaSettings(bootstrap, source="flag")
        checks = 0
        while time.monotonic() < deadline and checks < 5:
            time.sleep(2)
            checks = sum(1 for _ in read_to_end(settings, ["quality-control"]))
        assert checks >= 5, "quality checks did not flow"
    finally:
        outputs = {}
        outputs["components"] = _stop(components)
        outputs["assembly"] = _stop(assembly)
        outputs["quality"] = _stop(quality)
        outputs["telemetry"] = _stop(telemetry)
        outputs["inventory"] = _stop(inventory)
    assert "Component produced: COMP_" in outputs["components"]
    assert "Widget assembled: WIDGET_" in outputs["assembly"]
    assert "Quality check: WIDGET_" in outputs["quality"] or "failed QC" in outputs["quality"]
    assert "Starting telemetry simulation for FRAME_MACHINE_01" in outputs["telemetry"]
    report = audit(bootstrap)
    # Stopped mid-flight: widgets may await inspection, but nothing is lost or reused.
    broken = {v["invariant"] for v in report["violations"]}
    assert not broken - {5}, report["violations"]
    uninspected = [v for v in report["violations"] if v["invariant"] == 5]
    assert all("without a quality check" in v["message"] for v in uninspected)
    # every component produced before assembly started was received: stock + used = produced
    counts = report["counts"]
    assert (
        counts["components_used"] + counts["components_in_stock"] == counts["components_produced"]
    )
    assert counts["components_used"] > 0


def test_alerts_flow_for_machine_errors(own_broker: EmbeddedBroker) -> None:
    result = run_virtual(own_broker.bootstrap_servers, duration="12h", seed=11)
    assert result.returncode == 0, result.stderr[-2000:]
    settings = KafkaSettings(own_broker.bootstrap_servers, source="flag")
    alerts = [decode_as(m.value(), FactoryAlert) for m in read_to_end(settings, ["factory-alerts"])]
    kinds = {a.kind for a in alerts}
    assert "machine_error" in kinds, kinds
    machine_errors = [a for a in alerts if a.kind == "machine_error"]
    assert all("in ERROR state" in a.message for a in machine_errors)
    assert "in ERROR state!" in result.stderr


def test_bad_options_and_configs_exit_2_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(
        (ROOT / "widget_factory" / "factory.toml")
        .read_text()
        .replace(
            'recipe = ["metal_frame", "plastic_housing", "circuit_board"]',
            'recipe = ["metal_frame", "unobtainium"]',
        )
    )
    for args, needle in [
        (["components", "--config", str(bad)], "widget_types.basic_widget.recipe"),
        (["components", "--speed", "fast"], "--speed"),
        (["components", "--duration", "forever"], "--duration"),
        (["assembly", "--station", "ASSEMBLY_STATION_Z"], "unknown station"),
        (["run", "--config", str(tmp_path / "missing.toml")], "no such config file"),
    ]:
        result = run_cli(*args, "--bootstrap-servers", "127.0.0.1:1")
        assert result.returncode == 2, (args, result.stderr)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and needle in lines[0], (args, result.stderr)


def test_a_widget_type_added_by_config_runs_end_to_end(
    own_broker: EmbeddedBroker, tmp_path: Path
) -> None:
    text = (ROOT / "widget_factory" / "factory.toml").read_text()
    text += """
[widget_types.mini_widget]
recipe = ["metal_frame", "battery"]
assembly_time_s = 120
min_performance = 70
pass_rate = 0.97

[[stations]]
id = "ASSEMBLY_STATION_D"
builds = ["mini_widget"]
location = { building = "A", floor = 2, line = "D" }

[[assembly.initial_orders]]
widget_type = "mini_widget"
quantity = 20
priority = 3
"""
    config = tmp_path / "factory.toml"
    config.write_text(text)
    bootstrap = own_broker.bootstrap_servers
    result = run_virtual(bootstrap, duration="4h", seed=3, extra=("--config", str(config)))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "(mini_widget) at ASSEMBLY_STATION_D" in result.stderr
    report = audit(bootstrap, "--config", str(config))
    assert report["ok"], report["violations"]
    settings = KafkaSettings(bootstrap, source="flag")
    minis = [
        w
        for w in (
            decode_as(m.value(), WidgetAssembled)
            for m in read_to_end(settings, ["widget-assembly"])
        )
        if w.widget_type == "mini_widget"
    ]
    assert len(minis) >= 10
    assert {w.assembly_station_id for w in minis} == {"ASSEMBLY_STATION_D"}
    assert all(
        sorted(c[5:-9].lower() for c in w.component_ids) == ["battery", "metal_frame"]
        for w in minis
    )
    telemetry = {
        decode_as(m.value(), MachineTelemetry).machine_id
        for m in read_to_end(settings, ["machine-telemetry"])
    }
    assert "ASSEMBLY_STATION_D" in telemetry


def test_a_second_run_on_the_same_cluster_continues_simulated_time(
    own_broker: EmbeddedBroker, tmp_path: Path
) -> None:
    """A durable cluster keeps a run's events (and the stations' changelog), possibly far
    ahead in simulated time: the next run starts after them and its stations keep building."""
    bootstrap = own_broker.bootstrap_servers
    settings = KafkaSettings(bootstrap, source="flag")
    # machines flat out (kanban off): the second run's volume is counted below
    flat_out = ("--config", str(config_without_kanban(tmp_path)))
    run_drained(bootstrap, duration="1d", seed=2, extra=flat_out)
    first = [
        decode_as(m.value(), WidgetAssembled) for m in read_to_end(settings, ["widget-assembly"])
    ]
    last_of_first = max(
        c.produced_at
        for c in (
            decode_as(m.value(), ComponentProduced)
            for m in read_to_end(settings, ["component-production"])
        )
    )
    result = run_drained(bootstrap, duration="6h", seed=3, extra=flat_out)
    assert "continues after the cluster's latest event" in result.stderr
    components = [
        decode_as(m.value(), ComponentProduced)
        for m in read_to_end(settings, ["component-production"])
    ]
    second = [c for c in components if c.produced_at > last_of_first]
    assert len(second) > 500, "the second run produced after the first"
    widgets = [
        decode_as(m.value(), WidgetAssembled) for m in read_to_end(settings, ["widget-assembly"])
    ]
    stops = [line for line in result.stderr.splitlines() if "stopped" in line or "broker" in line]
    assert len(widgets) - len(first) > 10, (
        "stations restored from the changelog kept building",
        stops,
    )
    report = audit(bootstrap)
    assert report["ok"], report["violations"]
