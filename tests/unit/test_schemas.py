"""The event models: every type round-trips, malformed records are refused precisely."""

from __future__ import annotations

import json

import msgspec
import pytest

from tests.samples import sample_events
from widget_factory import schemas as s


@pytest.mark.parametrize("event", sample_events(), ids=lambda e: e.event_type)
def test_every_event_round_trips_through_json(event: s.Event) -> None:
    data = s.encode(event)
    decoded = s.decode(data)
    assert decoded == event
    assert type(decoded) is type(event)
    assert s.decode_as(data, type(event)) == event
    fields = json.loads(data)
    assert fields["event_type"] == event.event_type
    assert fields["schema_version"] == 1
    assert fields["event_id"] == event.event_id


def test_times_are_written_with_a_utc_offset() -> None:
    data = json.loads(s.encode(sample_events()[0]))
    assert data["produced_at"].endswith(("Z", "+00:00"))


def test_every_contract_event_type_is_known() -> None:
    assert set(s.EVENT_TYPES) == {
        "component_produced",
        "widget_assembled",
        "quality_check",
        "machine_telemetry",
        "inventory_update",
        "production_order",
        "factory_alert",
        "factory_command",
        "factory_metric",
        "fault_truth",
        "oee_truth",
        "delay_truth",
        "influence_truth",
    }


def _component() -> dict:
    return json.loads(s.encode(sample_events()[0]))


def _reject(data: dict | bytes) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    with pytest.raises(s.SchemaError) as info:
        s.decode(raw)
    return str(info.value)


def test_not_json_is_refused() -> None:
    assert "not valid JSON" in _reject(b"\x00\xffgarbage")


def test_missing_field_is_named() -> None:
    data = _component()
    del data["machine_id"]
    assert "machine_id" in _reject(data)


def test_wrong_type_is_named_with_its_path() -> None:
    data = _component()
    data["quality_metrics"]["defect_count"] = "two"
    message = _reject(data)
    assert "$.quality_metrics.defect_count" in message
    assert "int" in message


def test_unknown_enum_value_is_refused() -> None:
    data = json.loads(s.encode(sample_events()[3]))
    data["status"] = "on_fire"
    message = _reject(data)
    assert "$.status" in message and "on_fire" in message


def test_unknown_event_type_is_refused() -> None:
    data = _component()
    data["event_type"] = "component_teleported"
    assert "$.event_type" in _reject(data)


def test_naive_time_is_refused() -> None:
    data = _component()
    data["produced_at"] = "2026-11-25T08:00:00"
    message = _reject(data)
    assert "$.produced_at" in message and "timezone" in message


def test_other_schema_version_is_refused_with_the_version() -> None:
    data = _component()
    data["schema_version"] = 2
    message = _reject(data)
    assert "unsupported schema_version 2" in message


def test_bad_component_id_is_refused() -> None:
    data = _component()
    data["component_id"] = "frame-1"
    assert "$.component_id" in _reject(data)


def test_oversized_value_is_refused() -> None:
    data = _component()
    data["production_line"] = "L" * (s.MAX_EVENT_BYTES + 1)
    assert "exceeds the limit" in _reject(data)


def test_quality_check_status_and_defects_must_agree() -> None:
    data = json.loads(s.encode(sample_events()[2]))
    data["defects_found"] = []
    assert "defects_found" in _reject(data)


def test_non_positive_order_quantity_is_refused() -> None:
    data = json.loads(s.encode(sample_events()[5]))
    data["quantity"] = 0
    assert "$.quantity" in _reject(data)


def test_decode_as_refuses_another_event_type() -> None:
    data = s.encode(sample_events()[0])
    with pytest.raises(s.SchemaError):
        s.decode_as(data, s.WidgetAssembled)


def test_recipes_name_known_component_types() -> None:
    for widget_type, recipe in s.WIDGET_RECIPES.items():
        assert widget_type in s.WidgetType
        assert all(component in s.ComponentType for component in recipe)
    assert len(s.WIDGET_RECIPES[s.WidgetType.INDUSTRIAL_WIDGET]) == 6


def test_json_schema_can_be_exported() -> None:
    schema = msgspec.json.schema(s.AnyEvent)
    assert "ComponentProduced" in json.dumps(schema)
