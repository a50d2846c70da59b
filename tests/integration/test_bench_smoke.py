"""`widget-factory bench`: one quick run of every phase against a broker of the test's own.

Not a speed test: it checks that every measurement runs, reports sane figures under the
documented keys, and that each factory run it made passes the audit.
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_cli
from widget_factory.kafka_io.broker import EmbeddedBroker

pytestmark = pytest.mark.integration

HEADLINE_KEYS = (
    "raw_per_s",
    "generation_per_s",
    "pipeline_components_per_s",
    "hop_p99_ms",
    "hop_floor_p99_ms",
    "virtual_day_s",
    "max_rss_mb",
)


def test_bench_measures_every_phase_and_audits_what_it_made(own_broker: EmbeddedBroker) -> None:
    result = run_cli(
        "bench",
        "--json",
        "--duration",
        "1",
        "--bootstrap-servers",
        own_broker.bootstrap_servers,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    doc = json.loads(result.stdout)
    for key in HEADLINE_KEYS:
        assert isinstance(doc[key], int | float) and doc[key] > 0, (key, doc[key])
    assert doc["audit_ok"] is True
    assert doc["audits"] == {
        "pipeline": True,
        "pipeline_sustained": True,
        "latency": True,
        "virtual_day": True,
    }
    assert doc["generation_ratio"] > 0 and doc["pipeline_ratio"] > 0
    generation = doc["generation"]  # with one process per service, and with two
    assert generation["one_worker_per_s"] > 0 and generation["workers"] == 2
    assert generation["workers_components_per_s"] > 0 and generation["workers_per_s"] > 0
    assert doc["generation_one_worker_ratio"] > 0 and doc["generation_workers_ratio"] > 0
    assert doc["pipeline"]["components_end_to_end"] > 0
    sustained = doc["pipeline"]["sustained"]
    assert sustained["components_per_s"] > 0 and isinstance(sustained["lag_bounded"], bool)
    assert set(doc["latency"]["hops"]) == {"produce", "assemble", "inspect"}
    floor = doc["latency"]["floor"]  # one bare hop through the same broker
    assert floor["count"] > 0 and 0 < floor["p50_ms"] <= floor["p99_ms"]
    assert set(doc["rss_mb"]) == {"components", "telemetry", "assembly", "quality", "inventory"}
    assert set(doc["targets"]) == {
        "generation_ratio",
        "pipeline_ratio",
        "hop_p99_ms",
        "virtual_day_s",
        "max_rss_mb",
    }


def test_bench_refuses_a_cluster_holding_factory_records_unless_told(
    own_broker: EmbeddedBroker,
) -> None:
    bootstrap = own_broker.bootstrap_servers
    run = run_cli("run", "--bootstrap-servers", bootstrap, "--speed", "max", "--duration", "1h")
    assert run.returncode == 0, run.stderr[-2000:]
    refused = run_cli(
        "bench", "--only", "raw", "--duration", "0.5", "--bootstrap-servers", bootstrap
    )
    assert refused.returncode == 2
    assert "--reset" in refused.stderr and len(refused.stderr.strip().splitlines()) == 1
    allowed = run_cli(
        "bench", "--only", "raw", "--duration", "0.5", "--reset", "--bootstrap-servers", bootstrap
    )
    assert allowed.returncode == 0, allowed.stderr[-2000:]
    assert "raw producer" in allowed.stdout
