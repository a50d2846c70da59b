"""The intake screen: well-formed events that are still poison, and repeats that are not."""

from __future__ import annotations

import msgspec

from tests.samples import T0, sample_events
from widget_factory import schemas as s
from widget_factory.core.intake import TIME_HORIZON_S, EventMemory, Seen, facts, misfit


def _of(kind: type[s.Event]) -> s.Event:
    return next(e for e in sample_events() if isinstance(e, kind))


NOW = T0.timestamp()


def test_a_fitting_event_passes() -> None:
    for event in sample_events():
        key = event.kafka_key.encode()
        assert misfit(event, key, now=NOW, record_time=NOW) is None
        assert misfit(event, None, now=NOW, record_time=None) is None


def test_a_key_that_disagrees_with_the_value_is_refused() -> None:
    component = _of(s.ComponentProduced)
    reason = misfit(component, b"COMP_METAL_FRAME_00000000", now=NOW, record_time=NOW)
    assert reason is not None and "disagrees" in reason


def test_a_time_years_away_from_clock_and_record_is_refused() -> None:
    widget = _of(s.WidgetAssembled)
    key = widget.kafka_key.encode()
    years = 5 * 365 * 86400.0
    assert misfit(widget, key, now=NOW + years, record_time=NOW + years) is not None
    assert misfit(widget, key, now=NOW - years, record_time=None) is not None
    # a run started elsewhere in time: the record's own timestamp vouches for the event
    assert misfit(widget, key, now=NOW + years, record_time=NOW) is None
    assert misfit(widget, key, now=NOW + TIME_HORIZON_S - 1, record_time=None) is None


def test_a_repeat_is_not_a_conflict_but_different_facts_are() -> None:
    memory = EventMemory()
    check = _of(s.QualityCheck)
    assert memory.check(check) is Seen.NEW
    # re-emitted after a crash: same verdict, another inspector and time
    again = msgspec.structs.replace(check, inspector_id="QC_INSPECTOR_B", notes="x")
    assert memory.check(again) is Seen.REPEAT
    flipped = msgspec.structs.replace(
        check, status=s.QualityStatus.PASS, defects_found=[], notes=""
    )
    assert memory.check(flipped) is Seen.CONFLICT
    assert memory.check(check) is Seen.REPEAT, "the first version stays the true one"


def test_every_input_event_has_facts_that_name_its_item() -> None:
    for event in sample_events():
        assert facts(event) == facts(msgspec.structs.replace(event))


def test_the_memory_is_bounded() -> None:
    memory = EventMemory(capacity=3)
    events = [
        msgspec.structs.replace(
            _of(s.ProductionOrder), event_id=f"{i:08x}-0000-4000-8000-000000000000"
        )
        for i in range(5)
    ]
    for event in events:
        assert memory.check(event) is Seen.NEW
    assert len(memory) == 3
    assert memory.check(events[0]) is Seen.NEW, "forgotten"


def test_types_the_configuration_does_not_know_are_refused() -> None:
    known = {"component_types": {"metal_frame"}, "widget_types": {"basic_widget"}}
    component = _of(s.ComponentProduced)
    key = component.kafka_key.encode()
    assert misfit(component, key, now=NOW, record_time=None, **known) is None
    odd = msgspec.structs.replace(component, component_type="unobtanium_gear")
    reason = misfit(odd, key, now=NOW, record_time=None, **known)
    assert reason is not None and "unobtanium_gear" in reason
    order = msgspec.structs.replace(_of(s.ProductionOrder), widget_type="hover_widget")
    assert misfit(order, order.kafka_key.encode(), now=NOW, record_time=None, **known)
