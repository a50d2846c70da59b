"""The answer key over a real broker: faults on factory-ground-truth, and ``score``."""

from __future__ import annotations

import json
import signal
from collections import Counter
from collections.abc import Iterator
from datetime import datetime

import pytest

from tests.conftest import run_cli, run_drained
from tests.integration.services import Service, wait_for
from widget_factory.core.clock import to_epoch
from widget_factory.core.fault_influence import FaultIndex
from widget_factory.kafka_io.broker import EmbeddedBroker
from widget_factory.kafka_io.reader import read_to_end
from widget_factory.kafka_io.settings import KafkaSettings
from widget_factory.schemas import (
    ComponentProduced,
    FaultTruth,
    InfluenceTruth,
    MachineStatus,
    MachineTelemetry,
    QualityCheck,
    WidgetAssembled,
    decode_as,
)

MACHINE = "FRAME_MACHINE_01"
START = "2026-03-01T00:00:00+00:00"


def _truth(settings: KafkaSettings) -> list[tuple[FaultTruth, bytes | None, int]]:
    """The fault records of the answer key (not its oee_truth records)."""
    return [
        (decode_as(m.value(), FaultTruth), m.key(), m.timestamp()[1])
        for m in read_to_end(settings, ["factory-ground-truth"])
        if b'"fault_truth"' in (m.value() or b"")
    ]


def test_a_commanded_stop_is_in_the_answer_key_with_its_cause_and_interval(
    own_broker: EmbeddedBroker,
) -> None:
    bootstrap = own_broker.bootstrap_servers
    settings = KafkaSettings(bootstrap, source="flag")
    telemetry = Service(
        "telemetry",
        ["--bootstrap-servers", bootstrap, "--speed", "60", "--start", START, "--seed", "3"],
    )
    telemetry.start()
    try:
        assert wait_for(lambda: any(read_to_end(settings, ["machine-telemetry"])), 60)
        for command in ("stop-machine", "start-machine"):
            result = run_cli(command, MACHINE, "--wait", "--bootstrap-servers", bootstrap)
            assert result.returncode == 0, result.stderr
    finally:
        telemetry.signal(signal.SIGINT)
        assert telemetry.wait(30) == 0, telemetry.output()[-3000:]
    reports = [
        decode_as(m.value(), MachineTelemetry) for m in read_to_end(settings, ["machine-telemetry"])
    ]
    mine = sorted((r for r in reports if r.machine_id == MACHINE), key=lambda r: r.timestamp)
    stopped = next(r.timestamp for r in mine if r.status is MachineStatus.SHUTDOWN)
    restarted = next(
        r.timestamp for r in mine if r.timestamp > stopped and r.status is MachineStatus.IDLE
    )
    assert stopped >= datetime.fromisoformat(START)
    shutdowns = [
        (record, key, ms)
        for record, key, ms in _truth(settings)
        if record.kind == "shutdown" and record.target_id == MACHINE
    ]
    assert [r.phase for r, _, _ in shutdowns] == ["begin", "end"]
    (begin, begin_key, begin_ms), (end, end_key, end_ms) = shutdowns
    assert begin.cause == end.cause == "command"
    assert begin.fault_id == end.fault_id
    assert begin.started_at == end.started_at == stopped
    assert end.ended_at == restarted and not end.open_at_end
    assert begin_key == end_key == MACHINE.encode()
    assert begin_ms == int(to_epoch(stopped) * 1000)
    assert end_ms == int(to_epoch(restarted) * 1000)
    assert end.effects is not None and end.effects.unit == "component"


def test_a_simulated_day_pairs_every_fault_and_scores_the_built_in_alerts(
    own_broker: EmbeddedBroker,
) -> None:
    bootstrap = own_broker.bootstrap_servers
    settings = KafkaSettings(bootstrap, source="flag")
    run_drained(bootstrap, duration="1d", seed=5, extra=("--no-dashboard", "--no-analytics"))
    truth = _truth(settings)
    phases = Counter((r.fault_id, r.phase) for r, _, _ in truth)
    faults = {fid for fid, _ in phases}
    assert len(faults) > 20
    assert all(phases[(fid, "begin")] == 1 and phases[(fid, "end")] == 1 for fid in faults)
    assert {r.kind for r, _, _ in truth} >= {"breakdown", "maintenance", "starvation"}
    for record, key, ms in truth:
        assert key == record.target_id.encode()
        assert ms == int(to_epoch(record.occurred_at) * 1000)

    result = run_cli("score", "--json", "--bootstrap-servers", bootstrap, timeout=120)
    assert result.returncode == 0, result.stderr
    score = json.loads(result.stdout)
    kinds = score["by_fault_kind"]
    # Measured on seed 5 (one simulated day): every breakdown and starvation detected,
    # no maintenance (the factory raises no alert for planned work), recall about 0.8
    # overall; the pass-rate alerts match no fault (they name widget types, not machines).
    assert kinds["breakdown"]["recall"] == 1.0
    assert kinds["breakdown"]["delay_p90_s"] == 0.0
    assert kinds["starvation"]["recall"] >= 0.8
    assert kinds["maintenance"]["recall"] == 0.0
    assert 0.6 <= score["recall"] < 1.0
    assert score["by_alert_kind"]["machine_error"]["precision"] == 1.0
    assert score["faults"] == len(faults)

    text = run_cli("score", "--bootstrap-servers", bootstrap, timeout=120)
    assert text.returncode == 0, text.stderr
    assert "breakdown" in text.stdout and "Precision:" in text.stdout

    # The same topic scored as a user's own stream: fields named by options.
    own = run_cli(
        "score",
        "--json",
        "--alerts-topic",
        "factory-alerts",
        "--target-field",
        "source_id",
        "--time-field",
        "@timestamp",
        "--kind-field",
        "",
        "--bootstrap-servers",
        bootstrap,
        timeout=120,
    )
    assert own.returncode == 0, own.stderr
    assert json.loads(own.stdout)["recall"] == score["recall"]

    missing = run_cli("score", "--alerts-topic", "nope", "--bootstrap-servers", bootstrap)
    assert missing.returncode == 2
    assert "topic 'nope' does not exist" in missing.stderr


@pytest.fixture(scope="module")
def three_days() -> Iterator[KafkaSettings]:
    """Three simulated days, seed 5, drained: machines break down and are repaired, worn
    ones drift."""
    with EmbeddedBroker() as broker:
        bootstrap = broker.bootstrap_servers
        run_drained(bootstrap, duration="3d", seed=5, extra=("--no-dashboard", "--no-analytics"))
        yield KafkaSettings(bootstrap, source="flag")


def test_quality_drifts_name_the_worse_parts_their_machine_made(
    three_days: KafkaSettings,
) -> None:
    """Three simulated days: worn machines drift, and each drift's records pair up and
    list exactly parts its machine made meanwhile, visibly more often defective."""
    settings = three_days
    drifts = [(r, key, ms) for r, key, ms in _truth(settings) if r.kind == "quality_drift"]
    begins = {r.fault_id: r for r, _, _ in drifts if r.phase == "begin"}
    ends = {r.fault_id: r for r, _, _ in drifts if r.phase == "end"}
    assert len(begins) >= 2 and begins.keys() == ends.keys()
    assert len(drifts) == 2 * len(begins)
    for record, key, ms in drifts:
        assert record.cause == "wear" and record.target_type == "machine"
        assert key == record.target_id.encode()
        assert ms == int(to_epoch(record.occurred_at) * 1000)
    parts = {
        p.component_id: p
        for p in (
            decode_as(m.value(), ComponentProduced)
            for m in read_to_end(settings, ["component-production"])
        )
    }
    listed = []
    for end in ends.values():
        assert end.effects is not None and end.ended_at is not None
        assert end.effects.units_not_made == 0
        assert len(end.effects.degraded_ids) == min(end.effects.made_while_degraded, 200)
        inside = [
            p
            for p in parts.values()
            if p.machine_id == end.target_id and end.started_at <= p.produced_at <= end.ended_at
        ]
        assert end.effects.made_while_degraded == len(inside)
        for component_id in end.effects.degraded_ids:
            part = parts[component_id]
            assert part.machine_id == end.target_id
            assert end.started_at <= part.produced_at <= end.ended_at
            listed.append(part)
    assert len(listed) > 30
    defective = sum(p.quality_metrics.defect_count > 0 for p in listed) / len(listed)
    assert defective > 0.4  # against 0.2 for a machine in good order


def test_influence_truth_names_the_widgets_each_fault_s_flawed_parts_went_into(
    three_days: KafkaSettings,
) -> None:
    """Quality control's influence_truth records: each names a fault of the answer key
    and the widget's flawed parts it made worse (inside a drift, or settling in after
    the repair that ended a breakdown), one record per fault and widget, with the
    widget's check; and exactly the ones the whole answer key gives, read after the run."""
    settings = three_days
    truth = [record for record, _, _ in _truth(settings)]
    ends = {r.fault_id: r for r in truth if r.phase == "end"}
    influence = [
        (decode_as(m.value(), InfluenceTruth), m.key(), m.timestamp()[1])
        for m in read_to_end(settings, ["factory-ground-truth"])
        if b'"influence_truth"' in (m.value() or b"")
    ]
    widgets = {
        w.widget_id: w
        for w in (
            decode_as(m.value(), WidgetAssembled)
            for m in read_to_end(settings, ["widget-assembly"])
        )
    }
    checks = {
        c.widget_id: c
        for c in (
            decode_as(m.value(), QualityCheck) for m in read_to_end(settings, ["quality-control"])
        )
    }
    kinds = Counter(r.kind for r, _, _ in influence)
    assert kinds["quality_drift"] >= 5 and kinds["breakdown"] >= 20, kinds
    assert len({(r.fault_id, r.widget_id) for r, _, _ in influence}) == len(influence)
    for record, key, ms in influence:
        fault = ends[record.fault_id]
        assert (fault.target_id, fault.kind) == (record.target_id, record.kind)
        assert fault.target_type == "machine" and fault.ended_at is not None
        assert key == record.target_id.encode()
        assert ms == int(to_epoch(record.inspected_at) * 1000)
        check = checks[record.widget_id]
        assert (record.check_id, record.status, record.inspected_at) == (
            check.check_id,
            check.status,
            check.checked_at,
        )
        traced = check.traced_to.component_id if check.traced_to is not None else None
        assert record.traced == (traced in record.component_ids)
        flaws = {f.component_id: f for f in widgets[record.widget_id].component_flaws}
        for component_id in record.component_ids:
            flaw = flaws[component_id]
            assert flaw.machine_id == record.target_id and flaw.produced_at is not None
            if record.kind == "quality_drift":
                assert flaw.defect_count > 0
                assert fault.started_at <= flaw.produced_at <= fault.ended_at
            else:
                assert flaw.made_while_degraded and fault.ended_at <= flaw.produced_at
    # nothing missing, nothing more: what the whole answer key attributes afterwards
    index = FaultIndex()
    for record in truth:
        index.add(record)
    expected = {
        (a.fault_id, widget_id, a.component_ids)
        for widget_id, widget in widgets.items()
        if widget_id in checks
        for a in index.attribute(widget.component_flaws)
    }
    assert expected == {(r.fault_id, r.widget_id, tuple(r.component_ids)) for r, _, _ in influence}
