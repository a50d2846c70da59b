"""PNG charts of the warehouse (matplotlib, Agg backend: no display needed).

- ``pass_rate_over_time.png``: quality pass rate per simulated hour, by widget type
- ``assembly_time_by_type.png``: distribution of assembly times, by widget type
- ``machine_status_timeline.png``: every machine's status over time
- ``stock_levels.png``: stock of every SKU over time
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

__all__ = ["write_charts", "CHARTS", "STATUS_COLOURS"]

CHARTS = (
    "pass_rate_over_time.png",
    "assembly_time_by_type.png",
    "machine_status_timeline.png",
    "stock_levels.png",
)

STATUS_COLOURS = {
    "running": "#2e9e5b",
    "idle": "#b8c2cc",
    "maintenance": "#e0a800",
    "error": "#d64545",
    "shutdown": "#4a4a4a",
}


def _finish(fig: Any, ax: Any, path: Path, *, time_axis: bool = True) -> None:
    if time_axis:
        ax.xaxis.set_major_formatter(mdates.DateFormatter("%H:%M"))
        ax.set_xlabel("simulated time (UTC)")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _naive(moment: Any) -> Any:
    return moment.replace(tzinfo=None) if moment is not None else None


def write_charts(con: Any, out: Path, max_gap_s: float = 60.0) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []

    # pass rate over time, by type
    rows = con.execute(
        """SELECT time_bucket(INTERVAL 1 HOUR, checked_at) AS hour, widget_type,
                  100.0 * count(*) FILTER (status = 'pass') / count(*)
           FROM quality_checks GROUP BY 1, 2 ORDER BY 2, 1"""
    ).fetchall()
    fig, ax = plt.subplots(figsize=(10, 5))
    series: dict[str, tuple[list[Any], list[float]]] = {}
    for hour, widget_type, rate in rows:
        xs, ys = series.setdefault(widget_type, ([], []))
        xs.append(_naive(hour))
        ys.append(rate)
    for widget_type, (xs, ys) in sorted(series.items()):
        ax.plot(xs, ys, marker="o", label=widget_type)
    ax.set_ylim(0, 105)
    ax.set_ylabel("pass rate % (per simulated hour)")
    ax.set_title("Quality pass rate over time by widget type")
    if series:
        ax.legend(loc="lower left")
    written.append(out / CHARTS[0])
    _finish(fig, ax, written[-1])

    # assembly time by type
    rows = con.execute(
        "SELECT widget_type, list(assembly_duration_seconds) FROM widgets "
        "GROUP BY widget_type ORDER BY widget_type"
    ).fetchall()
    fig, ax = plt.subplots(figsize=(10, 5))
    if rows:
        ax.boxplot([r[1] for r in rows], tick_labels=[r[0] for r in rows], showmeans=True)
    ax.set_ylabel("assembly time (simulated seconds)")
    ax.set_title("Assembly time by widget type (box: quartiles, triangle: mean)")
    written.append(out / CHARTS[1])
    _finish(fig, ax, written[-1], time_axis=False)

    # machine status timeline
    rows = con.execute(
        f"""SELECT machine_id, status, reported_at,
                   least(coalesce(epoch(lead(reported_at) OVER w) - epoch(reported_at), 0),
                         {max_gap_s})
            FROM telemetry WINDOW w AS (PARTITION BY machine_id ORDER BY reported_at)
            ORDER BY machine_id, reported_at"""
    ).fetchall()
    machines = sorted({r[0] for r in rows})
    fig, ax = plt.subplots(figsize=(12, 0.45 * max(len(machines), 4) + 1.5))
    spans: dict[tuple[str, str], list[tuple[float, float]]] = {}
    previous: dict[str, tuple[str, float, float]] = {}
    for machine, status, at, held in rows:
        start = mdates.date2num(_naive(at))
        length = held / 86400.0
        run = previous.get(machine)
        if run and run[0] == status and abs(run[1] + run[2] - start) < 1e-9:
            previous[machine] = (status, run[1], run[2] + length)
            continue
        if run:
            spans.setdefault((machine, run[0]), []).append((run[1], run[2]))
        previous[machine] = (status, start, length)
    for machine, (status, start, length) in previous.items():
        spans.setdefault((machine, status), []).append((start, length))
    for (machine, status), bars in spans.items():
        y = machines.index(machine)
        ax.broken_barh(bars, (y - 0.4, 0.8), facecolors=STATUS_COLOURS.get(status, "#999999"))
    ax.set_yticks(range(len(machines)), machines)
    ax.set_ylim(-0.6, len(machines) - 0.4)
    ax.xaxis_date()
    handles = [
        plt.Rectangle((0, 0), 1, 1, color=colour, label=status)
        for status, colour in STATUS_COLOURS.items()
    ]
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.12), ncol=5)
    ax.set_title("Machine status timeline")
    written.append(out / CHARTS[2])
    _finish(fig, ax, written[-1])

    # stock levels over time: the running sum of changes in event time (the ledger writes
    # them in the order it learns of them, which in a virtual-time run is not time order)
    rows = con.execute(
        """SELECT sku, updated_at,
                  sum(quantity_change) OVER (PARTITION BY sku ORDER BY updated_at, kafka_offset
                                             ROWS UNBOUNDED PRECEDING)
           FROM inventory_updates ORDER BY sku, updated_at, kafka_offset"""
    ).fetchall()
    fig, ax = plt.subplots(figsize=(10, 5))
    levels: dict[str, tuple[list[Any], list[int]]] = {}
    for sku, at, level in rows:
        xs, ys = levels.setdefault(sku, ([], []))
        xs.append(_naive(at))
        ys.append(level)
    for sku, (xs, ys) in sorted(levels.items()):
        ax.step(xs, ys, where="post", label=sku)
    ax.set_ylabel("units in stock")
    ax.set_title("Stock levels by SKU")
    if levels:
        ax.legend(loc="upper left", fontsize="small", ncol=2)
    written.append(out / CHARTS[3])
    _finish(fig, ax, written[-1])
    return written
