"""``widget-factory report``: the walkthrough's performance analytics from the warehouse.

Average assembly times by widget type, machine efficiency (status time, OEE), quality
pass rates (by type, by defect, over time), orders and stock levels, printed as tables;
with ``--out DIR``, PNG charts too (see ``charts``). Everything is computed over the
whole history the database holds, in simulated time.

Machine time in each status: each telemetry report's status holds until that machine's
next report, at most 4 report intervals (as in the analytics service). OEE as there:
availability = running / (observed - shutdown - idle), performance = nominal time of what was
made / running (at most 1), quality = good / made.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TextIO

from rich.console import Console
from rich.table import Table as RichTable

from widget_factory.factory_config import FactoryConfig

__all__ = ["Report", "build_report", "print_report", "EmptyWarehouse"]


class EmptyWarehouse(Exception):
    """The database holds no factory events yet."""


@dataclass
class Section:
    title: str
    columns: list[str]
    rows: list[tuple[Any, ...]]
    note: str = ""


@dataclass
class Report:
    span: tuple[Any, Any]
    counts: dict[str, int]
    sections: list[Section] = field(default_factory=list)

    def section(self, title: str) -> Section:
        return next(s for s in self.sections if s.title == title)


def _status_intervals_sql(max_gap_s: float) -> str:
    """One row per telemetry report: its machine, status and the seconds it holds."""
    return f"""
        SELECT machine_id, status, reported_at,
               least(coalesce(epoch(lead(reported_at) OVER w) - epoch(reported_at), 0),
                     {max_gap_s}) AS held_s
        FROM telemetry
        WINDOW w AS (PARTITION BY machine_id ORDER BY reported_at)
    """


def build_report(con: Any, config: FactoryConfig) -> Report:
    counts = {
        name: int(con.execute(f"SELECT count(*) FROM {name}").fetchone()[0])
        for name in (
            "components",
            "widgets",
            "quality_checks",
            "telemetry",
            "inventory_updates",
            "production_orders",
            "factory_alerts",
            "factory_metrics",
        )
    }
    if not any(counts[n] for n in ("components", "widgets", "telemetry")):
        raise EmptyWarehouse
    span = con.execute(
        """SELECT min(t), max(t) FROM (
             SELECT produced_at AS t FROM components UNION ALL
             SELECT reported_at FROM telemetry UNION ALL
             SELECT assembly_completed_at FROM widgets)"""
    ).fetchone()
    report = Report(span=(span[0], span[1]), counts=counts)
    add = report.sections.append

    add(
        Section(
            "Assembly time by widget type",
            ["widget type", "widgets", "average s", "p95 s", "min s", "max s"],
            con.execute(
                """SELECT widget_type, count(*), round(avg(assembly_duration_seconds), 1),
                          round(quantile_disc(assembly_duration_seconds, 0.95), 1),
                          round(min(assembly_duration_seconds), 1),
                          round(max(assembly_duration_seconds), 1)
                   FROM widgets GROUP BY widget_type ORDER BY widget_type"""
            ).fetchall(),
            "p95: nearest rank",
        )
    )

    nominal = [(m.id, sum(m.cycle_time_s) / 2) for m in config.machines]
    con.execute("CREATE OR REPLACE TEMP TABLE nominal_cycle (machine_id VARCHAR, nominal_s DOUBLE)")
    if nominal:
        con.executemany("INSERT INTO nominal_cycle VALUES (?, ?)", nominal)
    assembly = [(name, w.assembly_time_s) for name, w in config.widget_types.items()]
    con.execute(
        "CREATE OR REPLACE TEMP TABLE nominal_assembly (widget_type VARCHAR, nominal_s DOUBLE)"
    )
    if assembly:
        con.executemany("INSERT INTO nominal_assembly VALUES (?, ?)", assembly)
    max_gap = 4 * config.simulation.telemetry_interval_s
    add(
        Section(
            "Machine efficiency",
            [
                "machine",
                "run %",
                "idle %",
                "error %",
                "maint %",
                "off %",
                "eff %",
                "made",
                "avail",
                "perf",
                "quality",
                "OEE",
            ],
            con.execute(
                f"""
                WITH held AS ({_status_intervals_sql(max_gap)}),
                time_by AS (
                  SELECT machine_id, sum(held_s) AS observed,
                    sum(held_s) FILTER (status = 'running') AS running,
                    sum(held_s) FILTER (status = 'idle') AS idle,
                    sum(held_s) FILTER (status = 'error') AS error,
                    sum(held_s) FILTER (status = 'maintenance') AS maint,
                    sum(held_s) FILTER (status = 'shutdown') AS shutdown
                  FROM held GROUP BY machine_id),
                eff AS (SELECT machine_id, avg(efficiency_percent) AS efficiency
                        FROM telemetry WHERE status = 'running' GROUP BY machine_id),
                made AS (
                  SELECT c.machine_id AS id, count(*) AS made,
                         count(*) FILTER (defect_count = 0) AS good,
                         sum(n.nominal_s) AS nominal
                  FROM components c LEFT JOIN nominal_cycle n USING (machine_id)
                  GROUP BY c.machine_id
                  UNION ALL
                  SELECT w.assembly_station_id, count(*),
                         count(*) FILTER (q.status = 'pass'), sum(a.nominal_s)
                  FROM widgets w LEFT JOIN nominal_assembly a USING (widget_type)
                  LEFT JOIN (SELECT DISTINCT ON (widget_id) widget_id, status
                             FROM quality_checks) q USING (widget_id)
                  GROUP BY w.assembly_station_id),
                joined AS (
                  SELECT t.machine_id, t.observed, coalesce(t.running, 0) AS running,
                    coalesce(t.idle, 0) AS idle, coalesce(t.error, 0) AS error,
                    coalesce(t.maint, 0) AS maint, coalesce(t.shutdown, 0) AS shutdown,
                    e.efficiency, coalesce(m.made, 0) AS made, m.good, m.nominal
                  FROM time_by t LEFT JOIN eff e USING (machine_id)
                  LEFT JOIN made m ON m.id = t.machine_id),
                factors AS (
                  SELECT *, running / nullif(observed - shutdown - idle, 0) AS availability,
                    least(nominal, running) / nullif(running, 0) AS performance,
                    good / nullif(made, 0) AS quality FROM joined)
                SELECT machine_id,
                  round(100 * running / nullif(observed, 0), 1),
                  round(100 * idle / nullif(observed, 0), 1),
                  round(100 * error / nullif(observed, 0), 1),
                  round(100 * maint / nullif(observed, 0), 1),
                  round(100 * shutdown / nullif(observed, 0), 1),
                  round(efficiency, 1), made,
                  round(availability, 3), round(performance, 3), round(quality, 3),
                  round(availability * performance * quality, 3)
                FROM factors ORDER BY machine_id"""
            ).fetchall(),
            "off = shutdown; eff = mean efficiency_percent while running; station quality = "
            "QC pass share of its widgets",
        )
    )

    add(
        Section(
            "Quality pass rate by widget type",
            ["widget type", "checks", "passed", "failed", "pass rate %"],
            con.execute(
                """SELECT widget_type, count(*), count(*) FILTER (status = 'pass'),
                          count(*) FILTER (status = 'fail'),
                          round(100.0 * count(*) FILTER (status = 'pass') / count(*), 1)
                   FROM quality_checks GROUP BY widget_type ORDER BY widget_type"""
            ).fetchall(),
        )
    )
    add(
        Section(
            "Quality failures by defect",
            ["defect", "failed checks", "share of failures %"],
            con.execute(
                """WITH f AS (SELECT unnest(defects_found) AS defect FROM quality_checks
                              WHERE status = 'fail'),
                        n AS (SELECT count(*) AS failed FROM quality_checks
                              WHERE status = 'fail')
                   SELECT defect, count(*), round(100.0 * count(*) / any_value(n.failed), 1)
                   FROM f, n GROUP BY defect ORDER BY count(*) DESC, defect"""
            ).fetchall(),
            "a check can name several defects",
        )
    )
    add(
        Section(
            "Quality pass rate over time (per simulated hour)",
            ["hour (UTC)", "widget type", "checks", "pass rate %"],
            pass_rate_over_time(con),
        )
    )
    add(
        Section(
            "Orders",
            ["widget type", "orders", "units ordered", "units built for orders"],
            con.execute(
                """WITH o AS (SELECT widget_type, count(*) AS orders, sum(quantity) AS units
                              FROM production_orders GROUP BY widget_type),
                        b AS (SELECT widget_type, count(*) AS built FROM widgets
                              WHERE order_id IS NOT NULL GROUP BY widget_type)
                   SELECT widget_type, coalesce(orders, 0), coalesce(units, 0),
                          coalesce(built, 0)
                   FROM o FULL JOIN b USING (widget_type) ORDER BY widget_type"""
            ).fetchall(),
        )
    )
    add(
        Section(
            "Stock levels (latest)",
            ["SKU", "kind", "in stock", "updates", "last change (UTC)"],
            con.execute(
                """SELECT sku, arg_max(item_type, kafka_offset),
                          arg_max(current_stock, kafka_offset), count(*),
                          strftime(max(updated_at), '%Y-%m-%d %H:%M')
                   FROM inventory_updates GROUP BY sku ORDER BY 2, sku"""
            ).fetchall(),
            "the ledger's stock after its last update of each SKU",
        )
    )
    return report


def pass_rate_over_time(con: Any) -> list[tuple[Any, ...]]:
    return [
        tuple(row)
        for row in con.execute(
            """SELECT strftime(time_bucket(INTERVAL 1 HOUR, checked_at), '%Y-%m-%d %H:00'),
                      widget_type, count(*),
                      round(100.0 * count(*) FILTER (status = 'pass') / count(*), 1)
               FROM quality_checks GROUP BY 1, 2 ORDER BY 1, 2"""
        ).fetchall()
    ]


def print_report(report: Report, out: TextIO, width: int = 132) -> None:
    console = Console(file=out, width=width, highlight=False, soft_wrap=False)
    start, end = report.span
    console.print(
        f"[bold]Widget Factory report[/bold]: simulated time {start:%Y-%m-%d %H:%M} to "
        f"{end:%Y-%m-%d %H:%M} UTC"
    )
    c = report.counts
    console.print(
        f"{c['components']} components, {c['widgets']} widgets, {c['quality_checks']} "
        f"quality checks, {c['telemetry']} telemetry reports, {c['inventory_updates']} "
        f"inventory updates, {c['production_orders']} orders, {c['factory_alerts']} alerts, "
        f"{c['factory_metrics']} windowed metrics"
    )
    for section in report.sections:
        table = RichTable(title=section.title, title_justify="left", caption=section.note or None)
        for i, column in enumerate(section.columns):
            table.add_column(column, justify="left" if i == 0 else "right")
        for row in section.rows:
            table.add_row(*("-" if v is None else str(v) for v in row))
        if not section.rows:
            table.add_row(*(["(none)"] + [""] * (len(section.columns) - 1)))
        console.print(table)
