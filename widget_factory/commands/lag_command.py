"""``widget-factory groups`` and ``widget-factory lag``: consumer groups and their lag.

The walkthrough's ``kafka-consumer-groups --list`` and ``--describe --group G``, for any
Kafka. End offsets are fetch high watermarks (exact); where only ListOffsets answered,
the output marks them approximate, and it says when ListOffsets disagrees (the embedded
broker under-reports ends: docs/embedded-broker.md).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from typing import TextIO

from confluent_kafka.admin import AdminClient

from widget_factory.errors import UsageError
from widget_factory.kafka_io.lag import (
    FACTORY_GROUPS,
    EndOffsetProbe,
    GroupInfo,
    LagReport,
    group_lags,
    list_groups,
)
from widget_factory.kafka_io.settings import KafkaSettings
from widget_factory.kafka_io.topics import connect_admin
from widget_factory.options import common_options, settings_from_args

ORDER = 62

__all__ = ["register", "print_groups", "print_lag", "lag_reports"]


def _table(rows: Sequence[Sequence[str]], right: frozenset[int] = frozenset()) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        lines.append("  ".join(cells).rstrip())
    return lines


def print_groups(
    groups: Sequence[GroupInfo], lags: dict[str, LagReport], out: TextIO = sys.stdout
) -> None:
    if not groups:
        out.write("No consumer groups yet (the factory's appear once its consumers commit).\n")
        return
    rows = [["GROUP", "STATE", "MEMBERS", "LAG", "TOPICS"]]
    for g in groups:
        report = lags.get(g.group_id)
        lag = "-" if report is None else f"{report.total}{'' if report.exact else '~'}"
        rows.append(
            [
                g.group_id,
                g.state,
                "-" if g.members is None else str(g.members),
                lag,
                ", ".join(g.topics) or "-",
            ]
        )
    out.write("\n".join(_table(rows, right=frozenset({2, 3}))) + "\n")
    if any(g.members is None for g in groups):
        out.write(
            "STATE and MEMBERS are as the broker reports them; '-' where it does not (the "
            "embedded broker reports neither: docs/embedded-broker.md).\n"
        )
    out.write(
        "LAG: records not yet committed, all partitions (details: widget-factory lag --group G).\n"
    )


def print_lag(report: LagReport, out: TextIO = sys.stdout) -> None:
    out.write(f"Group {report.group}\n")
    if not report.partitions:
        out.write("  no partitions: the group has committed nothing and reads no known topic\n")
        return
    rows = [["TOPIC", "PARTITION", "COMMITTED", "END", "LAG"]]
    for p in report.partitions:
        rows.append(
            [
                p.topic,
                str(p.partition),
                "-" if p.committed is None else str(p.committed),
                f"{p.end}{'' if p.exact else '~'}",
                str(p.lag),
            ]
        )
    rows.append(["TOTAL", "", "", "", str(report.total)])
    out.write("\n".join("  " + line for line in _table(rows, right=frozenset({1, 2, 3, 4}))) + "\n")
    if any(p.committed is None for p in report.partitions):
        out.write(
            "  COMMITTED '-': nothing committed yet; the group will read from the beginning.\n"
        )
    if report.exact:
        out.write("  END: fetch high watermarks (exact).\n")
    else:
        out.write(
            "  END '~': approximate (ListOffsets; the fetch did not answer in time). The embedded "
            "broker's ListOffsets under-reports ends (docs/embedded-broker.md).\n"
        )
    differ = [p for p in report.partitions if p.exact and p.listed != p.end]
    if differ:
        first = differ[0]
        out.write(
            f"  Note: ListOffsets (what kafka-consumer-groups and kcat -Q show) gives smaller ends "
            f"on {len(differ)} of {len(report.partitions)} partitions, e.g. {first.topic}"
            f"[{first.partition}]: {first.listed} instead of {first.end}; this broker under-reports "
            "the end when the last batch holds several records (docs/embedded-broker.md).\n"
        )


def lag_reports(
    settings: KafkaSettings,
    groups: Sequence[str],
    admin: AdminClient | None = None,
    committed: dict[str, dict[tuple[str, int], int]] | None = None,
) -> list[LagReport]:
    """One probe, one admin connection and one round of end offsets for every group (a
    connection each costs a round of metadata requests; ends asked group by group took
    most of a second). ``committed``: offsets :func:`list_groups` already read."""
    probe = EndOffsetProbe(settings)
    try:
        return group_lags(settings, groups, probe=probe, admin=admin, committed=committed)
    finally:
        probe.close()


def _groups(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    admin, _ = connect_admin(settings)
    committed: dict[str, dict[tuple[str, int], int]] = {}
    groups = list_groups(settings, admin=admin, offsets=committed)
    names = [g.group_id for g in groups]
    reports = {r.group: r for r in lag_reports(settings, names, admin, committed)}
    if args.json:
        document = [
            {
                "group": g.group_id,
                "state": g.state,
                "members": g.members,
                "topics": list(g.topics),
                "total_lag": reports[g.group_id].total if g.group_id in reports else None,
            }
            for g in groups
        ]
        json.dump(document, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print_groups(groups, reports)
    return 0


def _lag(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    admin, _ = connect_admin(settings)
    known = {g.group_id for g in list_groups(settings, admin=admin)}
    wanted = list(dict.fromkeys(args.group or sorted(known)))
    for group in wanted:
        if group not in known and group not in FACTORY_GROUPS:
            listed = ", ".join(sorted(known)) or "none yet"
            raise UsageError(
                f"no consumer group {group!r} on {settings.bootstrap_servers} (groups: {listed})"
            )
    reports = lag_reports(settings, wanted, admin)
    if args.json:
        json.dump([r.to_dict() for r in reports], sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif not reports:
        sys.stdout.write("No consumer groups yet.\n")
    else:
        for report in reports:
            print_lag(report)
    return 0


_GROUPS_HELP = (
    "list consumer groups with state, members, topics and total lag (kafka-consumer-groups --list)"
)
_LAG_HELP = (
    "committed offset, end offset and lag per topic-partition of a consumer group "
    "(kafka-consumer-groups --describe)"
)


def register(command: Callable[..., argparse.ArgumentParser]) -> None:
    groups = command("groups", _GROUPS_HELP, _groups)
    groups.add_argument("--json", action="store_true", help="print JSON instead of a table")
    common_options(groups, config=False)

    lag = command("lag", _LAG_HELP, _lag)
    lag.epilog = (
        "the factory's groups: "
        + ", ".join(f"{g} (reads {', '.join(t)})" for g, t in FACTORY_GROUPS.items())
        + "\nexample: widget-factory lag --group quality-control"
    )
    lag.add_argument(
        "--group",
        action="append",
        metavar="G",
        help="the group to describe (repeatable; default: every group)",
    )
    lag.add_argument("--json", action="store_true", help="print JSON instead of tables")
    common_options(lag, config=False)
