"""Quality inspection rules, their reproducibility, and the pass-rate alert."""

from __future__ import annotations

import random
import re
import uuid
from statistics import NormalDist

import msgspec
import pytest

from widget_factory.core.clock import to_datetime
from widget_factory.core.ids import event_id_from
from widget_factory.core.inspection import (
    PERFORMANCE_BELOW_STANDARD,
    SCORE_MARGIN,
    TEST_DEFECTS,
    PassRateTracker,
    QualityInspection,
    UnknownWidgetType,
    expected_pass_rate,
)
from widget_factory.factory_config import FactoryConfig, default_config
from widget_factory.schemas import (
    QualityCheck,
    QualityStatus,
    WidgetAssembled,
    encode,
)
from widget_factory.schemas import (
    TestResults as Results,
)

T0 = 1_795_000_000.0
CONFIG = default_config()
CONFIG20 = msgspec.structs.replace(
    CONFIG, simulation=msgspec.structs.replace(CONFIG.simulation, pass_rate_window=20)
)
"""A 20-check window keeps the hand-counted sequences below short."""
_ids = random.Random(11)


def widget(widget_type: str = "basic_widget", defects: int = 0, n: int = 1) -> WidgetAssembled:
    recipe = CONFIG.recipes.get(widget_type, ("metal_frame",))
    return WidgetAssembled(
        event_id=str(uuid.UUID(int=_ids.getrandbits(128), version=4)),
        widget_id=f"WIDGET_{widget_type.upper()}_{n & 0xFFFFFFFF:08x}",
        widget_type=widget_type,
        assembly_station_id="ASSEMBLY_STATION_A",
        component_ids=[f"COMP_{c.upper()}_{n:08x}" for c in recipe],
        assembly_started_at=to_datetime(T0),
        assembly_completed_at=to_datetime(T0 + 300),
        assembly_duration_seconds=300.0,
        worker_id="WORKER_001",
        batch_id="ASSEMBLY_BATCH_1",
        component_defects=defects,
    )


def with_quality(**changes: object) -> FactoryConfig:
    return msgspec.structs.replace(
        CONFIG, quality=msgspec.structs.replace(CONFIG.quality, **changes)
    )


def with_standard(widget_type: str, **changes: object) -> FactoryConfig:
    types = dict(CONFIG.widget_types)
    types[widget_type] = msgspec.structs.replace(types[widget_type], **changes)
    return msgspec.structs.replace(CONFIG, widget_types=types)


def reference_pass_rate(widget_type: str, defects: int) -> float:
    """The rules' pass probability, worked out independently of the module."""
    quality = CONFIG.quality
    spec = CONFIG.widget_types[widget_type]
    odds = (1 - quality.defect_penalty) ** defects
    tests = quality.electrical_pass * quality.mechanical_pass * quality.visual_pass * odds**3
    # The published score is rounded to 0.1, so a raw score from minimum - 0.05 meets it.
    score = 1 - NormalDist(spec.min_performance + SCORE_MARGIN, quality.performance_sd).cdf(
        spec.min_performance - 0.05
    )
    return tests * score * spec.pass_rate * odds


def test_the_same_widget_always_gets_the_identical_check() -> None:
    item = widget("premium_widget", defects=1)
    first = QualityInspection(CONFIG, seed=42).inspect(item, "QC_INSPECTOR_A", T0 + 400)
    again = QualityInspection(CONFIG, seed=42).inspect(item, "QC_INSPECTOR_A", T0 + 400)
    assert encode(first) == encode(again)
    assert first.event_id == event_id_from("quality_check", item.event_id)
    assert re.fullmatch(r"QC_[0-9A-F]{8}", first.check_id)
    assert first.checked_at == to_datetime(T0 + 400)
    assert (first.widget_id, first.widget_type, first.inspector_id) == (
        item.widget_id,
        "premium_widget",
        "QC_INSPECTOR_A",
    )
    others = {
        QualityInspection(CONFIG, seed=seed).inspect(item, "QC_INSPECTOR_A", T0).check_id
        for seed in range(20)
    }
    assert len(others) == 20  # the seed matters
    unseeded = QualityInspection(CONFIG, seed=None)
    assert encode(unseeded.inspect(item, "X", T0)) == encode(unseeded.inspect(item, "X", T0))


@pytest.mark.parametrize("widget_type", sorted(CONFIG.widget_types))
def test_verdicts_follow_the_rules(widget_type: str) -> None:
    inspection = QualityInspection(CONFIG, seed=5)
    minimum = CONFIG.widget_types[widget_type].min_performance
    statuses = set()
    for n in range(2000):
        check = inspection.inspect(widget(widget_type, defects=n % 4, n=n), "QC_INSPECTOR_B", T0)
        results = check.test_results
        statuses.add(check.status)
        assert (check.status == QualityStatus.FAIL) == bool(check.defects_found)
        assert 0 <= results.performance_score <= 100
        assert results.performance_score == round(results.performance_score, 1)
        low = results.performance_score < minimum
        assert low == (PERFORMANCE_BELOW_STANDARD in check.defects_found)
        if low:
            assert f"score {results.performance_score} below {minimum:g}" in check.notes
        tests_ok = results.electrical_test and results.mechanical_test and results.visual_inspection
        if not (tests_ok and not low):  # each failed test reports its defect, and only then
            assert (not results.electrical_test) == ("electrical_failure" in check.defects_found)
            assert (not results.mechanical_test) == ("mechanical_defect" in check.defects_found)
            assert (not results.visual_inspection) == ("visual_defect" in check.defects_found)
        if check.status == QualityStatus.PASS:
            assert tests_ok and not low
            assert "all tests passed" in check.notes
        elif tests_ok and not low:  # failed by the final draw: one defect, "found"
            assert len(check.defects_found) == 1
            assert check.defects_found[0] in TEST_DEFECTS
            assert "inspector found" in check.notes
        assert len(check.defects_found) == len(set(check.defects_found))
        QualityCheck.__post_init__(check)  # the schema's own consistency rule
    assert statuses == {QualityStatus.PASS, QualityStatus.FAIL}


def test_pass_rate_matches_the_probabilities_and_drops_with_defects() -> None:
    inspection = QualityInspection(CONFIG, seed=2026)
    rates = {}
    for defects in (0, 3):
        checks = [
            inspection.inspect(widget(defects=defects, n=n), "QC_INSPECTOR_C", T0)
            for n in range(20_000)
        ]
        rates[defects] = sum(c.status == QualityStatus.PASS for c in checks) / len(checks)
        assert rates[defects] == pytest.approx(
            reference_pass_rate("basic_widget", defects), abs=0.02
        )
    assert rates[3] < rates[0] - 0.05
    for widget_type in CONFIG.widget_types:
        for defects in (0, 3):
            assert expected_pass_rate(CONFIG, widget_type, defects) == pytest.approx(
                reference_pass_rate(widget_type, defects)
            )
    with pytest.raises(UnknownWidgetType):
        expected_pass_rate(CONFIG, "hover_widget")


def test_certain_tests_and_a_zero_pass_rate_fail_by_the_inspectors_eye() -> None:
    config = with_standard("basic_widget", pass_rate=0.0)
    config = msgspec.structs.replace(
        config,
        quality=msgspec.structs.replace(
            config.quality,
            electrical_pass=1.0,
            mechanical_pass=1.0,
            visual_pass=1.0,
            performance_sd=0.0,
        ),
    )
    inspection = QualityInspection(config, seed=1)
    found = set()
    for n in range(200):
        check = inspection.inspect(widget(n=n), "QC_INSPECTOR_A", T0)
        assert check.status == QualityStatus.FAIL
        assert check.test_results == Results(True, True, True, 80.0)
        assert len(check.defects_found) == 1
        found.add(check.defects_found[0])
    assert found == set(TEST_DEFECTS)


def test_a_perfect_factory_passes_everything_and_defects_bite() -> None:
    config = with_quality(
        electrical_pass=1.0, mechanical_pass=1.0, visual_pass=1.0, performance_sd=0.0
    )
    config = msgspec.structs.replace(
        config,
        widget_types={
            name: msgspec.structs.replace(spec, pass_rate=1.0)
            for name, spec in config.widget_types.items()
        },
    )
    inspection = QualityInspection(config, seed=1)
    checks = [inspection.inspect(widget(n=n), "QC_INSPECTOR_A", T0) for n in range(300)]
    assert all(c.status == QualityStatus.PASS and c.defects_found == [] for c in checks)
    assert checks[0].notes == "all tests passed, score 80.0 (minimum 75)"
    flawed = [inspection.inspect(widget(defects=5, n=n), "QC_INSPECTOR_A", T0) for n in range(300)]
    assert sum(c.status == QualityStatus.FAIL for c in flawed) > 100  # 1 - 0.95**20 ≈ 64%


def test_inspection_takes_its_configured_time() -> None:
    inspection = QualityInspection(CONFIG, seed=9)
    low, high = CONFIG.simulation.inspection_s
    items = [widget(n=n) for n in range(500)]
    seconds = [inspection.inspection_seconds(item) for item in items]
    assert all(low <= s <= high for s in seconds)
    assert max(seconds) - min(seconds) > (high - low) * 0.8
    assert seconds == [QualityInspection(CONFIG, seed=9).inspection_seconds(i) for i in items]


def test_an_unknown_widget_type_is_refused_by_name() -> None:
    inspection = QualityInspection(CONFIG, seed=1)
    with pytest.raises(UnknownWidgetType, match="'hover_widget'") as info:
        inspection.inspect(widget("hover_widget"), "QC_INSPECTOR_A", T0)
    assert isinstance(info.value, ValueError)
    assert "basic_widget" in str(info.value)
    assert info.value.widget_type == "hover_widget"


# --- pass-rate tracker -------------------------------------------------------------------


def _check(passed: bool, widget_type: str = "basic_widget") -> QualityCheck:
    return QualityCheck(
        event_id=str(uuid.UUID(int=_ids.getrandbits(128), version=4)),
        check_id="QC_00000000",
        widget_id="WIDGET_BASIC_WIDGET_00000000",
        widget_type=widget_type,
        inspector_id="QC_INSPECTOR_A",
        checked_at=to_datetime(T0),
        status=QualityStatus.PASS if passed else QualityStatus.FAIL,
        test_results=Results(True, True, passed, 80.0),
        defects_found=[] if passed else ["visual_defect"],
    )


def test_pass_rate_alert_fires_once_and_again_only_after_recovery() -> None:
    tracker = PassRateTracker(CONFIG20)
    window = CONFIG20.simulation.pass_rate_window
    assert window == 20
    # Not before the window is full, however bad.
    assert [tracker.record(_check(False)) for _ in range(window - 1)] == [None] * (window - 1)
    alert = tracker.record(_check(False))
    assert alert is not None
    assert (alert.widget_type, alert.pass_rate, alert.standard, alert.window) == (
        "basic_widget",
        0.0,
        0.95,
        20,
    )
    assert "basic_widget" in alert.message and "95%" in alert.message
    # Still bad, and recovering but still under 95%: silent.
    assert all(tracker.record(_check(False)) is None for _ in range(10))
    assert all(tracker.record(_check(True)) is None for _ in range(19))
    # 20/20 passed: recovered. 19/20 = 95% is not under the standard; 18/20 is.
    assert tracker.record(_check(True)) is None
    assert tracker.record(_check(False)) is None
    second = tracker.record(_check(False))
    assert second is not None and second.pass_rate == pytest.approx(0.9)
    assert tracker.record(_check(False)) is None

    assert tracker.summary() == {"basic_widget": (20, 53)}
    assert (tracker.passed, tracker.total) == (20, 53)


def test_pass_rate_tracker_keeps_types_apart() -> None:
    tracker = PassRateTracker(CONFIG20)
    alerts = []
    for n in range(40):
        alerts.append(tracker.record(_check(True, "premium_widget")))
        alerts.append(tracker.record(_check(n % 2 == 0, "smart_widget")))
        alerts.append(tracker.record(_check(False, "mystery_widget")))  # no standard: no alert
    fired = [a for a in alerts if a is not None]
    assert [a.widget_type for a in fired] == ["smart_widget"]
    assert fired[0].pass_rate == 0.5 and fired[0].standard == 0.92
    assert tracker.summary() == {
        "premium_widget": (40, 40),
        "smart_widget": (20, 40),
        "mystery_widget": (0, 40),
    }
    assert tracker.pass_rate == pytest.approx(60 / 120)


def test_pass_rate_standards_can_be_the_factorys_normal_rate() -> None:
    standards = {name: expected_pass_rate(CONFIG, name) for name in CONFIG.widget_types}
    inspection = QualityInspection(CONFIG, seed=3)
    normal = PassRateTracker(CONFIG, standards)
    strict = PassRateTracker(CONFIG)
    normal_alerts = []
    strict_alerts = []
    for n in range(2000):
        check = inspection.inspect(widget(n=n), "QC_INSPECTOR_A", T0)
        if (alert := normal.record(check)) is not None:
            normal_alerts.append(alert)
        if (alert := strict.record(check)) is not None:
            strict_alerts.append((n, alert))
    # Against 95%, a factory that passes ~63% is "under standard" as soon as it can be.
    assert strict_alerts[0][0] == CONFIG.simulation.pass_rate_window - 1
    assert normal_alerts
    for alert in normal_alerts:
        assert alert.standard == pytest.approx(0.631, abs=0.005)
        assert alert.pass_rate < alert.standard
