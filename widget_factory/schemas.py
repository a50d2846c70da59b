"""Event models of the public contract (docs/contract.md), and the reference factory's enums.

Every event is a msgspec ``Struct`` carrying the envelope (``event_id``, ``event_type``,
``schema_version``). ``encode`` and ``decode`` are the one place where events become bytes
and back; ``decode`` validates the envelope, required fields, types, enum values, ranges
and that every time carries a UTC offset, and raises :class:`SchemaError` with a message
naming the offending field.

Component and widget *types* are plain strings in the events, because a factory's
configuration may add new ones; the enums below name the reference factory's types, and
services check incoming types against their configuration.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Final, Literal, TypeVar

import msgspec
from msgspec import Meta

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
    "WidgetAssembled",
    "TestResults",
    "QualityCheck",
    "TelemetryMetrics",
    "Location",
    "MachineTelemetry",
    "InventoryUpdate",
    "ProductionOrder",
    "FactoryAlert",
    "FactoryCommand",
    "FactoryMetric",
    "AnyEvent",
    "EVENT_TYPES",
    "encode",
    "decode",
    "decode_as",
]

SCHEMA_VERSION: Final = 1
"""The one schema version this code writes and reads; a change to the contract bumps it."""

MAX_EVENT_BYTES: Final = 64 * 1024
"""Values larger than this are refused as malformed (a factory event is well under 2 KiB)."""


class ComponentType(StrEnum):
    """Component types of the reference factory."""

    METAL_FRAME = "metal_frame"
    PLASTIC_HOUSING = "plastic_housing"
    CIRCUIT_BOARD = "circuit_board"
    BATTERY = "battery"
    DISPLAY_SCREEN = "display_screen"
    SENSOR = "sensor"
    MOTOR = "motor"


class WidgetType(StrEnum):
    """Widget types of the reference factory."""

    BASIC_WIDGET = "basic_widget"
    PREMIUM_WIDGET = "premium_widget"
    INDUSTRIAL_WIDGET = "industrial_widget"
    SMART_WIDGET = "smart_widget"


class MachineStatus(StrEnum):
    IDLE = "idle"
    RUNNING = "running"
    MAINTENANCE = "maintenance"
    ERROR = "error"
    SHUTDOWN = "shutdown"


class QualityStatus(StrEnum):
    PASS = "pass"
    FAIL = "fail"


_BASIC = (ComponentType.METAL_FRAME, ComponentType.PLASTIC_HOUSING, ComponentType.CIRCUIT_BOARD)

WIDGET_RECIPES: Final[dict[WidgetType, tuple[ComponentType, ...]]] = {
    WidgetType.BASIC_WIDGET: _BASIC,
    WidgetType.PREMIUM_WIDGET: (*_BASIC, ComponentType.BATTERY, ComponentType.DISPLAY_SCREEN),
    WidgetType.INDUSTRIAL_WIDGET: (
        *_BASIC,
        ComponentType.BATTERY,
        ComponentType.SENSOR,
        ComponentType.MOTOR,
    ),
    WidgetType.SMART_WIDGET: (
        *_BASIC,
        ComponentType.BATTERY,
        ComponentType.DISPLAY_SCREEN,
        ComponentType.SENSOR,
    ),
}
"""The reference factory's recipes: one of each component listed. The shipped
``factory.toml`` carries the same recipes; configuration may add more."""


class SchemaError(ValueError):
    """A record that is not a valid event of this contract; the message names the field."""


# --- field types -------------------------------------------------------------------------

UtcTime = Annotated[datetime, Meta(tz=True)]
"""An ISO 8601 time that must carry a UTC offset (naive times are refused)."""

Uuid = Annotated[
    str, Meta(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
]
ComponentId = Annotated[str, Meta(pattern=r"^COMP_[A-Z0-9_]+_[0-9a-f]{8}$")]
WidgetId = Annotated[str, Meta(pattern=r"^WIDGET_[A-Z0-9_]+_[0-9a-f]{8}$")]
Name = Annotated[str, Meta(min_length=1, max_length=200)]
TypeName = Annotated[str, Meta(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
NonNegative = Annotated[float, Meta(ge=0)]


class Event(msgspec.Struct, kw_only=True, frozen=True, tag_field="event_type"):
    """The envelope every event carries. ``event_type`` is the struct's tag."""

    event_id: Uuid
    schema_version: Literal[1] = SCHEMA_VERSION

    @property
    def event_type(self) -> str:
        return str(self.__struct_config__.tag)

    @property
    def kafka_key(self) -> str:
        """The record key of docs/contract.md's topic table."""
        raise NotImplementedError

    @property
    def occurred_at(self) -> datetime:
        """The event's simulated time: also its Kafka record timestamp."""
        raise NotImplementedError


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

    @property
    def kafka_key(self) -> str:
        return self.component_id

    @property
    def occurred_at(self) -> datetime:
        return self.produced_at


# --- assembly ----------------------------------------------------------------------------


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
    """Sum of the components' ``defect_count``: lets quality trace back to machines."""

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
    )
}

# --- (de)serialization -------------------------------------------------------------------

E = TypeVar("E", bound=Event)

_encoder = msgspec.json.Encoder()
_any_decoder = msgspec.json.Decoder(AnyEvent)
_decoders: dict[type[Any], msgspec.json.Decoder[Any]] = {}
_version_probe = msgspec.json.Decoder(dict[str, Any])


def encode(event: Event) -> bytes:
    """The event as compact UTF-8 JSON, ``event_type`` included."""
    return _encoder.encode(event)


def _schema_error(data: bytes | str, exc: Exception) -> SchemaError:
    message = str(exc)
    if isinstance(exc, msgspec.ValidationError) and "schema_version" in message:
        try:
            version = _version_probe.decode(data).get("schema_version")
        except msgspec.DecodeError:
            version = None
        if version is not None:
            message = (
                f"unsupported schema_version {version!r} (this version reads "
                f"{SCHEMA_VERSION}) - at `$.schema_version`"
            )
    if isinstance(exc, msgspec.DecodeError) and not isinstance(exc, msgspec.ValidationError):
        message = f"not valid JSON: {message}"
    return SchemaError(message)


def _check_size(data: bytes | str) -> None:
    if len(data) > MAX_EVENT_BYTES:
        raise SchemaError(f"value of {len(data)} bytes exceeds the limit of {MAX_EVENT_BYTES}")


def decode(data: bytes | str) -> AnyEvent:
    """Any event of the contract, chosen by its ``event_type``.

    Raises :class:`SchemaError` naming the field (``at `$.quality_metrics.defect_count```)
    for anything else: bad JSON, an unknown ``event_type``, a missing field, a wrong type,
    an unknown enum value, a naive time, an unsupported ``schema_version``.
    """
    _check_size(data)
    try:
        return _any_decoder.decode(data)
    except (msgspec.DecodeError, ValueError) as exc:
        raise _schema_error(data, exc) from None


def decode_as(data: bytes | str, event_type: type[E]) -> E:
    """An event that must be of ``event_type``; anything else is a :class:`SchemaError`."""
    _check_size(data)
    decoder = _decoders.get(event_type)
    if decoder is None:
        decoder = _decoders[event_type] = msgspec.json.Decoder(event_type)
    try:
        return decoder.decode(data)
    except (msgspec.DecodeError, ValueError) as exc:
        raise _schema_error(data, exc) from None
