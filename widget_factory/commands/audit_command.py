"""``widget-factory audit``: read the topics from the beginning and check the invariants.

Exit status 0 when every invariant holds, 1 when any is broken (each violation is
listed with the ids involved), 2 when the audit could not run.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable

from widget_factory.cli import common_options, settings_from_args
from widget_factory.core.audit import INVARIANTS, Audit, AuditReport
from widget_factory.factory_config import load_config
from widget_factory.kafka_io.intake import routed_before
from widget_factory.kafka_io.reader import read_to_end
from widget_factory.kafka_io.settings import KafkaSettings
from widget_factory.kafka_io.topics import (
    COMPONENT_PRODUCTION,
    INVENTORY_UPDATES,
    QUALITY_CONTROL,
    WIDGET_ASSEMBLY,
    connect_admin,
)
from widget_factory.schemas import (
    ComponentProduced,
    InventoryUpdate,
    QualityCheck,
    SchemaError,
    WidgetAssembled,
    decode_as,
)

ORDER = 90

__all__ = ["register", "audit_topics", "print_report"]

_TOPICS = {
    COMPONENT_PRODUCTION: ComponentProduced,
    WIDGET_ASSEMBLY: WidgetAssembled,
    QUALITY_CONTROL: QualityCheck,
    INVENTORY_UPDATES: InventoryUpdate,
}


def audit_topics(
    settings: KafkaSettings, recipes: dict[str, tuple[str, ...]]
) -> tuple[AuditReport, int]:
    """The report, and how many records were unreadable or refused by the services (those
    belong in dead letters; a refused record is not part of the run)."""
    connect_admin(settings)
    refused = routed_before(settings, None)
    audit = Audit(recipes)
    adders = {
        COMPONENT_PRODUCTION: audit.add_component,
        WIDGET_ASSEMBLY: audit.add_widget,
        QUALITY_CONTROL: audit.add_check,
        INVENTORY_UPDATES: audit.add_update,
    }
    unreadable = 0
    for topic, event_type in _TOPICS.items():
        add = adders[topic]
        for message in read_to_end(settings, [topic], client_id="audit"):
            if (topic, message.partition(), message.offset()) in refused:
                unreadable += 1
                continue
            try:
                add(decode_as(message.value() or b"", event_type))  # type: ignore[arg-type]
            except SchemaError:
                unreadable += 1
    return audit.report(), unreadable


def print_report(report: AuditReport, unreadable: int, out: object = sys.stdout) -> None:
    write = out.write  # type: ignore[attr-defined]
    c = report.counts
    write(
        f"Components: {c['components_produced']} produced, {c['components_used']} used in widgets, "
        f"{c['components_in_stock']} in stock\n"
        f"Widgets:    {c['widgets_assembled']} assembled, {c['widgets_inspected']} inspected "
        f"({c['widgets_passed']} passed, {c['widgets_failed']} failed)\n"
        f"Inventory:  {c['inventory_updates']} updates; stock "
        + (", ".join(f"{k} {v}" for k, v in report.stock.items()) or "empty")
        + "\n"
    )
    dupes = sum(report.duplicates.values())
    write(
        f"Duplicates: {dupes} seen and dropped"
        + (f" ({', '.join(f'{t} {n}' for t, n in report.duplicates.items())})" if dupes else "")
        + "\n"
    )
    if unreadable:
        write(f"Unreadable: {unreadable} records skipped (not valid events, or dead-lettered)\n")
    broken = {v.invariant for v in report.violations}
    for number, rule in INVARIANTS.items():
        write(f"  [{'FAIL' if number in broken else ' ok '}] {number}. {rule}\n")
    for violation in report.violations:
        more = (
            f" (and {violation.count - len(violation.ids)} more)"
            if violation.count > len(violation.ids)
            else ""
        )
        write(
            f"  invariant {violation.invariant}: {violation.count} {violation.message}: {'; '.join(violation.ids)}{more}\n"
        )
    write("Audit passed: every invariant holds.\n" if report.ok else "Audit FAILED.\n")


def _run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    report, unreadable = audit_topics(settings_from_args(args), config.recipes)
    if args.json:
        document = report.to_dict()
        document["unreadable_records"] = unreadable
        json.dump(document, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print_report(report, unreadable)
    return 0 if report.ok else 1


def register(command: Callable[..., argparse.ArgumentParser]) -> None:
    parser = command(
        "audit",
        "check every invariant of the contract on what the topics hold (exit 1 if any is broken)",
        _run,
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    common_options(parser)
