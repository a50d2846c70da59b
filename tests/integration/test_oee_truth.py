"""The analytics service's OEE against the answer key's ``oee_truth``, on a real broker.

A drained three-hour run at ``--speed max`` (a fixed ``--seed`` and ``--start``), then
``widget-factory analytics --until-idle`` over its topics: nothing arrives late, so per
machine and window the OEE is within the sampling bound of docs/analytics.md (in this
simulation production itself follows the 15 s reports, so in fact equal), and over
each simulated hour within 1 point.
"""

from __future__ import annotations

from collections import defaultdict

import pytest

from tests.conftest import run_cli, run_drained
from widget_factory.core.metric_records import decode_metric
from widget_factory.factory_config import default_config
from widget_factory.kafka_io.broker import EmbeddedBroker
from widget_factory.kafka_io.reader import read_to_end
from widget_factory.kafka_io.settings import KafkaSettings
from widget_factory.kafka_io.topics import (
    FACTORY_GROUND_TRUTH,
    FACTORY_METRICS,
    MACHINE_TELEMETRY,
)
from widget_factory.schemas import MachineTelemetry, OeeTruth, decode, decode_as

pytestmark = pytest.mark.integration

START = "2026-03-01T00:00:00+00:00"
CONFIG = default_config()
SAMPLE_S = CONFIG.simulation.telemetry_interval_s


def _factors(
    available: float, shutdown: float, observed: float, nominal: float, made: int, good: int
) -> dict[str, float | None]:
    a = available / (observed - shutdown) if observed - shutdown > 0 else None
    p = min(nominal, available) / available if available > 0 else None
    q = good / made if made else None
    oee = a * p * q if a is not None and p is not None and q is not None else None
    return {"availability": a, "performance": p, "quality": q, "oee": oee}


def test_analytics_oee_matches_the_answer_key(own_broker: EmbeddedBroker) -> None:
    bootstrap = own_broker.bootstrap_servers
    settings = KafkaSettings(bootstrap, source="flag")
    run_drained(bootstrap, seed=7, extra=("--start", START, "--no-dashboard", "--no-analytics"))
    result = run_cli("analytics", "--until-idle", "--bootstrap-servers", bootstrap, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]

    seen: dict[tuple[str, float], dict] = {}
    late: list[dict] = []
    for message in read_to_end(settings, [FACTORY_METRICS]):
        metric = decode_metric(message.value())
        if metric.metric == "machine_oee":
            seen[(metric.key, metric.window_start.timestamp())] = dict(metric.values)
        elif metric.metric == "late_events" and metric.key == "machines":
            late.append(dict(metric.values))
    assert late == []  # nothing arrived late for machine OEE
    truth: dict[tuple[str, float], OeeTruth] = {}
    for message in read_to_end(settings, [FACTORY_GROUND_TRUTH]):
        event = decode(message.value())
        if isinstance(event, OeeTruth) and event.target_kind == "machine":
            truth[(event.target_id, event.window_start.timestamp())] = event
    assert len(truth) == 3 * 60 * len(CONFIG.machines)

    # status changes as the reports show them, per machine: what the bound counts
    last: dict[str, str] = {}
    reports = sorted(
        (
            decode_as(m.value(), MachineTelemetry)
            for m in read_to_end(settings, [MACHINE_TELEMETRY])
        ),
        key=lambda r: r.timestamp,
    )
    flips: dict[str, list[float]] = defaultdict(list)
    for report in reports:
        previous = last.get(report.machine_id)
        if previous is not None and previous != report.status.value:
            flips[report.machine_id].append(report.timestamp.timestamp())
        last[report.machine_id] = report.status.value

    hours: dict[tuple[str, float], list[tuple[OeeTruth, dict]]] = defaultdict(list)
    for key, record in truth.items():
        machine_id, start = key
        values = seen.get(key)
        assert values is not None, key
        assert (values["made"], values["good"]) == (record.made, record.good), key
        n = sum(1 for at in flips[machine_id] if start - SAMPLE_S < at < start + 60.0)
        planned = 60.0 - max(record.shutdown_s, values["shutdown_s"])
        bound = n * SAMPLE_S / planned if planned > 0 else 1.0
        for factor in ("availability", "oee"):
            mine, true = values[factor], getattr(record, factor)
            if mine is not None and true is not None:
                assert abs(mine - true) <= bound + 1e-3, (key, factor, mine, true)
        assert values["quality"] == pytest.approx(record.quality, abs=1e-4)
        hours[(machine_id, start - start % 3600)].append((record, values))

    nominal = {m.id: sum(m.cycle_time_s) / 2 for m in CONFIG.machines}
    assert len(hours) >= 3 * len(CONFIG.machines)
    for (machine_id, _), pairs in hours.items():
        true_hour = _factors(
            sum(r.producing_s for r, _ in pairs),
            sum(r.shutdown_s for r, _ in pairs),
            sum((r.window_end - r.window_start).total_seconds() for r, _ in pairs),
            sum(r.made for r, _ in pairs) * nominal[machine_id],
            sum(r.made for r, _ in pairs),
            sum(r.good for r, _ in pairs),
        )
        seen_hour = _factors(
            sum(v["running_s"] + v["idle_s"] for _, v in pairs),
            sum(v["shutdown_s"] for _, v in pairs),
            sum(v["observed_s"] for _, v in pairs),
            sum(v["nominal_s"] for _, v in pairs),
            sum(v["made"] for _, v in pairs),
            sum(v["good"] for _, v in pairs),
        )
        for factor, true in true_hour.items():
            mine = seen_hour[factor]
            assert (mine is None) == (true is None), (machine_id, factor)
            if mine is not None and true is not None:
                assert abs(mine - true) < 0.01, (machine_id, factor, mine, true)
