"""The answer key's tables: ``fault_truth``, ``oee_truth`` and ``delay_truth``, from one topic.

``factory-ground-truth`` carries three event types, so its records are decoded once by
their ``event_type`` and each goes to the table that ``accepts`` it. Like every other
table, the key is ``event_id``: a fault's ``begin`` and ``end`` are two rows sharing a
``fault_id``; a machine's window is one ``oee_truth`` row; an outage of a target's
gateway (``--late-fraction``) one ``delay_truth`` row.
"""

from __future__ import annotations

from typing import Any

from widget_factory.kafka_io.topics import FACTORY_GROUND_TRUTH
from widget_factory.schemas import DelayTruth, FaultTruth, OeeTruth, SchemaError, decode
from widget_factory.warehouse.tables import Table

__all__ = ["TRUTH_TABLES", "parse_truth"]

Row = dict[str, Any]


def parse_truth(value: bytes) -> FaultTruth | OeeTruth | DelayTruth:
    """A record of the answer key, or a :class:`SchemaError` for anything else."""
    event = decode(value, topic=FACTORY_GROUND_TRUTH)
    if not isinstance(event, FaultTruth | OeeTruth | DelayTruth):
        raise SchemaError(f"{event.event_type} does not belong on {FACTORY_GROUND_TRUTH}")
    return event


def _fault(e: FaultTruth) -> Row:
    effects = e.effects
    return {
        "event_id": e.event_id,
        "fault_id": e.fault_id,
        "phase": e.phase,
        "target_id": e.target_id,
        "target_type": e.target_type,
        "kind": e.kind,
        "cause": e.cause,
        "started_at": e.started_at,
        "ended_at": e.ended_at,
        "expected_end_at": e.expected_end_at,
        "open_at_end": e.open_at_end,
        "effect_unit": effects.unit if effects else None,
        "units_not_made": effects.units_not_made if effects else None,
        "made_while_degraded": effects.made_while_degraded if effects else None,
        "widgets_influenced": effects.widgets_influenced if effects else None,
    }


def _oee(e: OeeTruth) -> Row:
    return {
        "event_id": e.event_id,
        "machine_id": e.target_id,
        "window_start": e.window_start,
        "window_end": e.window_end,
        "producing_s": e.producing_s,
        "shutdown_s": e.shutdown_s,
        "made": e.made,
        "good": e.good,
        "availability": e.availability,
        "performance": e.performance,
        "quality": e.quality,
        "oee": e.oee,
    }


def _delay(e: DelayTruth) -> Row:
    return {
        "event_id": e.event_id,
        "outage_id": e.outage_id,
        "target_id": e.target_id,
        "target_type": e.target_type,
        "topic": e.topic,
        "started_at": e.started_at,
        "reconnected_at": e.reconnected_at,
        "records_delayed": e.records_delayed,
        "first_event_at": e.first_event_at,
        "last_event_at": e.last_event_at,
        "last_released_at": e.last_released_at,
        "max_delay_s": e.max_delay_s,
        "mean_delay_s": e.mean_delay_s,
    }


_V, _T, _D, _I, _B = "VARCHAR", "TIMESTAMPTZ", "DOUBLE", "BIGINT", "BOOLEAN"

TRUTH_TABLES: tuple[Table, ...] = (
    Table(
        "fault_truth",
        FACTORY_GROUND_TRUTH,
        (
            ("event_id", _V),
            ("fault_id", _V),
            ("phase", _V),
            ("target_id", _V),
            ("target_type", _V),
            ("kind", _V),
            ("cause", _V),
            ("started_at", _T),
            ("ended_at", _T),
            ("expected_end_at", _T),
            ("open_at_end", _B),
            ("effect_unit", _V),
            ("units_not_made", _I),
            ("made_while_degraded", _I),
            ("widgets_influenced", "VARCHAR[]"),
        ),
        parse_truth,
        _fault,
        accepts=FaultTruth,
    ),
    Table(
        "oee_truth",
        FACTORY_GROUND_TRUTH,
        (
            ("event_id", _V),
            ("machine_id", _V),
            ("window_start", _T),
            ("window_end", _T),
            ("producing_s", _D),
            ("shutdown_s", _D),
            ("made", _I),
            ("good", _I),
            ("availability", _D),
            ("performance", _D),
            ("quality", _D),
            ("oee", _D),
        ),
        parse_truth,
        _oee,
        accepts=OeeTruth,
    ),
    Table(
        "delay_truth",
        FACTORY_GROUND_TRUTH,
        (
            ("event_id", _V),
            ("outage_id", _V),
            ("target_id", _V),
            ("target_type", _V),
            ("topic", _V),
            ("started_at", _T),
            ("reconnected_at", _T),
            ("records_delayed", _I),
            ("first_event_at", _T),
            ("last_event_at", _T),
            ("last_released_at", _T),
            ("max_delay_s", _D),
            ("mean_delay_s", _D),
        ),
        parse_truth,
        _delay,
        accepts=DelayTruth,
    ),
)
"""The answer key's tables: all read ``factory-ground-truth`` with :func:`parse_truth`;
each keeps the records of the type it ``accepts``."""
