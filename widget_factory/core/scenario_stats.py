"""What a scenario run showed: events folded into per-phase metrics, checks, reports.

Pure: the scenario runner feeds it the events it reads (and lag samples it takes);
times are simulated seconds since the scenario's start, so phases are cut on event
time, not on when a record happened to be read. Metric names are listed in
:data:`widget_factory.core.scenario_plan.METRICS`.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from widget_factory.core.inspection import expected_pass_rate
from widget_factory.core.scenario_plan import Comparison, Expectation, Phase, Scenario
from widget_factory.factory_config import FactoryConfig
from widget_factory.schemas import (
    ComponentProduced,
    Event,
    FactoryAlert,
    InventoryUpdate,
    MachineStatus,
    MachineTelemetry,
    ProductionOrder,
    QualityCheck,
    QualityStatus,
    WidgetAssembled,
)

__all__ = ["Observations", "Outcome", "evaluate", "phase_table", "report_lines", "DEFAULT_GROUP"]

DEFAULT_GROUP = "quality-control"
"""The group lag metrics look at unless an expectation names another."""

_DOWN = {MachineStatus.ERROR, MachineStatus.MAINTENANCE, MachineStatus.SHUTDOWN}


@dataclass(frozen=True)
class _Widget:
    t: float
    widget_type: str
    duration: float
    order_id: str | None
    component_defects: int
    degraded_components: int = 0


@dataclass(frozen=True)
class Outcome:
    expectation: Expectation
    ok: bool | None
    """None: not enough data to tell."""
    text: str


class Observations:
    """Everything a scenario run produced, by simulated time since its start."""

    def __init__(
        self, start: float, duration: float, config: FactoryConfig, settle: float = 0.0
    ) -> None:
        self.start = start
        self.duration = duration
        self.config = config
        self.settle = settle
        """Simulated seconds at the start of each phase left out of its rates: a command
        takes a moment to travel through Kafka and take effect."""
        self._seen: set[str] = set()
        self.components: list[tuple[float, str]] = []
        self.widgets: dict[str, _Widget] = {}
        self.checks: list[tuple[float, str, bool, tuple[str, ...], str]] = []
        self.stock: dict[str, list[tuple[float, int]]] = {}
        """Per component SKU, (time, level after the movements up to then), by event time:
        rebuilt from ``quantity_change`` sorted by event time, since the ledger's running
        ``current_stock`` follows processing order (in virtual time that is not time order)."""
        self._changes: dict[str, list[tuple[float, int]]] = {}
        self._stock_base: dict[str, int] = {}
        self.orders: dict[str, tuple[float, str, int]] = {}
        self.alerts: list[tuple[float, str, str]] = []
        self.telemetry: dict[str, list[tuple[float, MachineStatus, float]]] = {}
        self.lag: dict[str, list[tuple[float, int]]] = {}

    # --- input ---------------------------------------------------------------------------

    def add(self, event: Event) -> None:
        if event.event_id in self._seen:
            return
        self._seen.add(event.event_id)
        t = event.occurred_at.timestamp() - self.start
        if isinstance(event, ComponentProduced):
            self.components.append((t, event.component_type))
        elif isinstance(event, WidgetAssembled):
            self.widgets[event.widget_id] = _Widget(
                t,
                event.widget_type,
                event.assembly_duration_seconds,
                event.order_id,
                event.component_defects,
                sum(f.made_while_degraded for f in event.component_flaws),
            )
        elif isinstance(event, QualityCheck):
            self.checks.append(
                (
                    t,
                    event.widget_type,
                    event.status is QualityStatus.PASS,
                    tuple(event.defects_found),
                    event.widget_id,
                )
            )
        elif isinstance(event, InventoryUpdate):
            if event.item_type == "component":
                if event.sku not in self._stock_base:
                    # The level before the first movement seen (0 on a fresh cluster).
                    self._stock_base[event.sku] = event.current_stock - event.quantity_change
                self._changes.setdefault(event.sku, []).append((t, event.quantity_change))
        elif isinstance(event, ProductionOrder):
            self.orders[event.order_id] = (t, event.widget_type, event.quantity)
        elif isinstance(event, FactoryAlert):
            self.alerts.append((t, event.kind, event.source_id))
        elif isinstance(event, MachineTelemetry):
            self.telemetry.setdefault(event.machine_id, []).append(
                (t, event.status, event.metrics.efficiency_percent)
            )

    def add_lag(self, t: float, group: str, total: int) -> None:
        self.lag.setdefault(group, []).append((t, total))

    def finish(self) -> None:
        """Sort every series by time (records of different partitions interleave)."""
        self.components.sort()
        self.checks.sort()
        self.stock = {}
        for sku, changes in self._changes.items():
            level = self._stock_base.get(sku, 0)
            levels: list[tuple[float, int]] = []
            for t, change in sorted(changes, key=lambda item: item[0]):
                level += change
                levels.append((t, level))
            self.stock[sku] = levels
        for reports in self.telemetry.values():
            reports.sort(key=lambda item: item[0])
        for samples in self.lag.values():
            samples.sort(key=lambda item: item[0])
        self.alerts.sort()

    # --- helpers -------------------------------------------------------------------------

    def _rate_window(self, phase: Phase) -> tuple[Phase, float]:
        """The part of the phase rates are counted over, and its length in hours: from
        ``settle`` after its start to its end or the end of production, whichever is
        first (what finishes while the factory drains is in the totals, not the rates)."""
        end = min(phase.end, self.duration)
        window = Phase(phase.label, min(phase.start + self.settle, end), end)
        return window, max(0.0, window.end - window.start) / 3600.0

    @staticmethod
    def _within(t: float, phase: Phase) -> bool:
        return phase.start <= t < phase.end

    def _end_of(self, phase: Phase) -> float:
        """The last moment of the phase (its end is exclusive: a step at the boundary
        belongs to the next phase)."""
        return self.duration if math.isinf(phase.end) else phase.end - 1e-3

    def _stock_at(self, t: float, sku: str | None) -> int:
        skus = [sku] if sku else list(self.stock)
        total = 0
        for name in skus:
            series = self.stock.get(name, [])
            index = bisect.bisect_right(series, t, key=lambda item: item[0])
            if index:
                total += series[index - 1][1]
        return total

    def scarcest_at(self, t: float) -> tuple[str, int] | None:
        """The component with the least stock at ``t`` (name, units), if any moved."""
        levels = [(self._stock_at(t, sku), sku) for sku in self.stock]
        if not levels:
            return None
        units, sku = min(levels)
        return sku, units

    def _waiting_at(self, t: float) -> int:
        built: dict[str, int] = {}
        for widget in self.widgets.values():
            if widget.order_id in self.orders and widget.t <= t:
                built[widget.order_id] = built.get(widget.order_id, 0) + 1
        return sum(
            max(0, quantity - built.get(order_id, 0))
            for order_id, (created, _type, quantity) in self.orders.items()
            if created <= t
        )

    def _extremes(
        self, phase: Phase, times: Iterable[float], value_at: Callable[[float], int]
    ) -> list[int]:
        """``value_at`` at the phase start, at every time of ``times`` within the phase
        (where the value can change) and at its end."""
        moments = [phase.start] + sorted(t for t in times if self._within(t, phase))
        moments.append(self._end_of(phase))
        return [value_at(t) for t in moments]

    # --- metrics -------------------------------------------------------------------------

    def metric(self, name: str, phase: Phase, selector: dict[str, str | None]) -> float | None:
        """The metric ``name`` over ``phase``; None when there is no data, or the run
        never reached the phase (an interrupted run)."""
        if phase.start >= self.duration:
            return None
        widget_type = selector.get("widget_type")
        sku = selector.get("sku")
        group = selector.get("group") or DEFAULT_GROUP
        window, hours = self._rate_window(phase)
        if name == "components_per_hour":
            n = sum(1 for t, c in self.components if self._within(t, window) and sku in (None, c))
            return n / hours if hours else None
        if name == "widgets_per_hour":
            n = sum(
                1
                for w in self.widgets.values()
                if self._within(w.t, window) and widget_type in (None, w.widget_type)
            )
            return n / hours if hours else None
        if name == "checks_per_hour":
            n = sum(1 for c in self.checks if self._within(c[0], window))
            return n / hours if hours else None
        if name == "pass_rate":
            return self._pass_rate(phase, widget_type, selector.get("defects"))
        if name.startswith("orders_waiting_"):
            times = [o[0] for o in self.orders.values()] + [w.t for w in self.widgets.values()]
            values = self._extremes(phase, times, self._waiting_at)
            return float(_pick(name, values))
        if name.startswith("stock_"):
            times = [t for series in self.stock.values() for t, _ in series]
            values = self._extremes(phase, times, lambda t: self._stock_at(t, sku))
            return float(_pick(name, values))
        if name.startswith("lag_"):
            lags = [v for t, v in self.lag.get(group, []) if self._within(t, phase)]
            if not lags:
                return None
            return float(_pick(name, lags))
        if name == "starvation_alerts":
            return float(
                sum(
                    1
                    for t, k, _ in self.alerts
                    if k == "station_starved" and self._within(t, phase)
                )
            )
        if name == "machine_errors":
            return float(
                sum(1 for t, k, _ in self.alerts if k == "machine_error" and self._within(t, phase))
            )
        if name == "machines_down_end":
            return float(self._down_at(self._end_of(phase)))
        if name in ("assembly_time", "assembly_time_ratio"):
            built = [
                w
                for w in self.widgets.values()
                if self._within(w.t, phase) and widget_type in (None, w.widget_type)
            ]
            if name == "assembly_time":
                return sum(w.duration for w in built) / len(built) if built else None
            types = self.config.widget_types
            ratios = [
                w.duration / types[w.widget_type].assembly_time_s
                for w in built
                if w.widget_type in types
            ]
            return sum(ratios) / len(ratios) if ratios else None
        if name == "efficiency":
            machine = selector.get("machine")
            efficiencies = [
                e
                for m, series in self.telemetry.items()
                if machine in (None, m)
                for t, s, e in series
                if s is MachineStatus.RUNNING and self._within(t, phase)
            ]
            return sum(efficiencies) / len(efficiencies) if efficiencies else None
        raise KeyError(name)

    def _pass_rate(
        self, phase: Phase, widget_type: str | None, defects: str | None
    ) -> float | None:
        """Checks of the widgets *built* in the phase (by the check's time when the widget
        was not seen): quality belongs to when a widget was made, not when it was checked."""
        passed = total = 0
        for t, kind, ok, _found, widget_id in self.checks:
            widget = self.widgets.get(widget_id)
            if not self._within(widget.t if widget else t, phase) or widget_type not in (
                None,
                kind,
            ):
                continue
            if defects is not None:
                if widget is None:
                    continue
                if defects in ("degraded", "healthy"):
                    if (widget.degraded_components > 0) != (defects == "degraded"):
                        continue
                elif (widget.component_defects > 0) != (defects == "some"):
                    continue
            total += 1
            passed += ok
        return passed / total if total else None

    def _down_at(self, t: float) -> int:
        down = 0
        for series in self.telemetry.values():
            index = bisect.bisect_right(series, t, key=lambda item: item[0])
            if index and series[index - 1][1] in _DOWN:
                down += 1
        return down


def _pick(name: str, values: list[int]) -> int:
    """The ``_start``, ``_end``, ``_min`` or ``_max`` of a phase's values, by metric name."""
    if name.endswith("_start"):
        return values[0]
    if name.endswith("_end"):
        return values[-1]
    if name.endswith("_min"):
        return min(values)
    return max(values)


# --- expectations ------------------------------------------------------------------------


def _format(metric: str, value: float | None) -> str:
    if value is None:
        return "n/a"
    if metric == "pass_rate":
        return f"{value:.0%}"
    if metric.endswith("_ratio"):
        return f"{value:.2f}"
    if metric.endswith("_per_hour") or metric in ("assembly_time", "efficiency"):
        return f"{value:.1f}"
    return f"{value:.0f}"


def _phase(phases: list[Phase], label: str | None) -> Phase:
    if label is None:
        return Phase("whole run", 0.0, math.inf)
    return next(p for p in phases if p.label == label)


def _describe(metric: str, phase: str | None, selector: dict[str, str | None]) -> str:
    extra = ", ".join(f"{k} {v}" for k, v in selector.items() if v and k != "group")
    group = selector.get("group")
    if metric.startswith("lag_"):
        extra = ", ".join(filter(None, [f"group {group or DEFAULT_GROUP}", extra]))
    where = f"'{phase}'" if phase else "the whole run"
    return f"{metric}{f' ({extra})' if extra else ''} in {where}"


def evaluate(scenario: Scenario, observations: Observations) -> list[Outcome]:
    phases = scenario.phases()
    outcomes = []
    for expect in scenario.expectations:
        selector = expect.selector()
        value = observations.metric(expect.metric, _phase(phases, expect.phase), selector)
        bound = expect.below if expect.below is not None else expect.above
        op = "<" if expect.below is not None else ">"
        if isinstance(bound, Comparison):
            ref_selector = {
                k: (getattr(bound, k) if getattr(bound, k) is not None else v)
                for k, v in selector.items()
            }
            ref_metric = bound.metric or expect.metric
            ref_phase = bound.phase or expect.phase
            ref_value = observations.metric(ref_metric, _phase(phases, ref_phase), ref_selector)
            limit = None if ref_value is None else ref_value * bound.factor
            factor = f"{bound.factor:g} x " if bound.factor != 1 else ""
            ref_text = (
                f"{factor}{_describe(ref_metric, ref_phase, ref_selector)} "
                f"({_format(ref_metric, ref_value)})"
            )
        else:
            limit = None if bound is None else float(bound)
            ref_text = _format(expect.metric, limit)
        if value is None or limit is None:
            ok = None
        else:
            ok = value < limit if op == "<" else value > limit
        text = (
            f"{expect.claim}: {_describe(expect.metric, expect.phase, selector)} = "
            f"{_format(expect.metric, value)} {op} {ref_text}"
        )
        outcomes.append(Outcome(expect, ok, text))
    return outcomes


# --- tables ------------------------------------------------------------------------------


def _hours(seconds: float) -> str:
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
            rows.append([phase.label, _hours(phase.start), "", "not reached", *blank])
            continue

        def m(name: str, phase: Phase = phase, **selector: str) -> float | None:
            return o.metric(name, phase, dict(selector))

        scarce = o.scarcest_at(o._end_of(phase))
        stock = (
            f"{_format('x', m('stock_start'))} -> {_format('x', m('stock_min'))} (min) -> "
            f"{_format('x', m('stock_end'))}" + (f" ({scarce[0]} {scarce[1]})" if scarce else "")
        )
        waiting = (
            f"{_format('x', m('orders_waiting_start'))} -> "
            f"{_format('x', m('orders_waiting_max'))} (max) -> {_format('x', m('orders_waiting_end'))}"
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
                _hours(phase.start),
                _hours(min(phase.end, scenario.duration)),
                _format("components_per_hour", m("components_per_hour")),
                _format("widgets_per_hour", m("widgets_per_hour")),
                _format("pass_rate", m("pass_rate")),
                waiting,
                stock,
                _format("lag_max", m("lag_max")),
                ", ".join(alerts) or "-",
            ]
        )
    return rows


def report_lines(name: str, observations: Observations) -> tuple[str, list[list[str]]]:
    """(title, rows with a header) of one of ``REPORTS``."""
    o = observations
    config = o.config
    whole = Phase("whole run", 0.0, math.inf)
    if name == "assembly_times":
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
    if name == "machine_efficiency":
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
    if name == "pass_rate_over_time":
        rows = [["simulated time", "checks", "pass rate", ""]]
        hours = int(math.ceil(max([c[0] for c in o.checks], default=0.0) / 3600.0)) or 1
        step = max(1, math.ceil(hours / 24))
        for hour in range(0, hours, step):
            bucket = Phase(f"{hour}", hour * 3600.0, (hour + step) * 3600.0)
            total = sum(
                1
                for c in o.checks
                if o._within(o.widgets[c[4]].t if c[4] in o.widgets else c[0], bucket)
            )
            rate = o.metric("pass_rate", bucket, {})
            rows.append(
                [
                    f"{_hours(bucket.start)}-{_hours(bucket.end)}",
                    str(total),
                    _format("pass_rate", rate),
                    "#" * int(round((rate or 0) * 20)),
                ]
            )
        return "Quality-control pass rate over time (widgets by when they were built)", rows
    if name == "quality_by_type":
        rows = [["widget type", "checked", "pass rate", "expected", "defects found"]]
        for widget_type in sorted({c[1] for c in o.checks}):
            checks = [c for c in o.checks if c[1] == widget_type]
            found: dict[str, int] = {}
            for c in checks:
                for defect in c[3]:
                    found[defect] = found.get(defect, 0) + 1
            expected = (
                expected_pass_rate(config, widget_type)
                if widget_type in config.widget_types
                else None
            )
            rows.append(
                [
                    widget_type,
                    str(len(checks)),
                    _format(
                        "pass_rate", o.metric("pass_rate", whole, {"widget_type": widget_type})
                    ),
                    _format("pass_rate", expected),
                    ", ".join(f"{d} {n}" for d, n in sorted(found.items(), key=lambda kv: -kv[1]))
                    or "-",
                ]
            )
        return (
            "Quality by widget type (expected: the standard's pass rate on a healthy line)",
            rows,
        )
    if name == "component_defects":
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
            rows.append(
                [
                    "a part made right after a repair",
                    str(len(after_repair)),
                    f"{sum(after_repair) / len(after_repair):.0%}",
                ]
            )
        return "Pass rate by the defects of a widget's components", rows
    raise KeyError(name)
