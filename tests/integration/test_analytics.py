"""The analytics service on a real broker: a drained factory's totals, restarts, late events."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator

import pytest

from tests.conftest import run_cli, run_drained
from tests.patience import ceiling
from tests.unit.test_analytics import T0, component
from widget_factory.analytics.service import AnalyticsOptions, AnalyticsService
from widget_factory.core.clock import to_datetime
from widget_factory.core.metric_records import Metric, decode_metric
from widget_factory.factory_config import default_config
from widget_factory.kafka_io.broker import EmbeddedBroker
from widget_factory.kafka_io.client import EventProducer
from widget_factory.kafka_io.reader import read_to_end
from widget_factory.kafka_io.settings import KafkaSettings
from widget_factory.kafka_io.topics import (
    COMPONENT_PRODUCTION,
    FACTORY_METRICS,
    INVENTORY_UPDATES,
    QUALITY_CONTROL,
    WIDGET_ASSEMBLY,
    create_topics,
)
from widget_factory.processes.lifecycle import Lifecycle
from widget_factory.schemas import InventoryUpdate, QualityCheck, decode_as

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def drained_factory() -> Iterator[KafkaSettings]:
    """Three simulated hours of the factory, drained, without analytics of its own."""
    with EmbeddedBroker() as broker:
        run_drained(broker.bootstrap_servers, seed=7, extra=("--no-dashboard", "--no-analytics"))
        yield KafkaSettings(broker.bootstrap_servers, source="flag")


def _metrics(settings: KafkaSettings) -> list[Metric]:
    return [decode_metric(m.value()) for m in read_to_end(settings, [FACTORY_METRICS])]


def _count(settings: KafkaSettings, topic: str) -> int:
    return sum(1 for _ in read_to_end(settings, [topic]))


def test_metrics_of_a_drained_run_add_up_to_the_topics_and_are_not_sent_twice(
    drained_factory: KafkaSettings,
) -> None:
    settings = drained_factory
    started = time.monotonic()
    first = run_cli(
        "analytics", "--until-idle", "--bootstrap-servers", settings.bootstrap_servers, timeout=60
    )
    assert first.returncode == 0, first.stderr[-2000:]
    assert time.monotonic() - started < ceiling(30)
    metrics = _metrics(settings)
    assert metrics, "no metrics published"
    assert len({m.event_id for m in metrics}) == len(metrics)
    by_name: dict[str, list[Metric]] = {}
    for metric in metrics:
        by_name.setdefault(metric.metric, []).append(metric)

    components = _count(settings, COMPONENT_PRODUCTION)
    widgets = _count(settings, WIDGET_ASSEMBLY)
    checks = [decode_as(m.value(), QualityCheck) for m in read_to_end(settings, [QUALITY_CONTROL])]
    assert components > 100 and widgets > 10
    assert sum(m.values["components"] for m in by_name["machine_throughput"]) == components
    assert sum(m.values["widgets"] for m in by_name["station_throughput"]) == widgets
    assert sum(m.values["widgets"] for m in by_name["assembly_time"]) == widgets
    assert sum(m.values["checks"] for m in by_name["qc_pass_rate"]) == len(checks)
    assert sum(m.values["passed"] for m in by_name["qc_pass_rate"]) == sum(
        c.status.value == "pass" for c in checks
    )
    failures = Counter(d for c in checks for d in set(c.defects_found))
    published = Counter()
    for m in by_name.get("qc_failure_reason", []):
        published[m.key] += m.values["failures"]
    assert published == failures

    # the last stock level of each SKU is the ledger's
    ledger: dict[str, int] = {}
    for message in read_to_end(settings, [INVENTORY_UPDATES]):
        update = decode_as(message.value(), InventoryUpdate)
        ledger[update.sku] = update.current_stock
    last: dict[str, tuple[object, int]] = {}
    for m in by_name["stock_level"]:
        if m.key not in last or m.window_end > last[m.key][0]:
            last[m.key] = (m.window_end, m.values["level"])
    assert {sku: level for sku, (_, level) in last.items()} == ledger

    # every machine has an OEE in (almost) every window, with factors within 0..1
    oee = [m for m in by_name["machine_oee"] if m.values["oee"] is not None]
    assert oee
    assert all(0.0 <= m.values["oee"] <= 1.0 for m in oee)
    assert {m.key for m in by_name["machine_oee"]} == set(default_config().all_machine_ids)

    # a second run recomputes the same windows and publishes none of them again
    second = run_cli(
        "analytics", "--until-idle", "--bootstrap-servers", settings.bootstrap_servers, timeout=60
    )
    assert second.returncode == 0, second.stderr[-2000:]
    assert "0 metrics published" in second.stderr
    assert len(_metrics(settings)) == len(metrics)


def test_an_event_behind_a_closed_window_is_counted_late_on_a_real_broker(
    own_broker: EmbeddedBroker,
) -> None:
    settings = KafkaSettings(own_broker.bootstrap_servers, source="flag")
    create_topics(settings)
    producer = EventProducer(settings, client_id="test")

    def send(*seconds: float) -> None:
        for t in seconds:
            producer.send(COMPONENT_PRODUCTION, component(t))
        assert producer.flush(10) == 0

    lifecycle = Lifecycle()
    service = AnalyticsService(
        AnalyticsOptions(settings, default_config(), lateness_s=60, idle_s=0.5), lifecycle
    )
    thread = threading.Thread(target=service.run, daemon=True)
    send(10, 20, 400)
    thread.start()
    try:
        first_window = to_datetime(T0)

        def window_of(metrics: list[Metric], start: object, machine: str) -> list[Metric]:
            return [
                m
                for m in metrics
                if m.metric == "machine_throughput" and m.key == machine and m.window_start == start
            ]

        deadline = time.monotonic() + ceiling(30)
        while time.monotonic() < deadline:
            if window_of(_metrics(settings), first_window, "FRAME_MACHINE_01"):
                break
            time.sleep(0.3)
        [closed] = window_of(_metrics(settings), first_window, "FRAME_MACHINE_01")
        assert closed.values["components"] == 2
        send(30, 600)  # 30 s belongs to the window already published: late
        deadline = time.monotonic() + ceiling(30)
        late: list[Metric] = []
        while time.monotonic() < deadline and len(late) < 2:
            late = [m for m in _metrics(settings) if m.metric == "late_events"]
            time.sleep(0.3)
        # late for the throughput windows and for the machines' OEE windows alike
        assert sorted((m.key, m.values["late"]) for m in late) == [
            ("machines", 1),
            ("production", 1),
        ]
        # the window holding 400 s closed with it; the late event changed nothing published
        [again] = window_of(_metrics(settings), first_window, "FRAME_MACHINE_01")
        assert again.values["components"] == 2
        window_400 = to_datetime(T0 + 360)
        [later] = window_of(_metrics(settings), window_400, "FRAME_MACHINE_01")
        assert later.values["components"] == 1
    finally:
        lifecycle.stop()
        thread.join(15)
    assert service.engine.late_counts()["production"] == 1


def test_bad_analytics_options_are_one_line_and_status_2(kafka: KafkaSettings) -> None:
    result = run_cli(
        "analytics", "--window", "soon", "--bootstrap-servers", kafka.bootstrap_servers
    )
    assert result.returncode == 2
    assert "--window" in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("scale", [(), ("--stations", "3")], ids=["lockstep", "scaled-out"])
def test_the_analytics_of_a_whole_factory_run_in_the_past_drops_nothing_as_late(
    scale: tuple[str, ...],
) -> None:
    """At --speed max from a start in the past, telemetry runs simulated hours ahead
    before the first component, widget or check is read; none of them may be late,
    in event-time order (one process per service) or not (three station processes)."""
    with EmbeddedBroker() as broker:
        settings = KafkaSettings(broker.bootstrap_servers, source="flag")
        result = run_drained(
            broker.bootstrap_servers,
            seed=2,
            extra=("--start", "2026-01-01T00:00:00+00:00", *scale),
        )
        summary = [line for line in result.stderr.splitlines() if "Analytics stopped" in line]
        assert summary, result.stderr[-3000:]
        assert "late events" not in summary[-1], summary[-1]
        # scaled out, partitions are not in time order: no window closes before the end
        assert ("Windows held to the end" in result.stderr) == bool(scale)
        metrics = _metrics(settings)
        assert not [m for m in metrics if m.metric == "late_events"]
        components = _count(settings, COMPONENT_PRODUCTION)
        assert components > 100
        oee = [m for m in metrics if m.metric == "machine_oee" and m.key in _MACHINES]
        assert sum(m.values["made"] for m in oee) == components
        throughput = [m for m in metrics if m.metric == "machine_throughput"]
        assert sum(m.values["components"] for m in throughput) == components


_MACHINES = {m.id for m in default_config().machines}
