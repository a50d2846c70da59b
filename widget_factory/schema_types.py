"""The contract's vocabulary: the envelope every event carries, the enums, the reference
factory's type tables, and the constrained field types the events of
:mod:`widget_factory.schemas` are made of; also what a refused record is told
(:class:`SchemaError`, :func:`decode_error`, :func:`check_size`).

Events carry component and widget types as plain strings, because a factory's
configuration may add new ones; :class:`ComponentType`, :class:`WidgetType` and
:data:`WIDGET_RECIPES` name the reference factory's (docs/contract.md), and the shipped
``factory.toml`` carries the same recipes. Every name here is importable from
:mod:`widget_factory.schemas` too.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Final, Literal

import msgspec
from msgspec import Meta

__all__ = [
    "SCHEMA_VERSION",
    "MAX_EVENT_BYTES",
    "SchemaError",
    "decode_error",
    "check_size",
    "Event",
    "ComponentType",
    "WidgetType",
    "MachineStatus",
    "QualityStatus",
    "WIDGET_RECIPES",
    "UtcTime",
    "Uuid",
    "ComponentId",
    "WidgetId",
    "Name",
    "TypeName",
    "NonNegative",
]


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


class MachineStatus(StrEnum):
    IDLE = "idle"
    RUNNING = "running"
    MAINTENANCE = "maintenance"
    ERROR = "error"
    SHUTDOWN = "shutdown"


class QualityStatus(StrEnum):
    PASS = "pass"
    FAIL = "fail"


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


SCHEMA_VERSION: Final = 1
"""The one schema version this code writes and reads; a change to the contract bumps it."""

MAX_EVENT_BYTES: Final = 64 * 1024
"""Values larger than this are refused as malformed (a factory event is well under 2 KiB)."""


class SchemaError(ValueError):
    """A record that is not a valid event of this contract; the message names the field."""


_version_probe = msgspec.json.Decoder(dict[str, Any])


def decode_error(data: bytes | str, exc: Exception) -> SchemaError:
    """What a failed strict decode of ``data`` says: msgspec's message naming the field,
    an unsupported ``schema_version`` named as such, bad JSON called so."""
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


def check_size(data: bytes | str) -> None:
    """Refuse a value over :data:`MAX_EVENT_BYTES` before decoding it."""
    if len(data) > MAX_EVENT_BYTES:
        raise SchemaError(f"value of {len(data)} bytes exceeds the limit of {MAX_EVENT_BYTES}")


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
