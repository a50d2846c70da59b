"""Reading what the topics hold into the audit (``widget_factory/core/audit.py``): the
cluster side of ``widget-factory audit``, also run after every bench factory run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from widget_factory.core.audit import Audit, AuditReport
from widget_factory.kafka_io.reader import read_to_end
from widget_factory.kafka_io.settings import KafkaSettings
from widget_factory.kafka_io.topics import (
    COMPONENT_PRODUCTION,
    INVENTORY_UPDATES,
    MACHINE_TELEMETRY,
    QUALITY_CONTROL,
    WIDGET_ASSEMBLY,
    connect_admin,
)
from widget_factory.schemas import (
    ComponentProduced,
    InventoryUpdate,
    MachineTelemetry,
    QualityCheck,
    SchemaError,
    WidgetAssembled,
    decode_as,
)

__all__ = ["audit_topics"]

_TOPICS: dict[str, type[Any]] = {
    COMPONENT_PRODUCTION: ComponentProduced,
    WIDGET_ASSEMBLY: WidgetAssembled,
    QUALITY_CONTROL: QualityCheck,
    INVENTORY_UPDATES: InventoryUpdate,
    MACHINE_TELEMETRY: MachineTelemetry,
}


def audit_topics(
    settings: KafkaSettings, recipes: dict[str, tuple[str, ...]]
) -> tuple[AuditReport, int]:
    """The report, and how many records were unreadable (those belong in dead letters)."""
    connect_admin(settings)
    audit = Audit(recipes)
    adders: dict[str, Callable[[Any], None]] = {
        COMPONENT_PRODUCTION: audit.add_component,
        WIDGET_ASSEMBLY: audit.add_widget,
        QUALITY_CONTROL: audit.add_check,
        INVENTORY_UPDATES: audit.add_update,
        MACHINE_TELEMETRY: audit.add_telemetry,
    }
    unreadable = 0
    for topic, event_type in _TOPICS.items():
        add = adders[topic]
        for message in read_to_end(settings, [topic], client_id="audit"):
            try:
                add(decode_as(message.value() or b"", event_type))
            except SchemaError:
                unreadable += 1
    return audit.report(), unreadable
