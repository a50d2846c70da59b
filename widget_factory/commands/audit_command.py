"""``widget-factory audit``: read the topics from the beginning and check the invariants.

Exit status 0 when every invariant holds and every record is accounted for, 1 when any
invariant is broken (each violation is listed with the ids involved), 2 when the audit
could not run, 3 when it is inconclusive: every invariant holds on what could be read,
but an unreadable record has no dead letter on ``factory-deadletter`` (each is listed).
Walkthrough-shaped records are read as their services read them, upgraded and counted.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable

from widget_factory.cli import common_options, settings_from_args
from widget_factory.compat import ReadUpgrades
from widget_factory.core.audit import AUDIT_STATUSES, INVARIANTS, Audit, AuditReport
from widget_factory.factory_config import load_config
from widget_factory.kafka_io.reader import read_to_end
from widget_factory.kafka_io.settings import KafkaSettings
from widget_factory.kafka_io.topics import (
    COMPONENT_PRODUCTION,
    FACTORY_DEADLETTER,
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

__all__ = ["register", "audit_topics", "print_report", "account_dead_letters", "print_accounting"]

log = logging.getLogger("audit")

_TOPICS = {
    COMPONENT_PRODUCTION: ComponentProduced,
    WIDGET_ASSEMBLY: WidgetAssembled,
    QUALITY_CONTROL: QualityCheck,
    INVENTORY_UPDATES: InventoryUpdate,
}


def audit_topics(
    settings: KafkaSettings, recipes: dict[str, tuple[str, ...]]
) -> tuple[AuditReport, int]:
    """The report, and how many records were unreadable (those belong in dead letters)."""
    connect_admin(settings)
    audit = Audit(recipes)
    adders = {
        COMPONENT_PRODUCTION: audit.add_component,
        WIDGET_ASSEMBLY: audit.add_widget,
        QUALITY_CONTROL: audit.add_check,
        INVENTORY_UPDATES: audit.add_update,
    }
    upgrades = ReadUpgrades(log)
    for topic, event_type in _TOPICS.items():
        add = adders[topic]
        for message in read_to_end(settings, [topic], client_id="audit"):
            value = message.value() or b""
            try:
                add(decode_as(value, event_type, topic=topic, upgrades=upgrades))  # type: ignore[operator,arg-type]
            except SchemaError as exc:
                audit.add_unreadable(
                    topic, message.partition() or 0, message.offset() or 0, str(exc)
                )
    account_dead_letters(settings, audit)
    report = audit.report()
    report.upgraded = upgrades.to_dict() if upgrades.records else {}
    return report, report.unreadable


def account_dead_letters(settings: KafkaSettings, audit: Audit) -> int:
    """Feed ``audit`` the origin of every dead letter of an audited topic (read after the
    topics themselves, so a record dead-lettered meanwhile is still matched); how many."""
    found = 0
    for message in read_to_end(settings, [FACTORY_DEADLETTER], client_id="audit-deadletters"):
        headers: dict[str, bytes] = {}
        for header in message.headers() or []:
            if isinstance(header[1], bytes):
                headers[str(header[0])] = header[1]
        try:
            topic = headers["source.topic"].decode()
            partition = int(headers["source.partition"])
            offset = int(headers["source.offset"])
        except (KeyError, ValueError, UnicodeDecodeError):
            continue  # not one of ours: it names no origin to account for
        if topic in _TOPICS:
            audit.add_dead_letter(topic, partition, offset)
            found += 1
    return found


_LISTED = 20
"""Unaccounted records listed in the text report; ``--json`` lists them all."""


def print_accounting(report: AuditReport, out: object = sys.stdout) -> None:
    """The unreadable records, whether dead letters account for them, and what was
    upgraded on read."""
    write = out.write  # type: ignore[attr-defined]
    if report.upgraded:
        kinds = ", ".join(f"{k} {n}" for k, n in report.upgraded.items() if k != "records" and n)
        write(
            f"Upgraded:   {report.upgraded['records']} walkthrough-shaped records read ({kinds})\n"
        )
    if not report.unreadable:
        return
    missing = len(report.unaccounted)
    write(
        f"Unreadable: {report.unreadable} records, {report.unreadable - missing} accounted "
        f"for by dead letters, {missing} not\n"
    )
    for record in report.unaccounted[:_LISTED]:
        write(f"  no dead letter: {record.where}: {record.error}\n")
    if missing > _LISTED:
        write(f"  (and {missing - _LISTED} more; --json lists them all)\n")


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
    print_accounting(report, out)
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
    if report.status == "inconclusive":
        write(
            f"Audit inconclusive: every invariant holds on what could be read, but "
            f"{len(report.unaccounted)} unreadable records have no dead letter (exit 3).\n"
        )
    else:
        write("Audit passed: every invariant holds.\n" if report.ok else "Audit FAILED.\n")


def _run(args: argparse.Namespace) -> int:
    config = load_config(args.config)
    report, unreadable = audit_topics(settings_from_args(args), config.recipes)
    if args.json:
        json.dump(report.to_dict(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print_report(report, unreadable)
    return report.exit_status


_EPILOG = (
    "exit status: "
    + ", ".join(f"{code} {status}" for status, code in AUDIT_STATUSES.items())
    + ", 2 could not run.\n"
    "Inconclusive: every invariant holds on the records that could be read, but an\n"
    "unreadable record of an audited topic has no dead letter on factory-deadletter\n"
    "(no service accounted for it). Each is listed as topic[partition]@offset with its\n"
    "error; --json gives them as unaccounted_unreadable and the outcome as status."
)


def register(command: Callable[..., argparse.ArgumentParser]) -> None:
    parser = command(
        "audit",
        "check every invariant of the contract on what the topics hold (exit 1 if any is "
        "broken, 3 if inconclusive: an unreadable record without a dead letter)",
        _run,
    )
    parser.epilog = _EPILOG
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    common_options(parser)
