"""The warehouse's tables: one per topic, one row per event, flat columns.

Each table's primary key is ``event_id`` (dead letters, which carry no envelope, are
keyed by their own topic position), so loading the same event twice keeps one row.
Every row also records where it was read (``kafka_partition``, ``kafka_offset``).
``flatten`` turns a decoded event into the row, as a dict in column order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from widget_factory.core.metric_records import Metric, decode_metric
from widget_factory.kafka_io.topics import (
    COMPONENT_PRODUCTION,
    FACTORY_ALERTS,
    FACTORY_COMMANDS,
    FACTORY_DEADLETTER,
    FACTORY_METRICS,
    INVENTORY_UPDATES,
    MACHINE_TELEMETRY,
    PRODUCTION_ORDERS,
    QUALITY_CONTROL,
    WIDGET_ASSEMBLY,
)
from widget_factory.schemas import (
    ComponentProduced,
    FactoryAlert,
    FactoryCommand,
    InventoryUpdate,
    MachineTelemetry,
    ProductionOrder,
    QualityCheck,
    WidgetAssembled,
    decode_as,
)

__all__ = ["Table", "TABLES", "TABLE_BY_TOPIC", "OFFSETS_TABLE", "create_tables"]

Row = dict[str, Any]


@dataclass(frozen=True)
class Table:
    name: str
    topic: str
    columns: tuple[tuple[str, str], ...]
    """(name, DuckDB type) in order; the first is the primary key."""
    parse: Callable[[bytes], Any]
    flatten: Callable[[Any], Row]
    accepts: type | None = None
    """The event type this table keeps, when its topic carries several (the answer key's
    ``factory-ground-truth``); None: every record of the topic."""

    @property
    def key(self) -> str:
        return self.columns[0][0]

    def ddl(self) -> str:
        columns = ", ".join(f"{name} {kind}" for name, kind in self.columns)
        return (
            f"CREATE TABLE IF NOT EXISTS {self.name} ({columns}, "
            "kafka_partition INTEGER, kafka_offset BIGINT, "
            f"PRIMARY KEY ({self.key}))"
        )

    def json_columns(self) -> str:
        """The ``columns=`` argument of ``read_json`` for this table's batch files."""
        pairs = [*self.columns, ("kafka_partition", "INTEGER"), ("kafka_offset", "BIGINT")]
        return "{" + ", ".join(f"'{name}': '{kind}'" for name, kind in pairs) + "}"


def _component(e: ComponentProduced) -> Row:
    q = e.quality_metrics
    return {
        "event_id": e.event_id,
        "component_id": e.component_id,
        "component_type": e.component_type,
        "machine_id": e.machine_id,
        "batch_id": e.batch_id,
        "produced_at": e.produced_at,
        "weight_grams": q.weight_grams,
        "length_mm": q.dimensions_mm.length,
        "width_mm": q.dimensions_mm.width,
        "height_mm": q.dimensions_mm.height,
        "temperature_celsius": q.temperature_celsius,
        "defect_count": q.defect_count,
        "production_line": e.production_line,
    }


def _widget(e: WidgetAssembled) -> Row:
    return {
        "event_id": e.event_id,
        "widget_id": e.widget_id,
        "widget_type": e.widget_type,
        "assembly_station_id": e.assembly_station_id,
        "component_ids": e.component_ids,
        "assembly_started_at": e.assembly_started_at,
        "assembly_completed_at": e.assembly_completed_at,
        "assembly_duration_seconds": e.assembly_duration_seconds,
        "worker_id": e.worker_id,
        "batch_id": e.batch_id,
        "order_id": e.order_id,
        "component_defects": e.component_defects,
    }


def _check(e: QualityCheck) -> Row:
    t = e.test_results
    return {
        "event_id": e.event_id,
        "check_id": e.check_id,
        "widget_id": e.widget_id,
        "widget_type": e.widget_type,
        "inspector_id": e.inspector_id,
        "checked_at": e.checked_at,
        "status": e.status.value,
        "electrical_test": t.electrical_test,
        "mechanical_test": t.mechanical_test,
        "visual_inspection": t.visual_inspection,
        "performance_score": t.performance_score,
        "defects_found": e.defects_found,
        "notes": e.notes,
    }


def _telemetry(e: MachineTelemetry) -> Row:
    m = e.metrics
    return {
        "event_id": e.event_id,
        "machine_id": e.machine_id,
        "machine_type": e.machine_type,
        "reported_at": e.timestamp,
        "status": e.status.value,
        "temperature_celsius": m.temperature_celsius,
        "vibration_level": m.vibration_level,
        "power_consumption_watts": m.power_consumption_watts,
        "cycle_count": m.cycle_count,
        "efficiency_percent": m.efficiency_percent,
        "building": e.location.building,
        "floor": e.location.floor,
        "line": e.location.line,
    }


def _inventory(e: InventoryUpdate) -> Row:
    return {
        "event_id": e.event_id,
        "item_type": e.item_type,
        "sku": e.sku,
        "item_id": e.item_id,
        "warehouse_location": e.warehouse_location,
        "quantity_change": e.quantity_change,
        "current_stock": e.current_stock,
        "updated_at": e.updated_at,
        "reason": e.reason,
        "batch_id": e.batch_id,
    }


def _order(e: ProductionOrder) -> Row:
    return {
        "event_id": e.event_id,
        "order_id": e.order_id,
        "widget_type": e.widget_type,
        "quantity": e.quantity,
        "priority": e.priority,
        "created_at": e.created_at,
    }


def _alert(e: FactoryAlert) -> Row:
    return {
        "event_id": e.event_id,
        "alert_id": e.alert_id,
        "severity": e.severity,
        "source_id": e.source_id,
        "message": e.message,
        "raised_at": e.raised_at,
        "kind": e.kind,
    }


def _command(e: FactoryCommand) -> Row:
    return {
        "event_id": e.event_id,
        "command": e.command,
        "target_id": e.target_id,
        "issued_at": e.issued_at,
        "args": e.args,
    }


def _metric(e: Metric) -> Row:
    return {
        "event_id": e.event_id,
        "metric": e.metric,
        "key": e.key,
        "window_start": e.window_start,
        "window_end": e.window_end,
        "metric_values": e.values,
    }


def _as(event_type: type) -> Callable[[bytes], Any]:
    return lambda value: decode_as(value, event_type)


def _parse_metric(value: bytes) -> Metric:
    return decode_metric(value)  # SchemaError for anything else


_V, _T, _D, _I, _B = "VARCHAR", "TIMESTAMPTZ", "DOUBLE", "BIGINT", "BOOLEAN"

TABLES: tuple[Table, ...] = (
    Table(
        "components",
        COMPONENT_PRODUCTION,
        (
            ("event_id", _V),
            ("component_id", _V),
            ("component_type", _V),
            ("machine_id", _V),
            ("batch_id", _V),
            ("produced_at", _T),
            ("weight_grams", _D),
            ("length_mm", _D),
            ("width_mm", _D),
            ("height_mm", _D),
            ("temperature_celsius", _D),
            ("defect_count", _I),
            ("production_line", _V),
        ),
        _as(ComponentProduced),
        _component,
    ),
    Table(
        "widgets",
        WIDGET_ASSEMBLY,
        (
            ("event_id", _V),
            ("widget_id", _V),
            ("widget_type", _V),
            ("assembly_station_id", _V),
            ("component_ids", "VARCHAR[]"),
            ("assembly_started_at", _T),
            ("assembly_completed_at", _T),
            ("assembly_duration_seconds", _D),
            ("worker_id", _V),
            ("batch_id", _V),
            ("order_id", _V),
            ("component_defects", _I),
        ),
        _as(WidgetAssembled),
        _widget,
    ),
    Table(
        "quality_checks",
        QUALITY_CONTROL,
        (
            ("event_id", _V),
            ("check_id", _V),
            ("widget_id", _V),
            ("widget_type", _V),
            ("inspector_id", _V),
            ("checked_at", _T),
            ("status", _V),
            ("electrical_test", _B),
            ("mechanical_test", _B),
            ("visual_inspection", _B),
            ("performance_score", _D),
            ("defects_found", "VARCHAR[]"),
            ("notes", _V),
        ),
        _as(QualityCheck),
        _check,
    ),
    Table(
        "telemetry",
        MACHINE_TELEMETRY,
        (
            ("event_id", _V),
            ("machine_id", _V),
            ("machine_type", _V),
            ("reported_at", _T),
            ("status", _V),
            ("temperature_celsius", _D),
            ("vibration_level", _D),
            ("power_consumption_watts", _D),
            ("cycle_count", _I),
            ("efficiency_percent", _D),
            ("building", _V),
            ("floor", _I),
            ("line", _V),
        ),
        _as(MachineTelemetry),
        _telemetry,
    ),
    Table(
        "inventory_updates",
        INVENTORY_UPDATES,
        (
            ("event_id", _V),
            ("item_type", _V),
            ("sku", _V),
            ("item_id", _V),
            ("warehouse_location", _V),
            ("quantity_change", _I),
            ("current_stock", _I),
            ("updated_at", _T),
            ("reason", _V),
            ("batch_id", _V),
        ),
        _as(InventoryUpdate),
        _inventory,
    ),
    Table(
        "production_orders",
        PRODUCTION_ORDERS,
        (
            ("event_id", _V),
            ("order_id", _V),
            ("widget_type", _V),
            ("quantity", _I),
            ("priority", _I),
            ("created_at", _T),
        ),
        _as(ProductionOrder),
        _order,
    ),
    Table(
        "factory_alerts",
        FACTORY_ALERTS,
        (
            ("event_id", _V),
            ("alert_id", _V),
            ("severity", _V),
            ("source_id", _V),
            ("message", _V),
            ("raised_at", _T),
            ("kind", _V),
        ),
        _as(FactoryAlert),
        _alert,
    ),
    Table(
        "factory_commands",
        FACTORY_COMMANDS,
        (
            ("event_id", _V),
            ("command", _V),
            ("target_id", _V),
            ("issued_at", _T),
            ("args", "JSON"),
        ),
        _as(FactoryCommand),
        _command,
    ),
    Table(
        "factory_metrics",
        FACTORY_METRICS,
        (
            ("event_id", _V),
            ("metric", _V),
            ("key", _V),
            ("window_start", _T),
            ("window_end", _T),
            ("metric_values", "JSON"),
        ),
        _parse_metric,
        _metric,
    ),
)
"""Every topic of the contract that carries events, and its table."""

DEADLETTER_DDL = (
    "CREATE TABLE IF NOT EXISTS deadletters (position VARCHAR PRIMARY KEY, "
    "source_topic VARCHAR, source_partition INTEGER, source_offset BIGINT, error VARCHAR, "
    "record_key BLOB, record_value BLOB, kafka_partition INTEGER, kafka_offset BIGINT)"
)
"""``factory-deadletter``: the original bytes and where they came from (no envelope to
key on, so the row key is the record's own position ``partition:offset``)."""

OFFSETS_TABLE = "sink_offsets"
OFFSETS_DDL = (
    f"CREATE TABLE IF NOT EXISTS {OFFSETS_TABLE} (topic VARCHAR, kafka_partition INTEGER, "
    "next_offset BIGINT, PRIMARY KEY (topic, kafka_partition))"
)
"""Where the sink resumes: updated in the same transaction as the rows it covers."""

TABLE_BY_TOPIC = {table.topic: table for table in TABLES}
DEADLETTER_TOPIC = FACTORY_DEADLETTER


def create_tables(con: Any) -> None:
    for table in TABLES:
        con.execute(table.ddl())
    con.execute(DEADLETTER_DDL)
    con.execute(OFFSETS_DDL)
