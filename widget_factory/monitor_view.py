"""The monitor's screen: a Rich renderable of a :class:`FactoryView`, throughput and lag.

Kept apart from the reading loop (``commands/monitor_command.py``) so it renders the
same live, once (``--once``) and in tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from widget_factory.core.clock import to_datetime
from widget_factory.core.event_format import format_time
from widget_factory.core.factory_view import FactoryView, GroupLag, RateMeter
from widget_factory.schemas import MachineStatus

__all__ = ["GroupLag", "MonitorFrame", "render"]

_STATUS_STYLE = {
    MachineStatus.RUNNING: "green",
    MachineStatus.IDLE: "cyan",
    MachineStatus.MAINTENANCE: "yellow",
    MachineStatus.ERROR: "bold red",
    MachineStatus.SHUTDOWN: "magenta",
}
_SEVERITY_STYLE = {"critical": "bold red", "warning": "yellow", "info": "cyan"}


@dataclass
class MonitorFrame:
    """Everything one screen shows."""

    view: FactoryView
    rates: RateMeter
    lags: Sequence[GroupLag] = ()
    topics: Sequence[str] = ()
    where: str = ""
    note: str = ""
    machine_order: Sequence[str] = field(default_factory=list)
    unreadable: int = 0
    """Records read that are not valid events: not shown (their consumers dead-letter them)."""


def _machines(frame: MonitorFrame) -> Table:
    table = Table(expand=True, box=None, pad_edge=False, show_edge=False)
    table.add_column("machine", no_wrap=True, ratio=1)
    table.add_column("status", no_wrap=True, min_width=11)
    table.add_column("°C", justify="right")
    table.add_column("eff", justify="right")
    table.add_column("cycles", justify="right")
    reports = frame.view.machines
    order = [m for m in frame.machine_order if m in reports] + sorted(
        m for m in reports if m not in frame.machine_order
    )
    for machine_id in order:
        report = reports[machine_id]
        m = report.metrics
        table.add_row(
            machine_id,
            Text(report.status.value, style=_STATUS_STYLE.get(report.status, "")),
            f"{m.temperature_celsius:.0f}",
            f"{m.efficiency_percent:.0f}%",
            str(m.cycle_count),
        )
    if not reports:
        table.add_row("(no telemetry yet)", "", "", "", "")
    return table


def _stock(frame: MonitorFrame) -> RenderableType:
    view = frame.view
    table = Table(expand=True, box=None, pad_edge=False, show_edge=False)
    table.add_column("component stock", no_wrap=True, ratio=1)
    table.add_column("units", justify="right")
    for sku, units in sorted(view.component_stock.items()):
        table.add_row(sku, Text(str(units), style="bold red" if units == 0 else ""))
    if not view.component_stock:
        table.add_row("(no inventory updates yet)", "")
    orders = Table(expand=True, box=None, pad_edge=False, show_edge=False)
    orders.add_column("orders waiting", no_wrap=True, ratio=1)
    orders.add_column("units", justify="right")
    orders.add_column("built", justify="right")
    orders.add_column("in stock", justify="right")
    waiting = view.book.waiting()
    for widget_type in sorted(set(waiting) | set(view.widgets) | set(view.widget_stock)):
        orders.add_row(
            widget_type,
            str(waiting.get(widget_type, 0)),
            str(view.widgets.get(widget_type, 0)),
            str(view.widget_stock.get(widget_type, 0)),
        )
    orders.add_row(
        Text(f"{view.book.open_orders()} open orders", style="dim"),
        Text(str(view.book.units_waiting()), style="bold"),
        "",
        "",
    )
    return Group(table, Text(""), orders)


def _throughput(frame: MonitorFrame) -> Table:
    table = Table(expand=True, box=None, pad_edge=False, show_edge=False)
    table.add_column("topic", no_wrap=True, ratio=1)
    table.add_column("rec/s", justify="right", no_wrap=True)
    table.add_column("total", justify="right", no_wrap=True)
    totals = frame.rates.totals()
    for topic in frame.topics:
        if topic not in totals:
            continue
        rate = frame.rates.rate(topic)
        table.add_row(topic, "…" if rate is None else f"{rate:,.1f}", f"{totals[topic]:,}")
    return table


def _quality(frame: MonitorFrame) -> Table:
    table = Table(expand=True, box=None, pad_edge=False, show_edge=False)
    table.add_column("widget type", no_wrap=True)
    table.add_column("pass", justify="right", min_width=4, no_wrap=True)
    table.add_column("checked", justify="right", min_width=7, no_wrap=True)
    table.add_column("top defect", no_wrap=True, overflow="ellipsis", ratio=1)
    view = frame.view
    for widget_type, tally in sorted(view.quality.items()):
        rate = tally.pass_rate
        top = max(tally.defects.items(), key=lambda kv: kv[1])[0] if tally.defects else "-"
        table.add_row(widget_type, "-" if rate is None else f"{rate:.0%}", f"{tally.total:,}", top)
    total = view.quality_total()
    if total.total:
        table.add_row(
            Text("all", style="bold"), f"{total.passed / total.total:.0%}", f"{total.total:,}", ""
        )
    else:
        table.add_row("(no checks yet)", "", "", "")
    return table


def _lag(frame: MonitorFrame) -> Table:
    table = Table(expand=True, box=None, pad_edge=False, show_edge=False)
    table.add_column("group", no_wrap=True)
    table.add_column("lag", justify="right", no_wrap=True, min_width=3)
    table.add_column("by topic", overflow="fold", ratio=1)
    for lag in frame.lags:
        detail = ", ".join(f"{t} {n:,}" for t, n in sorted(lag.by_topic.items()) if n)
        style = "bold red" if lag.total > 100 else "yellow" if lag.total > 10 else ""
        table.add_row(
            lag.group,
            Text(f"{lag.total:,}", style=style) if lag.committed else Text("-", style="dim"),
            detail if lag.committed else "nothing committed yet",
        )
    if not frame.lags:
        table.add_row("(no consumer groups yet)", "", "")
    return table


def _alerts(frame: MonitorFrame) -> Table:
    table = Table(expand=True, box=None, pad_edge=False, show_edge=False, show_header=False)
    table.add_column("when", no_wrap=True, min_width=19)
    table.add_column("severity", no_wrap=True, min_width=8)
    table.add_column("message", overflow="fold", ratio=1)
    for alert in reversed(frame.view.alerts):
        table.add_row(
            format_time(alert.raised_at),
            Text(alert.severity, style=_SEVERITY_STYLE.get(alert.severity, "")),
            alert.message,
        )
    if not frame.view.alerts:
        table.add_row("", "", "no alerts")
    return table


def render(frame: MonitorFrame) -> RenderableType:
    view = frame.view
    clock = (
        f"simulated {format_time(to_datetime(view.sim_now))} UTC"
        if view.sim_now is not None
        else "no events yet"
    )
    counts = view.status_counts()
    status_line = ", ".join(
        f"{n} {status.value}" for status, n in sorted(counts.items(), key=lambda kv: kv[0].value)
    )
    header = Text.assemble(
        ("Widget Factory", "bold"),
        f"  {frame.where}  {clock}",
        (f"  {frame.note}" if frame.note else "", "dim"),
        (
            f"  {frame.unreadable} unreadable records not shown (dead-lettered by their consumers)"
            if frame.unreadable
            else "",
            "yellow",
        ),
    )
    top = Table.grid(expand=True, padding=(0, 1))
    top.add_column(ratio=3)
    top.add_column(ratio=2)
    top.add_row(
        Panel(_machines(frame), title=f"Machines ({status_line or 'none'})", title_align="left"),
        Panel(_stock(frame), title="Stock and orders", title_align="left"),
    )
    middle = Table.grid(expand=True, padding=(0, 1))
    middle.add_column(ratio=1)
    middle.add_column(ratio=1)
    middle.add_column(ratio=1)
    middle.add_row(
        Panel(_throughput(frame), title="Throughput (written)", title_align="left"),
        Panel(_quality(frame), title="Quality control", title_align="left"),
        Panel(_lag(frame), title="Consumer lag", title_align="left"),
    )
    return Group(
        header,
        top,
        middle,
        Panel(_alerts(frame), title="Recent alerts", title_align="left"),
    )
