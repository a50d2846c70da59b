"""Event models of the public contract (docs/contract.md), and the reference factory's enums.

Every event is a msgspec ``Struct`` carrying the envelope (``event_id``, ``event_type``,
``schema_version``). ``encode`` and ``decode`` are the one place where events become bytes
and back; ``decode`` validates the envelope, required fields, types, enum values, ranges
and that every time carries a UTC offset, and raises :class:`SchemaError` with a message
naming the offending field. A walkthrough-shaped record (no envelope at all, naive
times) is upgraded on read instead (:mod:`widget_factory.compat`).

Component and widget *types* are plain strings in the events, because a factory's
configuration may add new ones; services check incoming types against their
configuration. The envelope (:class:`Event`), the enums, the reference factory's type
tables and the constrained field types are in :mod:`widget_factory.schema_types`
(importable from here too).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Final, Literal, TypeVar

import msgspec
from msgspec import Meta

from widget_factory.answer_key_schemas import (
    DelayTruth,
    FaultEffects,
    FaultTruth,
    InfluenceTruth,
    OeeTruth,
)
from widget_factory.compat import TOPIC_EVENT_TYPES, ReadUpgrades, read_upgraded_or_refuse
from widget_factory.schema_types import (
    MAX_EVENT_BYTES,
    SCHEMA_VERSION,
    WIDGET_RECIPES,
    ComponentId,
    ComponentType,
    Event,
    MachineStatus,
    Name,
    NonNegative,
    QualityStatus,
    SchemaError,
    TypeName,
    UtcTime,
    WidgetId,
    WidgetType,
    check_size,
)

__all__ = [
    "SCHEMA_VERSION",
    "MAX_EVENT_BYTES",
    "ComponentType",
    "WidgetType",
    "MachineStatus",
    "QualityStatus",
    "WIDGET_RECIPES",
    "SchemaError",
    "Event",
    "Dimensions",
    "QualityMetrics",
    "ComponentProduced",
    "ComponentFlaw",
    "WidgetAssembled",
    "TestResults",
    "TracedTo",
    "QualityCheck",
    "TelemetryMetrics",
    "Location",
    "MachineTelemetry",
    "InventoryUpdate",
    "ProductionOrder",
    "FactoryAlert",
    "FactoryCommand",
    "FactoryMetric",
    "FaultEffects",
    "FaultTruth",
    "OeeTruth",
    "DelayTruth",
    "InfluenceTruth",
    "AnyEvent",
    "EVENT_TYPES",
    "encode",
    "decode",
    "decode_as",
]

# --- component production ---------------------------------------------------------------


class Dimensions(msgspec.Struct, frozen=True):
    length: NonNegative
    width: NonNegative
    height: NonNegative


class QualityMetrics(msgspec.Struct, frozen=True):
    weight_grams: NonNegative
    dimensions_mm: Dimensions
    temperature_celsius: float
    defect_count: Annotated[int, Meta(ge=0)]


class ComponentProduced(Event, kw_only=True, frozen=True, tag="component_produced"):
    component_id: ComponentId
    component_type: TypeName
    machine_id: Name
    batch_id: Name
    produced_at: UtcTime
    quality_metrics: QualityMetrics
    production_line: Name
    made_while_degraded: bool = False
    """Made in the settling-in cycles right after its machine came back from an error (a
    breakdown or an injected anomaly): such parts carry more defects and fail more often."""

    @property
    def kafka_key(self) -> str:
        return self.component_id

    @property
    def occurred_at(self) -> datetime:
        return self.produced_at


# --- assembly ----------------------------------------------------------------------------


class ComponentFlaw(msgspec.Struct, frozen=True):
    """One component of a widget that had defects or was made while its machine was
    degraded: what quality control needs to trace a failure back to a machine."""

    component_id: ComponentId
    machine_id: Name
    defect_count: Annotated[int, Meta(ge=0)] = 0
    made_while_degraded: bool = False
    produced_at: UtcTime | None = None
    """When the component was made (absent in older records): lets quality control tie
    the flaw to the machine's fault at that time (core/fault_influence.py)."""


class WidgetAssembled(Event, kw_only=True, frozen=True, tag="widget_assembled"):
    widget_id: WidgetId
    widget_type: TypeName
    assembly_station_id: Name
    component_ids: Annotated[list[ComponentId], Meta(min_length=1, max_length=64)]
    assembly_started_at: UtcTime
    assembly_completed_at: UtcTime
    assembly_duration_seconds: NonNegative
    worker_id: Name
    batch_id: Name
    order_id: Name | None = None
    component_defects: Annotated[int, Meta(ge=0)] = 0
    """Sum of the components' ``defect_count``."""
    component_flaws: Annotated[list[ComponentFlaw], Meta(max_length=64)] = []
    """The components with defects or made while their machine was degraded (clean ones
    are left out): lets quality trace a failure back to a component and its machine."""

    @property
    def kafka_key(self) -> str:
        return self.widget_id

    @property
    def occurred_at(self) -> datetime:
        return self.assembly_completed_at


# --- quality control ---------------------------------------------------------------------


class TestResults(msgspec.Struct, frozen=True):
    electrical_test: bool
    mechanical_test: bool
    visual_inspection: bool
    performance_score: Annotated[float, Meta(ge=0, le=100)]


class TracedTo(msgspec.Struct, frozen=True):
    """Where a failed widget's defect came from: the component and the machine that made
    it, and why (``reason``: e.g. "2 component defects", "made after a repair")."""

    component_id: ComponentId | None
    machine_id: Name | None
    reason: Name


class QualityCheck(Event, kw_only=True, frozen=True, tag="quality_check"):
    check_id: Name
    widget_id: WidgetId
    widget_type: TypeName
    inspector_id: Name
    checked_at: UtcTime
    status: QualityStatus
    test_results: TestResults
    defects_found: list[Name]
    notes: str = ""
    traced_to: TracedTo | None = None
    """On a failure caused by a component: which one, and its machine (else null)."""

    def __post_init__(self) -> None:
        if self.status is QualityStatus.PASS and self.defects_found:
            raise ValueError("defects_found must be empty when status is 'pass'")
        if self.status is QualityStatus.FAIL and not self.defects_found:
            raise ValueError("defects_found must not be empty when status is 'fail'")

    @property
    def kafka_key(self) -> str:
        return self.widget_id

    @property
    def occurred_at(self) -> datetime:
        return self.checked_at


# --- telemetry ---------------------------------------------------------------------------


class TelemetryMetrics(msgspec.Struct, frozen=True):
    temperature_celsius: float
    vibration_level: NonNegative
    power_consumption_watts: NonNegative
    cycle_count: Annotated[int, Meta(ge=0)]
    efficiency_percent: Annotated[float, Meta(ge=0, le=100)]


class Location(msgspec.Struct, frozen=True):
    building: Name
    floor: int
    line: Name


class MachineTelemetry(Event, kw_only=True, frozen=True, tag="machine_telemetry"):
    machine_id: Name
    machine_type: Name
    timestamp: UtcTime
    status: MachineStatus
    metrics: TelemetryMetrics
    location: Location

    @property
    def kafka_key(self) -> str:
        return self.machine_id

    @property
    def occurred_at(self) -> datetime:
        return self.timestamp


# --- inventory, orders, alerts, commands -------------------------------------------------


class InventoryUpdate(Event, kw_only=True, frozen=True, tag="inventory_update"):
    item_type: Literal["component", "widget"]
    sku: TypeName
    item_id: Name
    warehouse_location: Name
    quantity_change: int
    current_stock: Annotated[int, Meta(ge=0)]
    updated_at: UtcTime
    reason: Name
    batch_id: Name

    @property
    def kafka_key(self) -> str:
        return self.sku

    @property
    def occurred_at(self) -> datetime:
        return self.updated_at


class ProductionOrder(Event, kw_only=True, frozen=True, tag="production_order"):
    order_id: Name
    widget_type: TypeName
    quantity: Annotated[int, Meta(gt=0, le=1_000_000)]
    priority: Annotated[int, Meta(ge=0, le=100)]
    created_at: UtcTime
    due_at: UtcTime | None = None
    """When the customer expects the order complete (null: no due date)."""

    @property
    def kafka_key(self) -> str:
        return self.order_id

    @property
    def occurred_at(self) -> datetime:
        return self.created_at


class FactoryAlert(Event, kw_only=True, frozen=True, tag="factory_alert"):
    alert_id: Name
    severity: Literal["info", "warning", "critical"]
    source_id: Name
    message: Annotated[str, Meta(max_length=2000)]
    raised_at: UtcTime
    kind: Name = "generic"

    @property
    def kafka_key(self) -> str:
        return self.source_id

    @property
    def occurred_at(self) -> datetime:
        return self.raised_at


class FactoryCommand(Event, kw_only=True, frozen=True, tag="factory_command"):
    command: Literal[
        "inject_anomaly",
        "stop_machine",
        "start_machine",
        "maintenance",
        "kanban_hold",
        "kanban_release",
    ]
    target_id: Name
    issued_at: UtcTime
    args: dict[str, Any] = {}

    @property
    def kafka_key(self) -> str:
        return self.target_id

    @property
    def occurred_at(self) -> datetime:
        return self.issued_at


class FactoryMetric(Event, kw_only=True, frozen=True, tag="factory_metric"):
    """One windowed aggregate of the analytics service, on ``factory-metrics``.

    ``metric`` names the aggregate (also the record key), ``key`` what it is about (a
    machine, station, widget type, defect, SKU), the window is in simulated time, and
    ``values`` holds the numbers (null where undefined, e.g. a rate over no checks)."""

    metric: Annotated[str, Meta(min_length=1, max_length=64)]
    key: Annotated[str, Meta(min_length=1, max_length=200)]
    window_start: UtcTime
    window_end: UtcTime
    values: dict[str, float | int | None]

    @property
    def kafka_key(self) -> str:
        return self.metric

    @property
    def occurred_at(self) -> datetime:
        return self.window_end

    @property
    def timestamp_ms(self) -> int:
        """The record timestamp: the window's end in simulated epoch milliseconds."""
        return int(round(self.window_end.timestamp() * 1000))


AnyEvent = (
    ComponentProduced
    | WidgetAssembled
    | QualityCheck
    | MachineTelemetry
    | InventoryUpdate
    | ProductionOrder
    | FactoryAlert
    | FactoryCommand
    | FactoryMetric
    | FaultTruth
    | OeeTruth
    | DelayTruth
    | InfluenceTruth
)

EVENT_TYPES: Final[dict[str, type[Event]]] = {
    cls.__struct_config__.tag: cls  # type: ignore[misc]
    for cls in (
        ComponentProduced,
        WidgetAssembled,
        QualityCheck,
        MachineTelemetry,
        InventoryUpdate,
        ProductionOrder,
        FactoryAlert,
        FactoryCommand,
        FactoryMetric,
        FaultTruth,
        OeeTruth,
        DelayTruth,
        InfluenceTruth,
    )
}

# --- (de)serialization -------------------------------------------------------------------

E = TypeVar("E", bound=Event)

_encoder = msgspec.json.Encoder()
_any_decoder = msgspec.json.Decoder(AnyEvent)
_decoders: dict[type[Any], msgspec.json.Decoder[Any]] = {}


encode: Final[Callable[[Event], bytes]] = _encoder.encode
"""The event as compact UTF-8 JSON, ``event_type`` included. The encoder's own method,
not a function around it: it runs for every record the factory sends."""


def decode(data: bytes | str, *, topic: str = "", upgrades: ReadUpgrades | None = None) -> AnyEvent:
    """Any event of the contract, chosen by its ``event_type``.

    Raises :class:`SchemaError` naming the field (``at `$.quality_metrics.defect_count```)
    for anything else: bad JSON, an unknown ``event_type``, a missing field, a wrong type,
    an unknown enum value, a naive time, an unsupported ``schema_version``. A
    walkthrough-shaped record (no envelope) is read as the event ``topic`` carries, and
    counted in ``upgrades``.
    """
    check_size(data)
    try:
        return _any_decoder.decode(data)
    except (msgspec.DecodeError, ValueError) as exc:
        name = TOPIC_EVENT_TYPES.get(topic)
        return read_upgraded_or_refuse(data, name, AnyEvent, topic, upgrades, exc)


def decode_as(
    data: bytes | str,
    event_type: type[E],
    *,
    topic: str = "",
    upgrades: ReadUpgrades | None = None,
) -> E:
    """An event that must be of ``event_type``; anything else is a :class:`SchemaError`.

    A walkthrough-shaped record (no envelope) is upgraded and counted in ``upgrades``
    under ``topic``."""
    check_size(data)
    decoder = _decoders.get(event_type)
    if decoder is None:
        decoder = _decoders[event_type] = msgspec.json.Decoder(event_type)
    try:
        return decoder.decode(data)
    except (msgspec.DecodeError, ValueError) as exc:
        tag = event_type.__struct_config__.tag
        name = tag if isinstance(tag, str) else None
        return read_upgraded_or_refuse(data, name, event_type, topic, upgrades, exc)
