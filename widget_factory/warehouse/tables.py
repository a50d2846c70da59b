"""The warehouse's tables: one per topic, one row per event, flat columns.

Each table's primary key is ``event_id`` (dead letters, which carry no envelope, are
keyed by their own topic position), so loading the same event twice keeps one row.
Every row also records where it was read (``kafka_partition``, ``kafka_offset``).

A table's columns are declared once, compactly (:func:`columns`): name, DuckDB type and
the event attribute that fills it. ``flatten`` turns a decoded event into the row, as a
dict in column order, from that same declaration.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from operator import attrgetter
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

__all__ = [
    "Column",
    "columns",
    "Table",
    "TABLES",
    "TABLE_BY_TOPIC",
    "OFFSETS_TABLE",
    "create_tables",
]

Row = dict[str, Any]


TYPES = {
    "V": "VARCHAR",
    "T": "TIMESTAMPTZ",
    "D": "DOUBLE",
    "I": "BIGINT",
    "B": "BOOLEAN",
    "J": "JSON",
    "L": "VARCHAR[]",
}
"""The short forms a column declaration may use for DuckDB types."""


@dataclass(frozen=True)
class Column:
    """One column: its name, its DuckDB type and how it is read from an event."""

    name: str
    kind: str
    path: str
    """The event attribute holding the value, dotted for nested structs."""
    read: Callable[[Any], Any]
    """The value at ``path``, None where a part on the way is None."""


def _reader(path: str) -> Callable[[Any], Any]:
    """The value at ``path`` (``a.b.c``) of an event; None where a part on the way is None
    (an optional nested struct, such as a fault record's ``effects``)."""
    head, _, rest = path.partition(".")
    get = attrgetter(head)
    if not rest:
        return get
    inner = _reader(rest)

    def read(event: Any) -> Any:
        value = get(event)
        return None if value is None else inner(value)

    return read


def columns(declaration: str) -> tuple[Column, ...]:
    """Columns from a compact declaration, in order: white-space separated entries
    ``name[:TYPE][=path]``. TYPE is a key of :data:`TYPES` (VARCHAR when left out);
    ``path`` is the event attribute holding the value, dotted for nested structs (the
    column's own name when left out)."""
    declared = []
    for entry in declaration.split():
        entry, _, path = entry.partition("=")
        name, _, kind = entry.partition(":")
        path = path or name
        declared.append(Column(name, TYPES[kind or "V"], path, _reader(path)))
    return tuple(declared)


@dataclass(frozen=True)
class Table:
    name: str
    topic: str
    parse: Callable[[bytes], Any]
    declaration: str
    """The columns, as :func:`columns` reads them; the first is the primary key."""
    accepts: type | None = None
    """The event type this table keeps, when its topic carries several (the answer key's
    ``factory-ground-truth``); None: every record of the topic."""
    columns: tuple[Column, ...] = field(init=False, repr=False)
    _names: tuple[str, ...] = field(init=False, repr=False)
    _read_all: Callable[[Any], tuple[Any, ...]] = field(init=False, repr=False)
    """Every column's value in one call (``attrgetter`` of every path, in C)."""

    def __post_init__(self) -> None:
        declared = columns(self.declaration)
        object.__setattr__(self, "columns", declared)
        object.__setattr__(self, "_names", tuple(c.name for c in declared))
        object.__setattr__(self, "_read_all", attrgetter(*(c.path for c in declared)))

    @property
    def key(self) -> str:
        return self.columns[0].name

    def flatten(self, event: Any) -> Row:
        """The row of ``event``: column name -> value, in column order."""
        try:
            values = self._read_all(event)
        except AttributeError:  # an optional nested struct is None: its columns are too
            values = tuple(column.read(event) for column in self.columns)
        return dict(zip(self._names, values))  # noqa: B905 - equal by construction

    def ddl(self) -> str:
        columns = ", ".join(f"{c.name} {c.kind}" for c in self.columns)
        return (
            f"CREATE TABLE IF NOT EXISTS {self.name} ({columns}, "
            "kafka_partition INTEGER, kafka_offset BIGINT, "
            f"PRIMARY KEY ({self.key}))"
        )

    def create(self, con: Any) -> None:
        """Create the table; one made by an earlier release gains the columns declared
        since (null in its old rows; rows are inserted by column name)."""
        con.execute(self.ddl())
        have = {
            name
            for (name,) in con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_name = ?",
                [self.name],
            ).fetchall()
        }
        for column in self.columns:
            if column.name not in have:
                con.execute(f"ALTER TABLE {self.name} ADD COLUMN {column.name} {column.kind}")

    def json_columns(self) -> str:
        """The ``columns=`` argument of ``read_json`` for this table's batch files."""
        pairs = [(c.name, c.kind) for c in self.columns]
        pairs += [("kafka_partition", "INTEGER"), ("kafka_offset", "BIGINT")]
        return "{" + ", ".join(f"'{name}': '{kind}'" for name, kind in pairs) + "}"


def _as(event_type: type) -> Callable[[bytes], Any]:
    return lambda value: decode_as(value, event_type)


def _parse_metric(value: bytes) -> Metric:
    return decode_metric(value)  # SchemaError for anything else


TABLES: tuple[Table, ...] = (
    Table(
        "components",
        COMPONENT_PRODUCTION,
        _as(ComponentProduced),
        "event_id component_id component_type machine_id batch_id produced_at:T"
        " weight_grams:D=quality_metrics.weight_grams"
        " length_mm:D=quality_metrics.dimensions_mm.length"
        " width_mm:D=quality_metrics.dimensions_mm.width"
        " height_mm:D=quality_metrics.dimensions_mm.height"
        " temperature_celsius:D=quality_metrics.temperature_celsius"
        " defect_count:I=quality_metrics.defect_count production_line",
    ),
    Table(
        "widgets",
        WIDGET_ASSEMBLY,
        _as(WidgetAssembled),
        "event_id widget_id widget_type assembly_station_id component_ids:L"
        " assembly_started_at:T assembly_completed_at:T assembly_duration_seconds:D"
        " worker_id batch_id order_id component_defects:I",
    ),
    Table(
        "quality_checks",
        QUALITY_CONTROL,
        _as(QualityCheck),
        "event_id check_id widget_id widget_type inspector_id checked_at:T status=status.value"
        " electrical_test:B=test_results.electrical_test"
        " mechanical_test:B=test_results.mechanical_test"
        " visual_inspection:B=test_results.visual_inspection"
        " performance_score:D=test_results.performance_score defects_found:L notes",
    ),
    Table(
        "telemetry",
        MACHINE_TELEMETRY,
        _as(MachineTelemetry),
        "event_id machine_id machine_type reported_at:T=timestamp status=status.value"
        " temperature_celsius:D=metrics.temperature_celsius"
        " vibration_level:D=metrics.vibration_level"
        " power_consumption_watts:D=metrics.power_consumption_watts"
        " cycle_count:I=metrics.cycle_count efficiency_percent:D=metrics.efficiency_percent"
        " building=location.building floor:I=location.floor line=location.line",
    ),
    Table(
        "inventory_updates",
        INVENTORY_UPDATES,
        _as(InventoryUpdate),
        "event_id item_type sku item_id warehouse_location quantity_change:I current_stock:I"
        " updated_at:T reason batch_id",
    ),
    Table(
        "production_orders",
        PRODUCTION_ORDERS,
        _as(ProductionOrder),
        "event_id order_id widget_type quantity:I priority:I created_at:T",
    ),
    Table(
        "factory_alerts",
        FACTORY_ALERTS,
        _as(FactoryAlert),
        "event_id alert_id severity source_id message raised_at:T kind",
    ),
    Table(
        "factory_commands",
        FACTORY_COMMANDS,
        _as(FactoryCommand),
        "event_id command target_id issued_at:T args:J",
    ),
    Table(
        "factory_metrics",
        FACTORY_METRICS,
        _parse_metric,
        "event_id metric key window_start:T window_end:T metric_values:J=values",
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
        table.create(con)
    con.execute(DEADLETTER_DDL)
    con.execute(OFFSETS_DDL)
