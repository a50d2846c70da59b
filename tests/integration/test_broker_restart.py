"""The embedded broker restarted under a running factory: it comes back empty, a new
cluster. Every service must say so in one line and stop with the status kept for it,
without a traceback, and without recreating topics on the new broker."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest
from confluent_kafka.admin import AdminClient

from tests.conftest import run_cli
from tests.integration.services import Factory, Service, wait_for
from widget_factory.kafka_io.broker import EmbeddedBroker
from widget_factory.kafka_io.cluster_identity import EXIT_CLUSTER_REPLACED
from widget_factory.kafka_io.reader import read_to_end
from widget_factory.kafka_io.settings import KafkaSettings
from widget_factory.kafka_io.topics import TOPICS

pytestmark = [pytest.mark.integration, pytest.mark.slow]

EXIT_CEILING_S = 90.0
"""Generous: detection takes seconds, but the machine may be busy."""

LINE = "was replaced (cluster id"


def test_services_stop_with_their_own_status_when_the_broker_restarts_empty(
    own_broker: EmbeddedBroker, tmp_path: Path
) -> None:
    bootstrap = own_broker.bootstrap_servers
    result = run_cli("setup", "--bootstrap-servers", bootstrap)
    assert result.returncode == 0, result.stderr
    settings = KafkaSettings(bootstrap, source="flag")
    factory = Factory(bootstrap, speed="600")
    given = ["--bootstrap-servers", bootstrap]
    factory.services["analytics"] = Service("analytics", given)
    factory.services["sink"] = Service("sink", [*given, "--db", str(tmp_path / "f.duckdb")])
    factory.start()
    first_id = own_broker.cluster_id
    replacement = EmbeddedBroker(own_broker.port)
    try:
        assert wait_for(lambda: sum(1 for _ in read_to_end(settings, ["quality-control"])) > 0, 60)
        own_broker.stop()  # Ctrl-C in the broker's terminal
        replacement.start()  # ... and the same command again: same address, empty
        assert replacement.cluster_id != first_id
        codes: dict[str, int | None] = {}
        deadline = time.monotonic() + EXIT_CEILING_S
        for name, service in factory.services.items():
            try:
                codes[name] = service.wait(max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                codes[name] = None
        outputs = {name: s.output() for name, s in factory.services.items()}
        detail = "\n".join(f"--- {n} ({codes[n]})\n{o[-2500:]}" for n, o in outputs.items())
        assert all(code == EXIT_CLUSTER_REPLACED for code in codes.values()), detail
        for name, output in outputs.items():
            said = [line for line in output.splitlines() if LINE in line]
            assert len(said) == 1, f"{name} said it {len(said)} times:\n{detail}"
            assert "widget-factory setup" in said[0]
            assert "Traceback" not in output, detail
        metadata = AdminClient({"bootstrap.servers": replacement.bootstrap_servers}).list_topics(
            timeout=10
        )
        assert metadata.cluster_id == replacement.cluster_id
        ours = {spec.name for spec in TOPICS}
        recreated = {name: len(t.partitions) for name, t in metadata.topics.items()}
        assert not recreated.keys() & ours, f"topics auto-created on the new broker: {recreated}"
    finally:
        factory.stop()
        replacement.stop()


def test_run_stops_with_the_same_status_and_says_the_broker_came_back_empty(
    own_broker: EmbeddedBroker,
) -> None:
    bootstrap = own_broker.bootstrap_servers
    settings = KafkaSettings(bootstrap, source="flag")
    run = Service("run", ["--bootstrap-servers", bootstrap, "--speed", "600", "--no-dashboard"])
    run.start()
    replacement = EmbeddedBroker(own_broker.port)
    try:
        assert wait_for(lambda: sum(1 for _ in read_to_end(settings, ["quality-control"])) > 0, 60)
        own_broker.stop()
        replacement.start()
        try:
            code = run.wait(EXIT_CEILING_S)
        except subprocess.TimeoutExpired:
            code = None
        output = run.output()
        assert code == EXIT_CLUSTER_REPLACED, output[-4000:]
        assert "Traceback" not in output, output[-4000:]
        lines = output.splitlines()
        stopped = [line for line in lines if line.startswith("ERROR:factory:the broker came back")]
        assert len(stopped) == 1 and "widget-factory setup" in stopped[0], output[-4000:]
        for name in ("components", "assembly", "quality", "telemetry", "inventory"):
            said = [line for line in lines if line.startswith(f"widget-factory {name}: error:")]
            assert len(said) <= 1, said  # the first to notice stops run, which stops the rest
        metadata = AdminClient({"bootstrap.servers": replacement.bootstrap_servers}).list_topics(
            timeout=10
        )
        assert not metadata.topics.keys() & {spec.name for spec in TOPICS}, metadata.topics
    finally:
        run.signal(signal.SIGTERM)
        if run.alive:
            run.wait(30)
        replacement.stop()
