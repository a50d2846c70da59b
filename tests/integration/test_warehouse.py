"""The DuckDB sink and the report on a real broker and a drained factory."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import run_cli, run_drained
from widget_factory.kafka_io.broker import EmbeddedBroker
from widget_factory.kafka_io.client import EventProducer
from widget_factory.kafka_io.reader import read_to_end
from widget_factory.kafka_io.settings import KafkaSettings
from widget_factory.kafka_io.topics import FACTORY_GROUND_TRUTH, WIDGET_ASSEMBLY
from widget_factory.schemas import (
    FaultTruth,
    InfluenceTruth,
    OeeTruth,
    WidgetAssembled,
    decode,
    decode_as,
)
from widget_factory.warehouse.charts import CHARTS
from widget_factory.warehouse.sink import connect
from widget_factory.warehouse.tables import TABLES

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def factory() -> Iterator[KafkaSettings]:
    """Three simulated hours, drained, with the analytics service's metrics."""
    with EmbeddedBroker() as broker:
        run_drained(broker.bootstrap_servers, seed=11, extra=("--no-dashboard",))
        yield KafkaSettings(broker.bootstrap_servers, source="flag")


def _sink(settings: KafkaSettings, db: Path) -> str:
    result = run_cli(
        "sink", "--db", str(db), "--until-idle", "--bootstrap-servers", settings.bootstrap_servers
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stderr


def _rows(db: Path) -> dict[str, int]:
    con = connect(db, read_only=True)
    try:
        return {
            t.name: int(con.execute(f"SELECT count(*) FROM {t.name}").fetchone()[0]) for t in TABLES
        }
    finally:
        con.close()


def test_sink_loads_every_topic_once_per_event_and_resumes(
    factory: KafkaSettings, tmp_path: Path
) -> None:
    db = tmp_path / "factory.duckdb"
    _sink(factory, db)
    rows = _rows(db)
    for table in TABLES:
        on_topic = sum(1 for _ in read_to_end(factory, [table.topic]))
        assert rows[table.name] == on_topic, table.name
    assert rows["components"] > 100 and rows["factory_metrics"] > 100

    # again: resumes at the stored offsets, nothing new
    assert "0 rows loaded" in _sink(factory, db)
    assert _rows(db) == rows

    # a duplicate on the wire (same event_id, new offset) stays one row
    widget = decode_as(next(iter(read_to_end(factory, [WIDGET_ASSEMBLY]))).value(), WidgetAssembled)
    producer = EventProducer(factory, client_id="test")
    producer.send(WIDGET_ASSEMBLY, widget)
    assert producer.flush(10) == 0
    log = _sink(factory, db)
    assert "0 rows loaded" in log and "1 duplicates ignored" in log
    assert _rows(db) == rows

    # and a fresh database from the beginning has the same rows
    other = tmp_path / "other.duckdb"
    _sink(factory, other)
    assert _rows(other) == rows


def test_sink_loads_the_answer_key_once_per_event(factory: KafkaSettings, tmp_path: Path) -> None:
    by_type: dict[type, dict[str, FaultTruth | OeeTruth | InfluenceTruth]] = {
        FaultTruth: {},
        OeeTruth: {},
        InfluenceTruth: {},
    }
    for message in read_to_end(factory, [FACTORY_GROUND_TRUTH]):
        event = decode(message.value())
        assert isinstance(event, FaultTruth | OeeTruth | InfluenceTruth)
        by_type[type(event)][event.event_id] = event
    faults, oee = by_type[FaultTruth], by_type[OeeTruth]
    assert faults and oee
    db = tmp_path / "factory.duckdb"
    _sink(factory, db)
    con = connect(db, read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM fault_truth").fetchone()[0] == len(faults)
        assert con.execute("SELECT count(*) FROM oee_truth").fetchone()[0] == len(oee)
        influence = by_type[InfluenceTruth]
        assert con.execute("SELECT count(*) FROM influence_truth").fetchone()[0] == len(influence)
        # every fault that ended is one begin and one end row under its fault_id
        pairs = con.execute(
            "SELECT fault_id, count(*) FILTER (phase = 'begin'), count(*) FILTER (phase = 'end'), "
            "max(ended_at) - min(started_at) FROM fault_truth GROUP BY fault_id"
        ).fetchall()
        ends = [e for e in faults.values() if e.phase == "end"]
        assert len(pairs) == len({e.fault_id for e in faults.values()})
        assert sum(end for _, _, end, _ in pairs) == len(ends)
        some_end = ends[0]
        row = con.execute(
            "SELECT target_id, kind, cause, ended_at, units_not_made FROM fault_truth "
            "WHERE event_id = ?",
            [some_end.event_id],
        ).fetchone()
        assert row[:4] == (some_end.target_id, some_end.kind, some_end.cause, some_end.ended_at)
        assert row[4] == (some_end.effects.units_not_made if some_end.effects else None)
        # the true OEE of each machine and minute, as published
        some = next(iter(oee.values()))
        got = con.execute(
            "SELECT machine_id, window_start, made, good, oee FROM oee_truth WHERE event_id = ?",
            [some.event_id],
        ).fetchone()
        assert got == (some.target_id, some.window_start, some.made, some.good, some.oee)
        # stations' windows too, told apart by target_type (a machine's record has none)
        kinds = dict(
            con.execute("SELECT target_type, count(*) FROM oee_truth GROUP BY ALL").fetchall()
        )
        assert kinds == dict(Counter(r.target_kind for r in oee.values()))
        assert kinds["station"] > 0
        station = next(r for r in oee.values() if r.target_kind == "station")
        got = con.execute(
            "SELECT machine_id, idle_s, starved_s FROM oee_truth WHERE event_id = ?",
            [station.event_id],
        ).fetchone()
        assert got == (station.target_id, station.idle_s, station.starved_s)
    finally:
        con.close()
    # a duplicate on the wire stays one row
    producer = EventProducer(factory, client_id="test-truth")
    producer.send(FACTORY_GROUND_TRUTH, some_end)
    assert producer.flush(10) == 0
    log = _sink(factory, db)
    assert "0 rows loaded" in log and "1 duplicates ignored" in log


def test_report_prints_the_walkthrough_analytics_and_writes_charts(
    factory: KafkaSettings, tmp_path: Path
) -> None:
    db = tmp_path / "factory.duckdb"
    _sink(factory, db)
    out = tmp_path / "charts"
    result = run_cli("report", "--db", str(db), "--out", str(out))
    assert result.returncode == 0, result.stderr[-2000:]
    text = result.stdout
    for title in (
        "Assembly time by widget type",
        "Machine efficiency",
        "Quality pass rate by widget type",
        "Quality pass rate over time",
        "Stock levels",
    ):
        assert title in text
    # the average assembly time of each type, as computed from the topic itself
    widgets = {}
    for message in read_to_end(factory, [WIDGET_ASSEMBLY]):
        widget = decode_as(message.value(), WidgetAssembled)
        widgets[widget.event_id] = widget  # one per event, as the warehouse keeps them
    durations: dict[str, list[float]] = {}
    for widget in widgets.values():
        durations.setdefault(widget.widget_type, []).append(widget.assembly_duration_seconds)
    for widget_type, values in durations.items():
        line = next(row for row in text.splitlines() if f" {widget_type} " in row)
        cells = [c.strip() for c in line.strip("│ ").split("│")]
        assert cells[1] == str(len(values))
        assert float(cells[2]) == pytest.approx(sum(values) / len(values), abs=0.051)
    for name in CHARTS:
        png = out / name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        assert png.stat().st_size > 10_000, name


def test_bad_warehouse_input_is_one_line_and_status_2(tmp_path: Path, kafka: KafkaSettings) -> None:
    missing = run_cli("report", "--db", str(tmp_path / "none.duckdb"))
    assert missing.returncode == 2 and "no such database" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
    nowhere = run_cli(
        "sink",
        "--db",
        str(tmp_path / "no" / "such" / "f.duckdb"),
        "--bootstrap-servers",
        kafka.bootstrap_servers,
    )
    assert nowhere.returncode == 2 and "does not exist" in nowhere.stderr
    assert len(nowhere.stderr.strip().splitlines()) == 1
    junk = tmp_path / "junk.duckdb"
    junk.write_text("not a database")
    bad = run_cli("report", "--db", str(junk))
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
