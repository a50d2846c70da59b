"""Scoring alerts against the answer key: matching, precision, recall, delays."""

from __future__ import annotations

import math

import pytest

from widget_factory.core.clock import to_datetime
from widget_factory.core.ground_truth import fault_id
from widget_factory.core.scoring import (
    Alert,
    AlertShapeError,
    Fault,
    alert_from_document,
    faults_from_truth,
    percentile,
    score_alerts,
)
from widget_factory.schemas import FaultEffects, FaultTruth

T = 1_767_225_600.0
M1, M2, S = "FRAME_MACHINE_01", "PCB_ASSEMBLER_01", "ASSEMBLY_STATION_A"


def fault(target: str, kind: str, start: float, end: float) -> Fault:
    return Fault(fault_id(target, kind, T + start), target, kind, "random", T + start, T + end)


def test_an_alert_matches_from_the_start_to_the_end_plus_grace() -> None:
    faults = [fault(M1, "breakdown", 100, 200)]
    for at, hit in [(99, False), (100, True), (150, True), (200, True), (260, True), (261, False)]:
        score = score_alerts(faults, [Alert(M1, T + at)], grace=60)
        assert score.alerts_matched == int(hit), at
        assert score.detected == int(hit), at


def test_an_alert_on_another_target_does_not_match() -> None:
    score = score_alerts([fault(M1, "breakdown", 0, 100)], [Alert(M2, T + 50)], grace=0)
    assert (score.alerts_matched, score.detected, score.precision, score.recall) == (0, 0, 0, 0)
    assert [f.target_id for f in score.missed] == [M1]


def test_precision_recall_and_delays_per_kind() -> None:
    faults = [
        fault(M1, "breakdown", 0, 100),
        fault(M1, "breakdown", 1000, 1100),
        fault(M2, "shutdown", 0, 3600),
        fault(S, "starvation", 0, 900),
    ]
    alerts = [
        Alert(M1, T + 0, "machine_error"),
        Alert(M1, T + 30, "machine_error"),  # a second alert on a detected fault
        Alert(M1, T + 1010, "machine_error"),
        Alert(S, T + 600, "station_starved"),
        Alert(S, T + 5000, "station_starved"),  # false positive
        Alert(M2, T + 7200, "pass_rate"),  # false positive
    ]
    score = score_alerts(faults, alerts, grace=60)
    assert (score.alerts, score.alerts_matched) == (6, 4)
    assert score.precision == pytest.approx(4 / 6)
    assert score.recall == pytest.approx(3 / 4)
    breakdown = score.by_fault_kind["breakdown"]
    assert (breakdown.faults, breakdown.detected, breakdown.alerts_matched) == (2, 2, 3)
    assert sorted(breakdown.delays) == [0.0, 10.0]
    assert score.by_fault_kind["shutdown"].recall == 0.0
    assert score.by_fault_kind["starvation"].delays == [600.0]
    assert score.by_alert_kind == {
        "machine_error": (3, 3),
        "station_starved": (2, 1),
        "pass_rate": (1, 0),
    }
    document = score.to_dict()
    assert document["by_fault_kind"]["breakdown"]["delay_median_s"] == 5.0
    assert document["by_alert_kind"]["station_starved"]["precision"] == 0.5


def test_an_alert_between_two_faults_counts_for_the_later() -> None:
    faults = [fault(M1, "breakdown", 0, 100), fault(M1, "anomaly", 120, 200)]
    score = score_alerts(faults, [Alert(M1, T + 130)], grace=60)
    assert score.by_fault_kind["anomaly"].detected == 1
    assert score.by_fault_kind["breakdown"].detected == 0


def test_an_alert_a_millisecond_early_still_counts() -> None:
    score = score_alerts([fault(M1, "breakdown", 10, 20)], [Alert(M1, T + 9.9995)], grace=0)
    assert score.detected == 1


def test_overlapping_faults_of_a_station_are_both_reachable() -> None:
    faults = [fault(S, "starvation", 0, 5000), fault(S, "breakdown", 100, 200)]
    score = score_alerts(faults, [Alert(S, T + 3000)], grace=0)
    assert score.by_fault_kind["starvation"].detected == 1


def test_faults_pair_begin_and_end_records_and_keep_open_ones() -> None:
    fid = fault_id(M1, "shutdown", T)
    common = {
        "fault_id": fid,
        "target_id": M1,
        "target_type": "machine",
        "kind": "shutdown",
        "cause": "command",
        "started_at": to_datetime(T),
    }
    begin = FaultTruth(event_id=fid, phase="begin", **common)  # type: ignore[arg-type]
    end = FaultTruth(
        event_id=fid,
        phase="end",
        ended_at=to_datetime(T + 60),
        effects=FaultEffects(unit="component", units_not_made=1),
        **common,  # type: ignore[arg-type]
    )
    other = fault_id(M2, "anomaly", T)
    still_going = FaultTruth(
        event_id=other,
        phase="begin",
        **{**common, "fault_id": other, "target_id": M2, "kind": "anomaly"},  # type: ignore[arg-type]
    )
    faults = faults_from_truth([begin, end, begin, still_going])
    assert [(f.target_id, f.start, f.end) for f in faults] == [
        (M1, T, T + 60),
        (M2, T, math.inf),
    ]


def test_alerts_from_documents_of_any_shape() -> None:
    ours = {"source_id": M1, "raised_at": "2026-01-01T00:00:10+00:00", "kind": "machine_error"}
    assert alert_from_document(ours, "source_id", "raised_at", "kind") == Alert(
        M1, T + 10, "machine_error"
    )
    theirs = {"asset": {"id": M2}, "ts": (T + 20) * 1000}
    assert alert_from_document(theirs, "asset.id", "ts") == Alert(M2, T + 20)
    assert alert_from_document({"m": M2, "t": T + 5}, "m", "t").at == T + 5
    assert alert_from_document({"m": M2, "t": "2026-01-01T00:00:30Z"}, "m", "t").at == T + 30
    assert alert_from_document({"m": M2}, "m", "@timestamp", record_time=T + 1).at == T + 1
    for bad, message in [
        ({"t": T}, "no field 'm'"),
        ({"m": M1, "t": "yesterday"}, "not an ISO 8601 time"),
        ({"m": M1, "t": True}, "expected a time"),
        ({"m": "", "t": T}, "expected a non-empty id"),
        ([1, 2], "not a JSON object"),
    ]:
        with pytest.raises(AlertShapeError, match=message):
            alert_from_document(bad, "m", "t")


def test_percentiles() -> None:
    assert percentile([], 0.5) is None
    assert percentile([3.0], 0.9) == 3.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    assert percentile(list(map(float, range(11))), 0.9) == pytest.approx(9.0)
