"""The broker's memory budget in a real run: a warning, then a clean stop and drain
before the budget, and an audit that passes on what was made."""

from __future__ import annotations

import json
import re

import pytest

from tests.conftest import run_cli
from widget_factory.kafka_io.broker import EmbeddedBroker
from widget_factory.kafka_io.broker_memory import local_broker_pid, resident_bytes

pytestmark = pytest.mark.integration

MIB = 1 << 20


def _peak_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def test_a_tiny_budget_stops_production_and_drains_before_it(own_broker: EmbeddedBroker) -> None:
    assert own_broker.pid is not None
    assert local_broker_pid(own_broker.bootstrap_servers) == own_broker.pid
    at_start = resident_bytes(own_broker.pid)
    assert at_start is not None
    budget_mib = at_start // MIB + 24
    result = run_cli(
        "run",
        "--bootstrap-servers",
        own_broker.bootstrap_servers,
        "--speed",
        "3000",
        "--seed",
        "3",
        "--no-dashboard",
        "--broker-memory",
        f"{budget_mib}M",
        timeout=240,
    )
    logs = result.stderr
    assert result.returncode == 0, logs[-3000:]
    assert re.search(r"The embedded broker holds \d+ MiB of its \d+ MiB budget \(\d+ %\)", logs)
    assert "stopping production and draining the factory" in logs, logs[-3000:]
    assert logs.index("budget (") < logs.index("stopping production")
    assert _peak_bytes(own_broker.pid) < budget_mib * MIB
    audit = run_cli("audit", "--json", "--bootstrap-servers", own_broker.bootstrap_servers)
    report = json.loads(audit.stdout)
    assert report["ok"], report["violations"]
    assert report["counts"]["components_produced"] > 0
    assert report["counts"]["widgets_inspected"] == report["counts"]["widgets_assembled"]
