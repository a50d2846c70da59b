"""``widget-factory sink``: every topic into DuckDB tables, exactly once per event.

Rows are keyed by ``event_id`` (``INSERT OR IGNORE``), so a duplicate on the wire or a
batch loaded twice is one row. Where to resume is kept in the database itself
(``sink_offsets``), written in the same transaction as the rows it covers: a crash
between the two is impossible, and the sink needs no consumer group. Batches go
through a newline-delimited JSON file and DuckDB's ``read_json`` (row-by-row inserts
are ~1,000x slower).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec
from confluent_kafka import Message

from widget_factory.errors import UsageError
from widget_factory.kafka_io.client import BrokerHealth
from widget_factory.kafka_io.follower import TopicFollower
from widget_factory.kafka_io.settings import KafkaSettings
from widget_factory.processes.lifecycle import Lifecycle
from widget_factory.schemas import SchemaError
from widget_factory.warehouse.tables import (
    DEADLETTER_TOPIC,
    OFFSETS_TABLE,
    TABLES,
    Table,
    create_tables,
)
from widget_factory.warehouse.truth_tables import TRUTH_TABLES

__all__ = ["ALL_TABLES", "SinkOptions", "WarehouseSink", "connect"]

log = logging.getLogger("sink")

_encoder = msgspec.json.Encoder()

ALL_TABLES: tuple[Table, ...] = TABLES + TRUTH_TABLES
"""Every table the sink fills: one per event topic, and the answer key's two."""

_BY_TOPIC: dict[str, tuple[Table, ...]] = {}
for _table in ALL_TABLES:
    _BY_TOPIC[_table.topic] = (*_BY_TOPIC.get(_table.topic, ()), _table)


def _route(topic: str, value: bytes) -> tuple[Table, dict[str, Any]] | None:
    """The table a record goes to and its row; None for a topic without tables.
    A :class:`SchemaError` for a record no table of its topic reads."""
    tables = _BY_TOPIC.get(topic)
    if not tables:
        return None
    event = tables[0].parse(value)  # tables of one topic share its parser
    for table in tables:
        if table.accepts is None or isinstance(event, table.accepts):
            return table, table.flatten(event)
    raise SchemaError(f"no table keeps {type(event).__name__} records of {topic}")


def connect(path: str | Path, *, read_only: bool = False) -> Any:
    """A DuckDB connection in UTC, or a :class:`UsageError` naming the problem."""
    import duckdb

    try:
        con = duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as exc:
        text = str(exc)
        if "lock" in text.lower():
            raise UsageError(
                f"{path} is in use by another process (a sink still running?); stop it "
                "or use --until-idle"
            ) from None
        raise UsageError(f"{path}: cannot open it as a DuckDB database ({text})") from None
    except duckdb.Error as exc:
        raise UsageError(f"{path}: cannot open it as a DuckDB database ({exc})") from None
    con.execute("SET TimeZone = 'UTC'")
    return con


@dataclass(frozen=True)
class SinkOptions:
    settings: KafkaSettings
    db: Path
    until_idle: bool = False
    idle_s: float = 1.0
    batch_s: float = 0.5
    batch_max: int = 50_000


class WarehouseSink:
    def __init__(self, options: SinkOptions, lifecycle: Lifecycle | None = None) -> None:
        self.options = options
        self.lifecycle = lifecycle or Lifecycle()
        self.con = connect(options.db)
        create_tables(self.con)
        for table in TRUTH_TABLES:
            table.create(self.con)
        self.loaded = 0
        self.duplicates = 0
        self.unreadable = 0
        self._tmp = Path(tempfile.mkdtemp(prefix="widget-factory-sink-"))

    @property
    def topics(self) -> list[str]:
        return [*_BY_TOPIC, DEADLETTER_TOPIC]

    def resume_offsets(self) -> dict[tuple[str, int], int]:
        rows = self.con.execute(
            f"SELECT topic, kafka_partition, next_offset FROM {OFFSETS_TABLE}"
        ).fetchall()
        return {(str(t), int(p)): int(o) for t, p, o in rows}

    # --- one batch ---------------------------------------------------------------------

    def load(self, messages: Sequence[Message]) -> int:
        """Write a batch and the offsets after it in one transaction; rows added."""
        rows: dict[str, dict[str, dict[str, Any]]] = {}
        dead: list[tuple[Any, ...]] = []
        offsets: dict[tuple[str, int], int] = {}
        for message in messages:
            topic = str(message.topic())
            partition, offset = int(message.partition() or 0), int(message.offset() or 0)
            offsets[(topic, partition)] = offset + 1
            if topic == DEADLETTER_TOPIC:
                dead.append(_dead_letter_row(message, partition, offset))
                continue
            try:
                routed = _route(topic, message.value() or b"")
            except SchemaError:
                self.unreadable += 1
                continue
            if routed is None:
                continue
            table, row = routed
            row["kafka_partition"] = partition
            row["kafka_offset"] = offset
            bucket = rows.setdefault(table.name, {})
            if row[table.key] in bucket:
                self.duplicates += 1
            else:
                bucket[row[table.key]] = row
        added = 0
        self.con.execute("BEGIN TRANSACTION")
        try:
            for table in ALL_TABLES:
                batch = rows.get(table.name)
                if batch:
                    added += self._insert(table, list(batch.values()))
            if dead:
                self.con.executemany(
                    "INSERT OR IGNORE INTO deadletters VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", dead
                )
            if offsets:
                values = ", ".join(f"('{t}', {p}, {o})" for (t, p), o in sorted(offsets.items()))
                self.con.execute(f"INSERT OR REPLACE INTO {OFFSETS_TABLE} VALUES {values}")
            self.con.execute("COMMIT")
        except Exception:
            self.con.execute("ROLLBACK")
            raise
        candidates = sum(len(batch) for batch in rows.values())
        self.duplicates += candidates - added
        self.loaded += added
        return added

    def _insert(self, table: Table, rows: list[dict[str, Any]]) -> int:
        path = self._tmp / f"{table.name}.ndjson"
        with path.open("wb") as out:
            for row in rows:
                out.write(_encoder.encode(row))
                out.write(b"\n")
        result = self.con.execute(
            f"INSERT OR IGNORE INTO {table.name} BY NAME SELECT * FROM read_json(?, "
            f"format = 'newline_delimited', columns = {table.json_columns()})",
            [str(path)],
        ).fetchone()
        return int(result[0]) if result else 0

    # --- the loop ----------------------------------------------------------------------

    def run(self) -> int:
        o = self.options
        log.info(
            "Loading every topic from %s into %s%s",
            o.settings.describe(),
            o.db,
            "; stops once caught up" if o.until_idle else "",
        )
        health = BrokerHealth.watching("sink", o.settings)
        follower = TopicFollower(
            o.settings,
            self.topics,
            client_id="sink",
            health=health,
            start_offsets=self.resume_offsets(),
        )
        pending: list[Message] = []
        last_load = last_log = time.monotonic()
        try:
            while self.lifecycle.running and not health.cluster_replaced:
                pending.extend(follower.poll(10_000, 0.2))
                now = time.monotonic()
                if pending and (len(pending) >= o.batch_max or now - last_load >= o.batch_s):
                    self.load(pending)
                    pending = []
                    last_load = now
                if now - last_log >= 10.0:
                    last_log = now
                    self._summary()
                if (
                    (o.until_idle or self.lifecycle.draining)
                    and not pending
                    and self._idle(follower)
                ):
                    break
            if pending:
                self.load(pending)
            health.check()  # records read from a replaced cluster are loaded, then it stops
        finally:
            follower.consumer.close()
            self._summary(final=True)
            self.close()
        return 0

    def _idle(self, follower: TopicFollower) -> bool:
        assigned = [t for t in self.topics if follower.assigned(t)]
        return bool(assigned) and all(follower.quiet(t, self.options.idle_s) for t in assigned)

    def _summary(self, final: bool = False) -> None:
        counts = {
            table.name: int(self.con.execute(f"SELECT count(*) FROM {table.name}").fetchone()[0])
            for table in ALL_TABLES
        }
        log.info(
            "Sink%s: %d rows loaded this run (%d duplicates ignored%s); tables: %s",
            " stopped" if final else "",
            self.loaded,
            self.duplicates,
            f", {self.unreadable} unreadable records skipped" if self.unreadable else "",
            ", ".join(f"{name} {n}" for name, n in counts.items()),
        )

    def close(self) -> None:
        try:
            self.con.close()
        finally:
            shutil.rmtree(self._tmp, ignore_errors=True)


def _dead_letter_row(message: Message, partition: int, offset: int) -> tuple[Any, ...]:
    headers = {str(k): v for k, v in (message.headers() or [])}

    def text(name: str) -> str | None:
        value = headers.get(name)
        return value.decode(errors="replace") if isinstance(value, bytes) else None

    def number(name: str) -> int | None:
        value = text(name)
        try:
            return int(value) if value is not None else None
        except ValueError:
            return None

    return (
        f"{partition}:{offset}",
        text("source.topic"),
        number("source.partition"),
        number("source.offset"),
        text("error"),
        message.key(),
        message.value(),
        partition,
        offset,
    )


def database_path(text: str) -> Path:
    path = Path(os.path.expanduser(text))
    if path.is_dir():
        raise UsageError(f"--db {text}: is a folder; give a file name such as factory.duckdb")
    if not path.parent.exists():
        raise UsageError(f"--db {text}: the folder {path.parent} does not exist")
    return path
