"""Reading what the topics hold into the audit (``widget_factory/core/audit.py``): the
cluster side of ``widget-factory audit``, also run after every bench factory run.

Records are read as the services read them (walkthrough-shaped ones upgraded and
counted). A record that cannot be read is handed to the audit with its origin, and so is
the origin of every dead letter, read last: an unreadable record that no dead letter
accounts for makes the audit inconclusive."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from widget_factory.compat import ReadUpgrades
from widget_factory.core.audit import Audit, AuditReport
from widget_factory.kafka_io.intake import routed_before
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

__all__ = ["audit_topics", "account_dead_letters"]

log = logging.getLogger("audit")

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
    """The report, and how many records were unreadable (those belong in dead letters).

    Records a service refused (dead-lettered although they decode: a key disagreeing with
    its value, a time years away, a conflicting duplicate) are not part of the run and
    are left out; their dead letters account for them."""
    connect_admin(settings)
    refused = routed_before(settings, None)
    audit = Audit(recipes)
    adders: dict[str, Callable[[Any], None]] = {
        COMPONENT_PRODUCTION: audit.add_component,
        WIDGET_ASSEMBLY: audit.add_widget,
        QUALITY_CONTROL: audit.add_check,
        INVENTORY_UPDATES: audit.add_update,
        MACHINE_TELEMETRY: audit.add_telemetry,
    }
    upgrades = ReadUpgrades(log)
    for topic, event_type in _TOPICS.items():
        add = adders[topic]
        for message in read_to_end(settings, [topic], client_id="audit"):
            value = message.value() or b""
            try:
                event = decode_as(value, event_type, topic=topic, upgrades=upgrades)
            except SchemaError as exc:
                audit.add_unreadable(
                    topic, message.partition() or 0, message.offset() or 0, str(exc)
                )
                continue
            if (topic, message.partition(), message.offset()) not in refused:
                add(event)
    account_dead_letters(settings, audit)
    report = audit.report()
    report.upgraded = upgrades.to_dict() if upgrades.records else {}
    return report, report.unreadable


def account_dead_letters(settings: KafkaSettings, audit: Audit) -> int:
    """Feed ``audit`` the origin of every dead letter of an audited topic (read after the
    topics themselves, so a record dead-lettered meanwhile is still matched); how many."""
    found = 0
    for topic, partition, offset in routed_before(settings, None):
        if topic in _TOPICS:
            audit.add_dead_letter(topic, partition, offset)
            found += 1
    return found
