"""The factory's topics (docs/contract.md's table) and the admin calls that create them.

Creation is idempotent: an existing topic is reported, not an error. Reaching the
cluster is checked first, so an absent broker fails in seconds with one line naming the
address, instead of a hang.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, ClusterMetadata, NewTopic

from widget_factory.errors import BrokerUnavailable, ConfigError
from widget_factory.kafka_io.settings import KafkaSettings

__all__ = [
    "COMPONENT_PRODUCTION",
    "WIDGET_ASSEMBLY",
    "QUALITY_CONTROL",
    "MACHINE_TELEMETRY",
    "INVENTORY_UPDATES",
    "PRODUCTION_ORDERS",
    "FACTORY_ALERTS",
    "FACTORY_COMMANDS",
    "FACTORY_METRICS",
    "FACTORY_DEADLETTER",
    "FACTORY_GROUND_TRUTH",
    "ASSEMBLY_CHANGELOG",
    "ASSEMBLY_HANDOFFS",
    "TopicSpec",
    "TOPICS",
    "TopicOutcome",
    "connect_admin",
    "create_topics",
    "unreachable_message",
]

log = logging.getLogger(__name__)

COMPONENT_PRODUCTION = "component-production"
WIDGET_ASSEMBLY = "widget-assembly"
QUALITY_CONTROL = "quality-control"
MACHINE_TELEMETRY = "machine-telemetry"
INVENTORY_UPDATES = "inventory-updates"
PRODUCTION_ORDERS = "production-orders"
FACTORY_ALERTS = "factory-alerts"
FACTORY_COMMANDS = "factory-commands"
FACTORY_METRICS = "factory-metrics"
FACTORY_DEADLETTER = "factory-deadletter"
FACTORY_GROUND_TRUTH = "factory-ground-truth"
ASSEMBLY_CHANGELOG = "assembly-stations-changelog"
ASSEMBLY_HANDOFFS = "assembly-handoffs"

_DAY_MS = 24 * 60 * 60 * 1000


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    retention_ms: int
    key: str
    value: str
    internal: bool = False


TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec(COMPONENT_PRODUCTION, 6, 7 * _DAY_MS, "component_id", "ComponentProduced"),
    TopicSpec(WIDGET_ASSEMBLY, 3, 7 * _DAY_MS, "widget_id", "WidgetAssembled"),
    TopicSpec(QUALITY_CONTROL, 3, 7 * _DAY_MS, "widget_id", "QualityCheck"),
    TopicSpec(MACHINE_TELEMETRY, 12, 1 * _DAY_MS, "machine_id", "MachineTelemetry"),
    TopicSpec(INVENTORY_UPDATES, 6, 30 * _DAY_MS, "sku", "InventoryUpdate"),
    TopicSpec(PRODUCTION_ORDERS, 3, 7 * _DAY_MS, "order_id", "ProductionOrder"),
    TopicSpec(FACTORY_ALERTS, 1, 3 * _DAY_MS, "source id", "FactoryAlert"),
    TopicSpec(FACTORY_COMMANDS, 1, 7 * _DAY_MS, "target id", "FactoryCommand"),
    TopicSpec(FACTORY_METRICS, 3, 7 * _DAY_MS, "metric name", "windowed aggregates"),
    TopicSpec(FACTORY_DEADLETTER, 1, 30 * _DAY_MS, "original key", "original bytes"),
    # The answer key: every fault the simulation causes, begin and end (docs/contract.md).
    TopicSpec(FACTORY_GROUND_TRUTH, 3, 30 * _DAY_MS, "target id", "FaultTruth"),
    # Internal: the assembly stations' write-ahead log (their stock survives a crash).
    TopicSpec(ASSEMBLY_CHANGELOG, 1, 30 * _DAY_MS, "station id", "station state changes", True),
    # Internal: scaled-out assembly processes forward components and orders that belong
    # to another process's station (docs/scaling.md); one partition per station.
    TopicSpec(ASSEMBLY_HANDOFFS, 6, 7 * _DAY_MS, "station id", "forwarded records", True),
)
"""Every topic ``setup`` creates, with the contract's partitions and retention."""


TopicOutcome = tuple[str, Literal["created", "exists", "failed"], str]


def unreachable_message(settings: KafkaSettings, timeout: float) -> str:
    if settings.source == "default":
        hint = (
            "start one with `widget-factory broker` in another terminal, run the whole "
            "factory with `widget-factory run`, or pass --bootstrap-servers HOST:PORT"
        )
    else:
        hint = (
            "check the address and that the broker is running (`widget-factory broker`, "
            "or `docker compose up -d kafka`)"
        )
    return (
        f"No available brokers: no Kafka broker answered at {settings.bootstrap_servers} "
        f"within {timeout:.0f} s; {hint}"
    )


def _all_refused(bootstrap: str) -> bool:
    """True when every bootstrap address actively refuses TCP: fail at once, not in 10 s."""
    for server in bootstrap.split(","):
        server = server.strip().split("://")[-1]
        host, _, port = server.rpartition(":")
        try:
            with socket.create_connection((host.strip("[]") or "localhost", int(port)), timeout=2):
                return False
        except ConnectionRefusedError:
            continue
        except (OSError, ValueError):
            return False
    return True


def connect_admin(
    settings: KafkaSettings, timeout: float = 10.0
) -> tuple[AdminClient, ClusterMetadata]:
    """An admin client and the cluster's metadata, or :class:`BrokerUnavailable` within ``timeout``."""
    if _all_refused(settings.bootstrap_servers):
        raise BrokerUnavailable(unreachable_message(settings, 0).replace(" within 0 s", ""))
    admin = AdminClient(settings.admin_config())
    try:
        metadata = admin.list_topics(timeout=timeout)
    except KafkaException as exc:
        log.debug("metadata request failed: %s", exc)
        raise BrokerUnavailable(unreachable_message(settings, timeout)) from None
    return admin, metadata


def create_topics(
    settings: KafkaSettings,
    *,
    partitions: int | None = None,
    replication_factor: int = 1,
    topics: Iterable[TopicSpec] = TOPICS,
    timeout: float = 10.0,
) -> list[TopicOutcome]:
    """Create ``topics`` that do not exist yet; report each as created, exists or failed.

    ``partitions`` overrides every topic's count (the contract's table otherwise).
    """
    if partitions is not None and partitions < 1:
        raise ConfigError(f"--partitions {partitions}: a topic needs at least 1 partition")
    if replication_factor < 1:
        raise ConfigError(f"--replication-factor {replication_factor}: must be at least 1")
    admin, metadata = connect_admin(settings, timeout)
    brokers = len(metadata.brokers)
    if replication_factor > brokers:
        raise ConfigError(
            f"--replication-factor {replication_factor} is larger than the cluster at "
            f"{settings.bootstrap_servers}, which has {brokers} broker{'s' if brokers != 1 else ''}"
        )
    specs: Sequence[TopicSpec] = list(topics)
    outcomes: dict[str, TopicOutcome] = {}
    wanted: list[NewTopic] = []
    for spec in specs:
        count = partitions or spec.partitions
        existing = metadata.topics.get(spec.name)
        if existing is not None and existing.error is None:
            have = len(existing.partitions)
            note = _partitions(have) + ("" if have == count else f" (wanted {count})")
            outcomes[spec.name] = (spec.name, "exists", note)
            continue
        wanted.append(
            NewTopic(
                spec.name,
                num_partitions=count,
                replication_factor=replication_factor,
                config={"retention.ms": str(spec.retention_ms), "cleanup.policy": "delete"},
            )
        )
    if wanted:
        futures = admin.create_topics(wanted, operation_timeout=timeout, request_timeout=timeout)
        for new in wanted:
            try:
                futures[new.topic].result(timeout)
                outcomes[new.topic] = (new.topic, "created", _partitions(new.num_partitions))
            except KafkaException as exc:
                error = exc.args[0]
                if (
                    isinstance(error, KafkaError)
                    and error.code() == KafkaError.TOPIC_ALREADY_EXISTS
                ):
                    outcomes[new.topic] = (new.topic, "exists", "created concurrently")
                else:
                    outcomes[new.topic] = (new.topic, "failed", str(error))
    return [outcomes[spec.name] for spec in specs]


def _partitions(count: int) -> str:
    return f"{count} partition{'s' if count != 1 else ''}"
