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
import sys
from collections.abc import Callable

from widget_factory.core.audit import AUDIT_STATUSES, INVARIANTS, AuditReport
from widget_factory.factory_config import load_config
from widget_factory.kafka_io.audit import audit_topics
from widget_factory.options import common_options, settings_from_args

ORDER = 90

__all__ = ["register", "print_report", "print_accounting"]


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


_HELP = (
    "check every invariant of the contract on what the topics hold (exit 1 if any is "
    "broken, 3 if inconclusive: an unreadable record without a dead letter)"
)


def register(command: Callable[..., argparse.ArgumentParser]) -> None:
    parser = command("audit", _HELP, _run)
    parser.epilog = _EPILOG
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    common_options(parser)
