"""``widget-factory score``: an alert stream scored against the answer key.

Reads ``factory-ground-truth`` and an alert topic (``factory-alerts`` by default, or the
user's own) from the beginning, without a consumer group, and prints precision, recall
and detection delay per fault kind (matching: :mod:`widget_factory.core.scoring`).
Exit status 0 with a score, 2 when there is nothing to score.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from collections.abc import Callable
from typing import Any, TextIO

import msgspec

from widget_factory.core.clock import format_sim_duration, parse_duration
from widget_factory.core.scoring import (
    Alert,
    AlertShapeError,
    Score,
    alert_from_document,
    faults_from_truth,
    score_alerts,
)
from widget_factory.errors import UsageError
from widget_factory.kafka_io.reader import read_to_end
from widget_factory.kafka_io.settings import KafkaSettings
from widget_factory.kafka_io.topics import FACTORY_ALERTS, FACTORY_GROUND_TRUTH, connect_admin
from widget_factory.options import common_options, settings_from_args
from widget_factory.schemas import (
    DelayTruth,
    FaultTruth,
    InfluenceTruth,
    OeeTruth,
    SchemaError,
    decode,
)

ORDER = 92

__all__ = ["register", "read_alerts", "print_score"]

DEFAULT_GRACE = "10m"
"""Simulated time after a fault's end during which an alert still counts for it (the
factory's starvation alert comes ``starvation_alert_s``, 10 minutes, into a spell)."""

_json = msgspec.json.Decoder()


def read_truth(settings: KafkaSettings, topic: str) -> tuple[list[FaultTruth], int]:
    """The fault records (``oee_truth``, ``delay_truth`` and ``influence_truth`` records,
    the key's other kinds, are not scored)."""
    records: list[FaultTruth] = []
    unreadable = 0
    for message in read_to_end(settings, [topic], client_id="score"):
        try:
            record = decode(message.value() or b"")
        except SchemaError:
            unreadable += 1
            continue
        if isinstance(record, FaultTruth):
            records.append(record)
        elif not isinstance(record, OeeTruth | DelayTruth | InfluenceTruth):
            unreadable += 1
    return records, unreadable


def read_alerts(
    settings: KafkaSettings,
    topic: str,
    target_field: str,
    time_field: str,
    kind_field: str | None,
) -> tuple[list[Alert], Counter[str]]:
    """The topic's alerts (one per ``event_id`` when records carry one), and why records
    were skipped (reason → count)."""
    alerts: list[Alert] = []
    skipped: Counter[str] = Counter()
    seen: set[str] = set()
    for message in read_to_end(settings, [topic], client_id="score"):
        try:
            document = _json.decode(message.value() or b"")
        except msgspec.DecodeError:
            skipped["not JSON"] += 1
            continue
        timestamp_type, ms = message.timestamp()
        try:
            alert = alert_from_document(
                document,
                target_field,
                time_field,
                kind_field,
                ms / 1000.0 if timestamp_type else None,
            )
        except AlertShapeError as exc:
            skipped[str(exc)] += 1
            continue
        event_id = document.get("event_id") if isinstance(document, dict) else None
        if isinstance(event_id, str):
            if event_id in seen:
                continue  # a duplicate on the wire
            seen.add(event_id)
        alerts.append(alert)
    return alerts, skipped


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _delay(value: float | None) -> str:
    return "-" if value is None else format_sim_duration(round(value))


def _table(rows: list[list[str]], out: TextIO) -> None:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = [row[0].ljust(widths[0])] + [
            c.rjust(w) for c, w in zip(row[1:], widths[1:], strict=True)
        ]
        out.write("  " + "  ".join(cells).rstrip() + "\n")


def print_score(score: Score, header: str, out: TextIO = sys.stdout) -> None:
    document = score.to_dict()
    out.write(header + "\n")
    rows = [["FAULT KIND", "FAULTS", "DETECTED", "RECALL", "ALERTS", "DELAY p50", "DELAY p90"]]
    for kind, k in [*document["by_fault_kind"].items(), ("all", document)]:
        rows.append(
            [
                kind,
                str(k["faults"]),
                str(k["detected"]),
                _pct(k["recall"]),
                str(k["alerts_matched"]),
                _delay(k["delay_median_s"]),
                _delay(k["delay_p90_s"]),
            ]
        )
    _table(rows, out)
    out.write(
        f"Precision: {document['alerts_matched']} of {document['alerts']} alerts match a fault "
        f"({_pct(document['precision'])})\n"
    )
    if document["by_alert_kind"]:
        rows = [["ALERT KIND", "ALERTS", "MATCHED", "PRECISION"]]
        for kind, a in document["by_alert_kind"].items():
            rows.append([kind, str(a["alerts"]), str(a["matched"]), _pct(a["precision"])])
        _table(rows, out)
    out.write(
        "ALERTS: alerts matched to faults of the kind; DELAY: simulated time from a fault's "
        "start to its first alert.\n"
    )


def _run(args: argparse.Namespace) -> int:
    try:
        grace = parse_duration(args.grace)
    except ValueError as exc:
        raise UsageError(f"--grace: {exc}") from None
    settings = settings_from_args(args)
    _, metadata = connect_admin(settings)
    for topic in (args.truth_topic, args.alerts_topic):
        if topic not in metadata.topics:
            raise UsageError(f"topic {topic!r} does not exist on {settings.bootstrap_servers}")
    truth, bad_truth = read_truth(settings, args.truth_topic)
    faults = faults_from_truth(truth)
    if not faults:
        raise UsageError(
            f"{args.truth_topic} holds no fault records: run the factory first "
            "(widget-factory run --speed max --duration 1d)"
        )
    kind_field = args.kind_field or None
    alerts, skipped = read_alerts(
        settings, args.alerts_topic, args.target_field, args.time_field, kind_field
    )
    score = score_alerts(faults, alerts, grace)
    if args.json:
        document: dict[str, Any] = score.to_dict()
        document["alerts_topic"] = args.alerts_topic
        document["skipped_records"] = dict(skipped)
        document["missed"] = [
            {"fault_id": f.fault_id, "target_id": f.target_id, "kind": f.kind, "start": f.start}
            for f in score.missed
        ]
        json.dump(document, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0
    print_score(
        score,
        f"Answer key: {len(faults)} faults on {args.truth_topic}; {len(alerts)} alerts on "
        f"{args.alerts_topic} (target {args.target_field}, time {args.time_field}, grace "
        f"{format_sim_duration(grace)})",
    )
    for reason, count in skipped.most_common():
        sys.stdout.write(f"Skipped {count} records of {args.alerts_topic}: {reason}\n")
    if bad_truth:
        sys.stdout.write(f"Skipped {bad_truth} unreadable records of {args.truth_topic}\n")
    return 0


_HELP = (
    "score an alert stream (factory-alerts or your own topic) against the answer key "
    "on factory-ground-truth: precision, recall, detection delay per fault kind"
)


def register(command: Callable[..., argparse.ArgumentParser]) -> None:
    parser = command("score", _HELP, _run)
    parser.add_argument(
        "--alerts-topic",
        default=FACTORY_ALERTS,
        metavar="TOPIC",
        help=f"the alerts to score: JSON objects with a target id and a time (default {FACTORY_ALERTS})",
    )
    parser.add_argument(
        "--target-field",
        default="source_id",
        metavar="FIELD",
        help="field naming the machine or station alerted on; dotted for nested (default source_id)",
    )
    parser.add_argument(
        "--time-field",
        default="raised_at",
        metavar="FIELD",
        help="field with the alert's simulated time: ISO 8601, or epoch seconds or "
        "milliseconds; @timestamp for the Kafka record timestamp (default raised_at)",
    )
    parser.add_argument(
        "--kind-field",
        default="kind",
        metavar="FIELD",
        help="field naming the alert's kind, for precision per alert kind (default kind; "
        "'' for none)",
    )
    parser.add_argument(
        "--grace",
        default=DEFAULT_GRACE,
        metavar="D",
        help=f"an alert up to this long after a fault's end still counts for it (default {DEFAULT_GRACE})",
    )
    parser.add_argument(
        "--truth-topic", default=FACTORY_GROUND_TRUTH, metavar="TOPIC", help=argparse.SUPPRESS
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    common_options(parser)
