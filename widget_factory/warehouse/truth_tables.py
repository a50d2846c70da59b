"""The answer key's tables: ``fault_truth``, ``oee_truth``, ``delay_truth`` and
``influence_truth``, from one topic.

``factory-ground-truth`` carries four event types, so its records are decoded once by
their ``event_type`` and each goes to the table that ``accepts`` it. Like every other
table, the key is ``event_id``: a fault's ``begin`` and ``end`` are two rows sharing a
``fault_id``; a machine's or a station's window is one ``oee_truth`` row (its
``machine_id`` column holds the station's id, ``target_type`` says which); an outage of
a target's gateway (``--late-fraction``) one ``delay_truth`` row; a fault's influence on
one widget's quality check one ``influence_truth`` row (its parts in that widget as a
list).
"""

from __future__ import annotations

from widget_factory.kafka_io.topics import FACTORY_GROUND_TRUTH
from widget_factory.schemas import (
    DelayTruth,
    FaultTruth,
    InfluenceTruth,
    OeeTruth,
    SchemaError,
    decode,
)
from widget_factory.warehouse.tables import Table

__all__ = ["TRUTH_TABLES", "parse_truth"]


def parse_truth(value: bytes) -> FaultTruth | OeeTruth | DelayTruth | InfluenceTruth:
    """A record of the answer key, or a :class:`SchemaError` for anything else."""
    event = decode(value, topic=FACTORY_GROUND_TRUTH)
    if not isinstance(event, FaultTruth | OeeTruth | DelayTruth | InfluenceTruth):
        raise SchemaError(f"{event.event_type} does not belong on {FACTORY_GROUND_TRUTH}")
    return event


TRUTH_TABLES: tuple[Table, ...] = (
    Table(
        "fault_truth",
        FACTORY_GROUND_TRUTH,
        parse_truth,
        "event_id fault_id phase target_id target_type kind cause started_at:T ended_at:T"
        " expected_end_at:T open_at_end:B effect_unit=effects.unit"
        " units_not_made:I=effects.units_not_made"
        " made_while_degraded:I=effects.made_while_degraded"
        " widgets_influenced:L=effects.widgets_influenced",
        accepts=FaultTruth,
    ),
    Table(
        "oee_truth",
        FACTORY_GROUND_TRUTH,
        parse_truth,
        "event_id machine_id=target_id window_start:T window_end:T producing_s:D shutdown_s:D"
        " made:I good:I availability:D performance:D quality:D oee:D"
        " target_type=target_kind idle_s:D starved_s:D=starved_seconds",
        accepts=OeeTruth,
    ),
    Table(
        "delay_truth",
        FACTORY_GROUND_TRUTH,
        parse_truth,
        "event_id outage_id target_id target_type topic started_at:T reconnected_at:T"
        " records_delayed:I first_event_at:T last_event_at:T last_released_at:T"
        " max_delay_s:D mean_delay_s:D",
        accepts=DelayTruth,
    ),
    Table(
        "influence_truth",
        FACTORY_GROUND_TRUTH,
        parse_truth,
        "event_id fault_id machine_id=target_id kind widget_id check_id inspected_at:T"
        " status=status.value component_ids:L traced:B",
        accepts=InfluenceTruth,
    ),
)
"""The answer key's tables: all read ``factory-ground-truth`` with :func:`parse_truth`;
each keeps the records of the type it ``accepts``."""
