"""The text of a scenario's summary: the phase table and the optional reports.

Rows of strings (a header first) built from the folded
:class:`~widget_factory.core.scenario_stats.Observations`; printing them is the
runner's business. Report names are :data:`widget_factory.core.scenario_plan.REPORTS`.
Pure.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from widget_factory.core.inspection import expected_pass_rate
from widget_factory.core.scenario_checks import format_value
from widget_factory.core.scenario_plan import Phase, Scenario
from widget_factory.core.scenario_stats import Observations
from widget_factory.schemas import MachineStatus

__all__ = ["REPORT_BUILDERS", "phase_table", "report_lines", "hours_minutes"]


def hours_minutes(seconds: float) -> str:
    """``h:mm`` of simulated seconds since a scenario's start, as its timeline shows them."""
    minutes = int(round(seconds / 60))
    return f"{minutes // 60}:{minutes % 60:02d}"


def phase_table(scenario: Scenario, observations: Observations) -> list[list[str]]:
    """Header and one row per phase: the effects every scenario shows."""
    rows = [
        [
            "phase",
            "from",
            "to",
            "components/h",
            "widgets/h",
            "QC pass",
            "orders waiting",
            "component stock",
            "QC lag max",
            "alerts",
        ]
    ]
    o = observations
    for phase in scenario.phases():
        if phase.start >= o.duration:
            blank = [""] * (len(rows[0]) - 4)
            rows.append([phase.label, hours_minutes(phase.start), "", "not reached", *blank])
            continue

        def m(name: str, phase: Phase = phase, **selector: str) -> float | None:
            return o.metric(name, phase, dict(selector))

        scarce = o.scarcest_at(o.end_of(phase))
        stock = (
            f"{format_value('x', m('stock_start'))} -> {format_value('x', m('stock_min'))} (min) -> "
            f"{format_value('x', m('stock_end'))}"
            + (f" ({scarce[0]} {scarce[1]})" if scarce else "")
        )
        waiting = (
            f"{format_value('x', m('orders_waiting_start'))} -> "
            f"{format_value('x', m('orders_waiting_max'))} (max) -> {format_value('x', m('orders_waiting_end'))}"
        )
        alerts = []
        starved = m("starvation_alerts")
        errors = m("machine_errors")
        if starved:
            alerts.append(f"{starved:.0f} starved")
        if errors:
            alerts.append(f"{errors:.0f} machine errors")
        rows.append(
            [
                phase.label,
                hours_minutes(phase.start),
                hours_minutes(min(phase.end, scenario.duration)),
                format_value("components_per_hour", m("components_per_hour")),
                format_value("widgets_per_hour", m("widgets_per_hour")),
                format_value("pass_rate", m("pass_rate")),
                waiting,
                stock,
                format_value("lag_max", m("lag_max")),
                ", ".join(alerts) or "-",
            ]
        )
    return rows


def _assembly_times(o: Observations) -> tuple[str, list[list[str]]]:
    config = o.config
    rows = [["widget type", "built", "mean", "min", "max", "configured", "ratio"]]
    by_type: dict[str, list[float]] = {}
    for w in o.widgets.values():
        by_type.setdefault(w.widget_type, []).append(w.duration)
    for widget_type, durations in sorted(by_type.items()):
        base = (
            config.widget_types[widget_type].assembly_time_s
            if widget_type in config.widget_types
            else None
        )
        mean = sum(durations) / len(durations)
        rows.append(
            [
                widget_type,
                str(len(durations)),
                f"{mean:.0f} s",
                f"{min(durations):.0f} s",
                f"{max(durations):.0f} s",
                "-" if base is None else f"{base:.0f} s",
                "-" if base is None else f"{mean / base:.2f}",
            ]
        )
    return "Average assembly time by widget type (simulated seconds)", rows


def _machine_efficiency(o: Observations) -> tuple[str, list[list[str]]]:
    config = o.config
    rows = [["machine", "running", "efficiency (running)", "reports"]]
    for machine in config.all_machine_ids:
        series = o.telemetry.get(machine, [])
        running = [e for _, s, e in series if s is MachineStatus.RUNNING]
        rows.append(
            [
                machine,
                f"{len(running) / len(series):.0%}" if series else "-",
                f"{sum(running) / len(running):.1f}%" if running else "-",
                str(len(series)),
            ]
        )
    return (
        "Machine efficiency (telemetry; running share of reports, mean efficiency while running)",
        rows,
    )


def _pass_rate_over_time(o: Observations) -> tuple[str, list[list[str]]]:
    rows = [["simulated time", "checks", "pass rate", ""]]
    hours = int(math.ceil(max([c[0] for c in o.checks], default=0.0) / 3600.0)) or 1
    step = max(1, math.ceil(hours / 24))
    for hour in range(0, hours, step):
        bucket = Phase(f"{hour}", hour * 3600.0, (hour + step) * 3600.0)
        total = sum(
            1
            for c in o.checks
            if o.within(o.widgets[c[4]].t if c[4] in o.widgets else c[0], bucket)
        )
        rate = o.metric("pass_rate", bucket, {})
        rows.append(
            [
                f"{hours_minutes(bucket.start)}-{hours_minutes(bucket.end)}",
                str(total),
                format_value("pass_rate", rate),
                "#" * int(round((rate or 0) * 20)),
            ]
        )
    return "Quality-control pass rate over time (widgets by when they were built)", rows


def _quality_by_type(o: Observations) -> tuple[str, list[list[str]]]:
    config = o.config
    whole = Phase("whole run", 0.0, math.inf)
    rows = [["widget type", "checked", "pass rate", "expected", "defects found"]]
    for widget_type in sorted({c[1] for c in o.checks}):
        checks = [c for c in o.checks if c[1] == widget_type]
        found: dict[str, int] = {}
        for c in checks:
            for defect in c[3]:
                found[defect] = found.get(defect, 0) + 1
        expected = (
            expected_pass_rate(config, widget_type) if widget_type in config.widget_types else None
        )
        rows.append(
            [
                widget_type,
                str(len(checks)),
                format_value(
                    "pass_rate", o.metric("pass_rate", whole, {"widget_type": widget_type})
                ),
                format_value("pass_rate", expected),
                ", ".join(f"{d} {n}" for d, n in sorted(found.items(), key=lambda kv: -kv[1]))
                or "-",
            ]
        )
    return (
        "Quality by widget type (expected: the standard's pass rate on a healthy line)",
        rows,
    )


def _component_defects(o: Observations) -> tuple[str, list[list[str]]]:
    rows = [["component defects in the widget", "checked", "pass rate"]]
    buckets: dict[str, list[bool]] = {}
    after_repair: list[bool] = []
    for _t, _kind, ok, _found, widget_id in o.checks:
        widget = o.widgets.get(widget_id)
        if widget is None:
            continue
        if widget.degraded_components:
            after_repair.append(ok)
        label = str(min(widget.component_defects, 3)) + (
            "+" if widget.component_defects >= 3 else ""
        )
        buckets.setdefault(label, []).append(ok)
    for label, results in sorted(buckets.items()):
        rows.append([label, str(len(results)), f"{sum(results) / len(results):.0%}"])
    if after_repair:
        rate = f"{sum(after_repair) / len(after_repair):.0%}"
        rows.append(["a part made right after a repair", str(len(after_repair)), rate])
    return "Pass rate by the defects of a widget's components", rows


REPORT_BUILDERS: dict[str, Callable[[Observations], tuple[str, list[list[str]]]]] = {
    "assembly_times": _assembly_times,
    "machine_efficiency": _machine_efficiency,
    "pass_rate_over_time": _pass_rate_over_time,
    "quality_by_type": _quality_by_type,
    "component_defects": _component_defects,
}
"""Each report of :data:`widget_factory.core.scenario_plan.REPORTS`, by name."""


def report_lines(name: str, observations: Observations) -> tuple[str, list[list[str]]]:
    """(title, rows with a header) of one of ``REPORTS``; :class:`KeyError` for others."""
    return REPORT_BUILDERS[name](observations)
