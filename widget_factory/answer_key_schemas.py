"""The answer key's events on ``factory-ground-truth`` (docs/contract.md, "The answer
key"): what the simulation knows happened, for scoring a user's own pipeline. Apart from
the ordinary events because only the simulation writes them; importable from
:mod:`widget_factory.schemas` too, which decodes them with every other event."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from widget_factory.schema_types import (
    ComponentId,
    Event,
    Name,
    NonNegative,
    QualityStatus,
    UtcTime,
    Uuid,
    WidgetId,
)

__all__ = ["DelayTruth", "FaultEffects", "FaultTruth", "InfluenceTruth", "OeeTruth"]


class FaultEffects(msgspec.Struct, frozen=True, kw_only=True):
    """What a fault cost, as the simulation knows it (on a fault's ``end`` record).

    ``units_not_made`` estimates the output lost: the fault's duration over the target's
    mean cycle time (components for a machine, widgets for a station); 0 for a quality
    drift, which does not stop output. Components made while degraded are counted and
    listed (the first 200 ids, the times of the first and last) when the fault lets the
    target keep producing worse output: a quality drift; a fault that stops output has
    none. ``widgets_influenced`` stays null: the parts a fault spoiled are built into
    widgets and inspected later, after its end record is written. Quality control
    publishes one ``influence_truth`` record (:class:`InfluenceTruth`) with the same
    ``fault_id`` per widget it inspected that holds a part of the fault."""

    unit: Literal["component", "widget"]
    units_not_made: Annotated[int, Meta(ge=0)]
    made_while_degraded: Annotated[int, Meta(ge=0)] = 0
    degraded_ids: list[Name] = []
    degraded_first_at: UtcTime | None = None
    degraded_last_at: UtcTime | None = None
    widgets_influenced: list[Name] | None = None


class FaultTruth(Event, kw_only=True, frozen=True, tag="fault_truth"):
    """One begin or end of a fault the simulation caused, on ``factory-ground-truth``.

    ``fault_id`` is the same on both records (derived from target, kind and start, so a
    seed reproduces it). ``occurred_at`` (the Kafka timestamp) is ``started_at`` on a
    begin record and ``ended_at`` on an end record. ``expected_end_at`` is the planned end
    when the fault begins (a repair's or maintenance's duration; null for a shutdown or a
    starvation). ``open_at_end`` marks a fault the run ended before it did."""

    phase: Literal["begin", "end"]
    fault_id: Uuid
    target_id: Name
    target_type: Literal["machine", "station"]
    kind: Literal["breakdown", "anomaly", "maintenance", "shutdown", "starvation", "quality_drift"]
    cause: Literal["random", "command", "scenario", "schedule", "supply", "wear"]
    started_at: UtcTime
    ended_at: UtcTime | None = None
    expected_end_at: UtcTime | None = None
    open_at_end: bool = False
    effects: FaultEffects | None = None

    @property
    def kafka_key(self) -> str:
        return self.target_id

    @property
    def occurred_at(self) -> datetime:
        if self.phase == "end" and self.ended_at is not None:
            return self.ended_at
        return self.started_at


class OeeTruth(Event, kw_only=True, frozen=True, tag="oee_truth"):
    """True OEE of one production machine or assembly station over one window, on
    ``factory-ground-truth`` (from the simulation's own state; definitions in
    docs/contract.md). A machine's record carries no ``target_type`` (its bytes are as
    before stations had records): read it with :attr:`target_kind`."""

    target_id: Name
    window_start: UtcTime
    window_end: UtcTime
    producing_s: NonNegative
    shutdown_s: NonNegative
    made: Annotated[int, Meta(ge=0)]
    good: Annotated[int, Meta(ge=0)]
    availability: float | None
    performance: float | None
    quality: float | None
    oee: float | None
    idle_s: NonNegative = 0.0
    """Time idle (parked by kanban; a station: no order it could build): planned out of
    production, like a shutdown."""
    target_type: Literal["machine", "station"] | UnsetType = UNSET
    """``station`` on a station's record; absent (a machine) otherwise."""
    starved_s: NonNegative | UnsetType = UNSET
    """A station's time starved (the answer key's starvation spells); absent for a machine."""

    @property
    def target_kind(self) -> Literal["machine", "station"]:
        """``target_type``, with a machine's (absent) spelled out."""
        return "machine" if self.target_type is UNSET else self.target_type

    @property
    def starved_seconds(self) -> float | None:
        """``starved_s``; None on a machine's record."""
        return None if self.starved_s is UNSET else self.starved_s

    @property
    def kafka_key(self) -> str:
        return self.target_id

    @property
    def occurred_at(self) -> datetime:
        return self.window_end


class DelayTruth(Event, kw_only=True, frozen=True, tag="delay_truth"):
    """One network blip of one target's edge gateway, on ``factory-ground-truth``
    (``--late-fraction``; core/edge_gateway.py): the records of ``topic`` that the
    target produced between ``started_at`` and ``reconnected_at`` were held and sent
    late, in shuffled order, their event time unchanged. ``records_delayed`` counts them;
    each was sent between ``reconnected_at`` and ``last_released_at``, at most
    ``max_delay_s`` after its event time (``first_event_at`` .. ``last_event_at``).
    The record's Kafka timestamp is ``reconnected_at``."""

    outage_id: Uuid
    target_id: Name
    target_type: Literal["machine", "station"]
    topic: Literal["machine-telemetry", "component-production"]
    started_at: UtcTime
    reconnected_at: UtcTime
    records_delayed: Annotated[int, Meta(ge=1)]
    first_event_at: UtcTime
    last_event_at: UtcTime
    last_released_at: UtcTime
    max_delay_s: NonNegative
    mean_delay_s: NonNegative

    @property
    def kafka_key(self) -> str:
        return self.target_id

    @property
    def occurred_at(self) -> datetime:
        return self.reconnected_at


class InfluenceTruth(Event, kw_only=True, frozen=True, tag="influence_truth"):
    """One widget whose quality check a machine's fault influenced, on
    ``factory-ground-truth`` (published by quality control, core/fault_influence.py).

    The widget holds flawed parts (its ``component_flaws``) of the fault: made with
    defects inside the machine's ``quality_drift``, or made while degraded right after
    the repair that ended a ``breakdown`` or ``anomaly``. ``component_ids`` lists them;
    ``traced`` says whether the check's ``traced_to`` named one of them. Clean parts are
    not in ``component_flaws`` and cannot change a verdict, so they do not count. One
    record per fault and widget; keyed by the machine like the fault's records, its
    Kafka timestamp is ``inspected_at`` (the check's ``checked_at``)."""

    fault_id: Uuid
    target_id: Name
    kind: Literal["breakdown", "anomaly", "quality_drift"]
    widget_id: WidgetId
    check_id: Name
    inspected_at: UtcTime
    status: QualityStatus
    component_ids: Annotated[list[ComponentId], Meta(min_length=1, max_length=64)]
    traced: bool = False

    @property
    def kafka_key(self) -> str:
        return self.target_id

    @property
    def occurred_at(self) -> datetime:
        return self.inspected_at
