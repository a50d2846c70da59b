"""The edge gateway: late and out-of-order delivery, decided per target from a seed."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import msgspec
import pytest

from widget_factory.core.edge_gateway import EdgeGateway, check_late_fraction, delay_truth
from widget_factory.schemas import DelayTruth, decode, encode

START = 1_767_225_600.0  # 2026-01-01T00:00:00Z
TARGETS = ("FRAME_MACHINE_01", "PCB_ASSEMBLER_01", "ASSEMBLY_STATION_A")
INTERVAL = 15.0


def gateway(
    fraction: float = 0.2, max_delay: float = 300.0, seed: int = 1, **kw: float
) -> EdgeGateway[tuple[str, float]]:
    return EdgeGateway(fraction, max_delay, lambda t: random.Random(f"{seed}:{t}"), START, **kw)


def feed(g: EdgeGateway[tuple[str, float]], hours: float) -> dict[tuple[str, float], float]:
    """Every target reports every INTERVAL for ``hours``; returns each record's release."""
    releases: dict[tuple[str, float], float] = {}
    t = START
    while t < START + hours * 3600:
        for target in TARGETS:
            releases[(target, t)] = g.send(target, t, (target, t))
        t += INTERVAL
    return releases


def test_about_the_fraction_asked_for_is_delayed() -> None:
    for fraction in (0.05, 0.2, 0.5):
        g = gateway(fraction)
        releases = feed(g, 24 * 10)
        delayed = sum(1 for (_t, at), r in releases.items() if r > at)
        assert delayed == g.delayed
        assert delayed / len(releases) == pytest.approx(fraction, abs=0.02), fraction


def test_every_delay_is_less_than_the_maximum_and_never_negative() -> None:
    g = gateway(0.3, max_delay=120.0)
    releases = feed(g, 24 * 7)
    delays = [r - at for (_t, at), r in releases.items()]
    assert min(delays) >= 0.0
    assert max(delays) < 120.0
    assert max(delays) > 60.0  # outages do last up to the bound


def test_records_leave_in_release_order_and_the_order_really_changes() -> None:
    g = gateway(0.2)
    releases = feed(g, 48)
    sent = g.release(math.inf)
    assert [releases[item] for item in sent] == sorted(releases[item] for item in sent)
    for target in TARGETS:
        times = [at for t, at in sent if t == target]
        assert times != sorted(times), target  # out of event-time order
        assert sorted(times) == [at for t, at in releases if t == target]  # nothing lost


def test_nothing_is_released_before_its_time() -> None:
    g = gateway(0.5)
    feed(g, 6)
    until = START + 3 * 3600
    early = g.release(until)
    assert early and all(at <= until for _t, at in early)
    assert g.next_release() > until


def test_the_same_seed_decides_the_same_and_another_seed_differently() -> None:
    first, again, other = (feed(gateway(seed=s), 24) for s in (7, 7, 8))
    assert first == again
    assert first != other


def test_a_target_decides_alone_whatever_else_the_gateway_carries() -> None:
    """Per-target generators: the same machine is delayed alike with or without others
    (so dealing machines between worker processes changes nothing)."""
    alone = gateway()
    together = gateway()
    for k in range(5000):
        at = START + k * INTERVAL
        assert alone.send("FRAME_MACHINE_01", at, ("FRAME_MACHINE_01", at)) == together.send(
            "FRAME_MACHINE_01", at, ("FRAME_MACHINE_01", at)
        )
        together.send("PCB_ASSEMBLER_01", at, ("PCB_ASSEMBLER_01", at))


def test_fraction_zero_delays_nothing() -> None:
    g = gateway(0.0, max_delay=0.0)
    releases = feed(g, 24)
    assert all(r == at for (_t, at), r in releases.items())
    assert g.close() == [] and g.delayed == 0


def test_the_summaries_count_every_delayed_record_once() -> None:
    g = gateway(0.2)
    releases = feed(g, 24 * 3)
    halfway = START + 36 * 3600
    g.release(halfway)
    early = g.summaries(halfway)
    assert all(s.last_released_at <= halfway for s in early)
    summaries = early + g.close()
    assert g.summaries(math.inf) == [] and g.close() == []
    assert sum(s.records_delayed for s in summaries) == g.delayed
    delayed = {(t, at): r for (t, at), r in releases.items() if r > at}
    for s in summaries:
        held = {
            (t, at): r
            for (t, at), r in delayed.items()
            if t == s.target_id and s.started_at <= at < s.reconnected_at
        }
        assert len(held) == s.records_delayed
        assert min(at for _t, at in held) == s.first_event_at
        assert max(at for _t, at in held) == s.last_event_at
        assert max(r - at for (_t, at), r in held.items()) == pytest.approx(s.max_delay_s)
        assert max(held.values()) == s.last_released_at
        assert s.reconnected_at - s.started_at < 300.0
        assert min(held.values()) >= s.reconnected_at


def test_a_bounded_run_ends_calm() -> None:
    end = START + 24 * 3600
    g = gateway(0.5, last_release_by=end - INTERVAL)
    releases = feed(g, 24)
    assert max(releases.values()) <= end - INTERVAL
    assert any(r > at for (_t, at), r in releases.items())


def test_the_answer_key_record_round_trips() -> None:
    g = gateway(0.5)
    feed(g, 2)
    summary = g.close()[0]
    record = delay_truth(summary, "machine-telemetry", "machine")
    assert decode(encode(record)) == record
    assert isinstance(record, DelayTruth) and record.records_delayed == summary.records_delayed
    assert record.occurred_at.timestamp() == pytest.approx(summary.reconnected_at)
    assert record == delay_truth(summary, "machine-telemetry", "machine")  # ids derived
    with pytest.raises(msgspec.ValidationError):
        msgspec.json.decode(
            encode(record).replace(b'"records_delayed":', b'"records_delayed":-'), type=DelayTruth
        )


@pytest.mark.parametrize(
    ("fraction", "delay", "problem"),
    [
        (1.0, 60.0, "below 1"),
        (-0.1, 60.0, "at least 0"),
        (math.nan, 60.0, "below 1"),
        (0.2, 0.0, "needs --max-delay"),
        (0.2, math.inf, "finite"),
    ],
)
def test_bad_settings_are_named(fraction: float, delay: float, problem: str) -> None:
    message = check_late_fraction(fraction, delay)
    assert message is not None and problem in message
    with pytest.raises(ValueError, match=problem):
        gateway(fraction, delay)


def test_good_settings_pass() -> None:
    assert check_late_fraction(0.0, 0.0) is None
    assert check_late_fraction(0.99, 1.0) is None


def test_the_documented_json_schema_is_the_model() -> None:
    path = Path(__file__).resolve().parents[2] / "docs" / "schemas" / "delay_truth.schema.json"
    assert json.loads(path.read_text()) == msgspec.json.schema(DelayTruth)


def test_the_warehouse_keeps_each_outage_as_a_row() -> None:
    from widget_factory.warehouse.truth_tables import TRUTH_TABLES, parse_truth

    g = gateway(0.5)
    feed(g, 2)
    summary = g.close()[0]
    record = parse_truth(encode(delay_truth(summary, "component-production", "machine")))
    table = next(t for t in TRUTH_TABLES if t.name == "delay_truth")
    row = table.flatten(record)
    assert row["records_delayed"] == summary.records_delayed
    assert row["topic"] == "component-production" and row["target_id"] == summary.target_id
