"""Walkthrough-shaped records are upgraded on read; our own shape is held to the contract."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import pytest

from tests import walkthrough_shapes as w
from tests.samples import sample_events
from widget_factory import compat
from widget_factory import schemas as s
from widget_factory.kafka_io.topics import TOPICS


def test_a_walkthrough_component_is_read_with_a_derived_envelope() -> None:
    data = w.value(w.component("metal_frame", "a1b2c3d4"))
    event = s.decode_as(data, s.ComponentProduced)
    assert event.component_id == "COMP_METAL_FRAME_a1b2c3d4"
    assert event.event_type == "component_produced" and event.schema_version == 1
    assert event.produced_at == datetime(2026, 11, 25, 14, 3, 7, 123456, tzinfo=UTC)
    assert event.event_id == compat.derived_event_id("component_produced", data)


def test_the_derived_id_is_stable_and_makes_duplicates_dedupe() -> None:
    first = w.value(w.component("metal_frame", "a1b2c3d4"))
    again = s.decode_as(bytes(first), s.ComponentProduced)
    assert s.decode_as(first, s.ComponentProduced).event_id == again.event_id
    by_topic = s.decode(first, topic="component-production")
    assert isinstance(by_topic, s.ComponentProduced) and by_topic.event_id == again.event_id
    other = s.decode_as(w.value(w.component("metal_frame", "a1b2c3d5")), s.ComponentProduced)
    assert other.event_id != again.event_id
    assert json.loads(s.encode(again))["event_id"] == again.event_id  # a valid UUID on re-encode
    assert s.decode(s.encode(again)) == again


def test_a_walkthrough_quality_check_takes_its_type_from_the_widget_id() -> None:
    data = w.value(w.quality_check("WIDGET_PREMIUM_WIDGET_0000abcd", passed=False))
    check = s.decode_as(data, s.QualityCheck)
    assert check.widget_type == "premium_widget"
    assert check.status is s.QualityStatus.FAIL
    assert check.checked_at.tzinfo is not None


def test_walkthrough_telemetry_with_line_a_is_accepted() -> None:
    report = s.decode_as(w.value(w.telemetry()), s.MachineTelemetry)
    assert report.location.line == "LINE_A"
    assert report.status is s.MachineStatus.RUNNING
    assert report.timestamp.utcoffset() is not None


def test_a_time_with_an_offset_is_kept_as_written() -> None:
    document = w.component("battery", "0000beef")
    document["produced_at"] = "2026-11-25T14:03:07+02:00"
    event = s.decode_as(w.value(document), s.ComponentProduced)
    assert event.produced_at == datetime(2026, 11, 25, 12, 3, 7, tzinfo=UTC)


def test_an_event_with_an_envelope_keeps_the_strict_rules() -> None:
    document = json.loads(s.encode(sample_events()[0]))
    del document["event_id"]  # a broken event of ours, not the walkthrough's shape
    with pytest.raises(s.SchemaError, match="event_id"):
        s.decode_as(json.dumps(document).encode(), s.ComponentProduced)
    document = w.component("metal_frame", "a1b2c3d4")
    document["schema_version"] = 1
    with pytest.raises(s.SchemaError, match="timezone"):
        s.decode_as(w.value(document), s.ComponentProduced)


def test_a_walkthrough_shaped_record_missing_a_field_is_still_refused() -> None:
    document = w.component("metal_frame", "a1b2c3d4")
    del document["machine_id"]
    with pytest.raises(s.SchemaError, match="walkthrough-shaped.*machine_id"):
        s.decode_as(w.value(document), s.ComponentProduced)


def test_without_a_topic_a_record_without_event_type_cannot_be_placed() -> None:
    with pytest.raises(s.SchemaError, match="event_type"):
        s.decode(w.value(w.component("metal_frame", "a1b2c3d4")))


def test_not_json_and_non_objects_keep_their_errors() -> None:
    with pytest.raises(s.SchemaError, match="not valid JSON"):
        s.decode_as(b"\x00\xff", s.ComponentProduced, topic="component-production")
    with pytest.raises(s.SchemaError):
        s.decode_as(b"[1, 2]", s.ComponentProduced, topic="component-production")


def test_upgrades_are_counted_and_logged_once_per_source_and_kind(
    caplog: pytest.LogCaptureFixture,
) -> None:
    upgrades = compat.ReadUpgrades(logging.getLogger("assembly"))
    with caplog.at_level(logging.INFO, logger="assembly"):
        for n in range(3):
            data = w.value(w.component("sensor", f"0000000{n}"))
            s.decode_as(data, s.ComponentProduced, topic="component-production", upgrades=upgrades)
        check = w.value(w.quality_check("WIDGET_BASIC_WIDGET_0000abcd"))
        s.decode_as(check, s.QualityCheck, topic="quality-control", upgrades=upgrades)
        s.decode_as(s.encode(sample_events()[0]), s.ComponentProduced, upgrades=upgrades)
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "component-production: reading walkthrough-shaped events (no envelope: event_id "
        "derived; naive times read as UTC) - further upgrades counted",
        "quality-control: reading walkthrough-shaped events (no envelope: event_id derived; "
        "naive times read as UTC; widget_type taken from widget_id) - further upgrades counted",
    ]
    assert upgrades.records == 4
    assert upgrades.to_dict() == {
        "records": 4,
        compat.NO_ENVELOPE: 4,
        compat.NAIVE_TIMES: 4,
        compat.WIDGET_TYPE_FROM_ID: 1,
    }
    assert upgrades.describe().startswith("4 walkthrough-shaped records upgraded (")


def test_widget_type_of_reads_the_prefix() -> None:
    assert compat.widget_type_of("WIDGET_SMART_WIDGET_1a2b3c4d") == "smart_widget"
    assert compat.widget_type_of("COMP_MOTOR_1a2b3c4d") is None
    assert compat.widget_type_of(42) is None


def test_topic_event_types_match_the_topic_table() -> None:
    for spec in TOPICS:
        name = compat.TOPIC_EVENT_TYPES.get(spec.name)
        if name is not None and spec.name != "factory-metrics":
            assert s.EVENT_TYPES[name].__name__ == spec.value
    # factory-ground-truth carries four types of our own (never walkthrough-shaped)
    answer_key = {"fault_truth", "oee_truth", "delay_truth", "influence_truth"}
    assert set(compat.TOPIC_EVENT_TYPES.values()) == set(s.EVENT_TYPES) - answer_key


def test_a_naive_time_written_with_a_space_is_read_as_utc_too() -> None:
    document = w.component("motor", "0000f00d")
    document["produced_at"] = "2026-11-25 14:03:07.123456"  # str(datetime), as default=str gives
    event = s.decode_as(w.value(document), s.ComponentProduced)
    assert event.produced_at == datetime(2026, 11, 25, 14, 3, 7, 123456, tzinfo=UTC)


def test_views_say_what_they_skip_at_the_first_and_each_power_of_ten(
    caplog: pytest.LogCaptureFixture,
) -> None:
    skipped = compat.SkippedRecords(logging.getLogger("monitor"), "monitor")
    with caplog.at_level(logging.WARNING, logger="monitor"):
        for offset in range(120):
            skipped.add("component-production", 1, offset, "not valid JSON")
    assert skipped.count == 120
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3
    assert "component-production[1]@0" in lines[0] and "not valid JSON" in lines[0]
    assert lines[1:] == [
        "monitor: 10 unreadable records not shown so far",
        "monitor: 100 unreadable records not shown so far",
    ]


def test_summary_notes_name_upgrades_and_dead_letters() -> None:
    upgrades = compat.ReadUpgrades(logging.getLogger("inventory"))
    assert compat.read_notes(upgrades, 0) == ""
    s.decode_as(w.value(w.component("battery", "00000001")), s.ComponentProduced, upgrades=upgrades)
    notes = compat.read_notes(upgrades, 2)
    assert notes.startswith("; 1 walkthrough-shaped records upgraded (no envelope: event_id")
    assert notes.endswith("; 2 unreadable records sent to factory-deadletter")
