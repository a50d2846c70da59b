"""The audit's accounting: an unreadable record without its dead letter makes it
inconclusive, never a hollow pass."""

from __future__ import annotations

import io

from tests import walkthrough_shapes as w
from widget_factory import schemas as s
from widget_factory.commands.audit_command import print_report
from widget_factory.core.audit import AUDIT_STATUSES, Audit

RECIPES = {"basic_widget": ("metal_frame", "plastic_housing", "circuit_board")}


def test_nothing_unreadable_passes() -> None:
    report = Audit(RECIPES).report()
    assert report.status == "passed" and report.ok and report.exit_status == 0
    assert report.to_dict()["unaccounted_unreadable"] == []


def test_an_unreadable_record_without_a_dead_letter_is_inconclusive() -> None:
    audit = Audit(RECIPES)
    audit.add_unreadable("component-production", 2, 17, "not valid JSON")
    audit.add_dead_letter("component-production", 2, 18)  # another record's
    audit.add_dead_letter("widget-assembly", 2, 17)  # another topic's
    report = audit.report()
    assert report.invariants_hold
    assert report.status == "inconclusive" and not report.ok
    assert report.exit_status == AUDIT_STATUSES["inconclusive"] == 3
    document = report.to_dict()
    assert document["status"] == "inconclusive" and document["ok"] is False
    assert document["unreadable_records"] == 1
    assert document["unaccounted_unreadable"] == [
        {"topic": "component-production", "partition": 2, "offset": 17, "error": "not valid JSON"}
    ]


def test_its_dead_letter_accounts_for_it() -> None:
    audit = Audit(RECIPES)
    audit.add_unreadable("quality-control", 0, 3, "missing field")
    audit.add_dead_letter("quality-control", 0, 3)
    audit.add_dead_letter("quality-control", 0, 3)  # two services dead-lettered it
    report = audit.report()
    assert report.status == "passed" and report.unreadable == 1 and report.unaccounted == []


def test_a_broken_invariant_fails_whatever_the_accounting() -> None:
    audit = Audit(RECIPES)
    audit.add_check(
        s.decode_as(w.value(w.quality_check("WIDGET_BASIC_WIDGET_0000abcd")), s.QualityCheck)
    )
    audit.add_unreadable("widget-assembly", 1, 0, "bad")
    report = audit.report()
    assert report.status == "failed" and report.exit_status == 1
    assert [u.where for u in report.unaccounted] == ["widget-assembly[1]@0"]


def test_walkthrough_components_are_counted() -> None:
    audit = Audit(RECIPES)
    for n in range(3):
        data = w.value(w.component("metal_frame", f"0000000{n}"))
        audit.add_component(s.decode_as(data, s.ComponentProduced))
        audit.add_component(s.decode_as(data, s.ComponentProduced))  # a re-send: same id
    report = audit.report()
    assert report.counts["components_produced"] == 3
    assert report.duplicates == {"component-production": 3}


def test_the_text_report_says_inconclusive_and_lists_what_it_cannot_account_for() -> None:
    audit = Audit(RECIPES)
    audit.add_unreadable("component-production", 4, 9, "Expected `datetime` - at `$.produced_at`")
    audit.add_unreadable("component-production", 4, 10, "not valid JSON")
    audit.add_dead_letter("component-production", 4, 10)
    out = io.StringIO()
    report = audit.report()
    print_report(report, report.unreadable, out)
    text = out.getvalue()
    assert "Unreadable: 2 records, 1 accounted for by dead letters, 1 not" in text
    assert "no dead letter: component-production[4]@9: Expected `datetime`" in text
    assert "Audit inconclusive" in text and "Audit passed" not in text
