"""The effects a scenario claims, checked: one small named measurement per metric.

Each metric of :data:`widget_factory.core.scenario_plan.METRICS` is a function of the
folded :class:`~widget_factory.core.scenario_stats.Observations` and a phase, found by
its name in :data:`MEASURES` (or, for families such as ``stock_min``, by prefix in
:data:`LEVEL_MEASURES`). :func:`evaluate` turns a scenario's expectations into
:class:`Outcome`s with the numbers behind them. Pure.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from widget_factory.core.kanban import kanban_limits
from widget_factory.core.scenario_plan import Comparison, Expectation, Phase, Scenario
from widget_factory.schemas import MachineStatus

if TYPE_CHECKING:
    from widget_factory.core.scenario_stats import BuiltWidget, Observations

__all__ = [
    "DEFAULT_GROUP",
    "LEVEL_MEASURES",
    "MEASURES",
    "Outcome",
    "Selector",
    "evaluate",
    "format_value",
    "measure",
]

DEFAULT_GROUP = "quality-control"
"""The group lag metrics look at unless an expectation names another."""

Selector = dict[str, str | None]
"""What an expectation narrows a metric to: ``widget_type``, ``sku``, ``group`` ..."""

Measure = Callable[["Observations", Phase, Selector], float | None]
LevelMeasure = Callable[["Observations", str, Phase, Selector], float | None]
"""A family's measure, given the full metric name (its suffix picks the value)."""


@dataclass(frozen=True)
class Outcome:
    expectation: Expectation
    ok: bool | None
    """None: not enough data to tell."""
    text: str


# --- rates -------------------------------------------------------------------------------


def components_per_hour(o: Observations, phase: Phase, selector: Selector) -> float | None:
    window, hours = o.rate_window(phase)
    sku = selector.get("sku")
    n = sum(1 for t, c in o.components if o.within(t, window) and sku in (None, c))
    return n / hours if hours else None


def widgets_per_hour(o: Observations, phase: Phase, selector: Selector) -> float | None:
    window, hours = o.rate_window(phase)
    widget_type = selector.get("widget_type")
    n = sum(
        1
        for w in o.widgets.values()
        if o.within(w.t, window) and widget_type in (None, w.widget_type)
    )
    return n / hours if hours else None


def checks_per_hour(o: Observations, phase: Phase, selector: Selector) -> float | None:
    window, hours = o.rate_window(phase)
    n = sum(1 for c in o.checks if o.within(c[0], window))
    return n / hours if hours else None


# --- quality and assembly ----------------------------------------------------------------


def pass_rate(o: Observations, phase: Phase, selector: Selector) -> float | None:
    return o.pass_rate(phase, selector.get("widget_type"), selector.get("defects"))


def _built(o: Observations, phase: Phase, selector: Selector) -> list[BuiltWidget]:
    widget_type = selector.get("widget_type")
    return [
        w
        for w in o.widgets.values()
        if o.within(w.t, phase) and widget_type in (None, w.widget_type)
    ]


def assembly_time(o: Observations, phase: Phase, selector: Selector) -> float | None:
    built = _built(o, phase, selector)
    return sum(w.duration for w in built) / len(built) if built else None


def assembly_time_ratio(o: Observations, phase: Phase, selector: Selector) -> float | None:
    types = o.config.widget_types
    ratios = [
        w.duration / types[w.widget_type].assembly_time_s
        for w in _built(o, phase, selector)
        if w.widget_type in types
    ]
    return sum(ratios) / len(ratios) if ratios else None


# --- machines and alerts -----------------------------------------------------------------


def starvation_alerts(o: Observations, phase: Phase, selector: Selector) -> float | None:
    return float(sum(1 for t, k, _ in o.alerts if k == "station_starved" and o.within(t, phase)))


def machine_errors(o: Observations, phase: Phase, selector: Selector) -> float | None:
    return float(sum(1 for t, k, _ in o.alerts if k == "machine_error" and o.within(t, phase)))


def late_report_share(o: Observations, phase: Phase, selector: Selector) -> float | None:
    reports = sum(1 for s in o.telemetry.values() for t, _s, _e in s if o.within(t, phase))
    late = sum(1 for t in o.late_reports if o.within(t, phase))
    return late / reports if reports else None


def machines_down_end(o: Observations, phase: Phase, selector: Selector) -> float | None:
    return float(o.down_at(o.end_of(phase)))


def efficiency(o: Observations, phase: Phase, selector: Selector) -> float | None:
    machine = selector.get("machine")
    efficiencies = [
        e
        for m, series in o.telemetry.items()
        if machine in (None, m)
        for t, s, e in series
        if s is MachineStatus.RUNNING and o.within(t, phase)
    ]
    return sum(efficiencies) / len(efficiencies) if efficiencies else None


# --- levels: <family>_start, _end, _min, _max ---------------------------------------------


def orders_waiting(o: Observations, name: str, phase: Phase, selector: Selector) -> float | None:
    times = [order[0] for order in o.orders.values()] + [w.t for w in o.widgets.values()]
    return float(_pick(name, o.extremes(phase, times, o.waiting_at)))


def stock(o: Observations, name: str, phase: Phase, selector: Selector) -> float | None:
    sku = selector.get("sku")
    times = [t for series in o.stock.values() for t, _ in series]
    values = o.extremes(phase, times, lambda t: o.stock_at(t, sku))
    return float(_pick(name, values))


def lag(o: Observations, name: str, phase: Phase, selector: Selector) -> float | None:
    group = selector.get("group") or DEFAULT_GROUP
    lags = [v for t, v in o.lag.get(group, []) if o.within(t, phase)]
    if not lags:
        return None
    return float(_pick(name, lags))


def kanban_ceiling(o: Observations, phase: Phase, selector: Selector) -> float | None:
    limit = kanban_limits(o.config).get(selector.get("sku") or "")
    return float(limit.ceiling) if limit is not None else None


def kanban_reorder(o: Observations, phase: Phase, selector: Selector) -> float | None:
    limit = kanban_limits(o.config).get(selector.get("sku") or "")
    return float(limit.reorder) if limit is not None else None


MEASURES: dict[str, Measure] = {
    "components_per_hour": components_per_hour,
    "widgets_per_hour": widgets_per_hour,
    "checks_per_hour": checks_per_hour,
    "pass_rate": pass_rate,
    "starvation_alerts": starvation_alerts,
    "machine_errors": machine_errors,
    "machines_down_end": machines_down_end,
    "late_report_share": late_report_share,
    "assembly_time": assembly_time,
    "assembly_time_ratio": assembly_time_ratio,
    "efficiency": efficiency,
    "kanban_ceiling": kanban_ceiling,
    "kanban_reorder": kanban_reorder,
}
"""Metrics measured by exact name."""

LEVEL_MEASURES: dict[str, LevelMeasure] = {
    "orders_waiting_": orders_waiting,
    "stock_": stock,
    "lag_": lag,
}
"""Metric families by prefix; the suffix (``_start``, ``_end``, ``_min``, ``_max``) picks
the value of the phase."""


def measure(o: Observations, name: str, phase: Phase, selector: Selector) -> float | None:
    """The metric ``name`` over ``phase``; None when there is no data, or the run never
    reached the phase (an interrupted run). :class:`KeyError` for an unknown metric."""
    if phase.start >= o.duration:
        return None
    found = MEASURES.get(name)
    if found is not None:
        return found(o, phase, selector)
    for prefix, level in LEVEL_MEASURES.items():
        if name.startswith(prefix):
            return level(o, name, phase, selector)
    raise KeyError(name)


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


def format_value(metric: str, value: float | None) -> str:
    if value is None:
        return "n/a"
    if metric in ("pass_rate", "late_report_share"):
        return f"{value:.0%}"
    if metric.endswith("_ratio"):
        return f"{value:.2f}"
    if metric.endswith("_per_hour") or metric in ("assembly_time", "efficiency"):
        return f"{value:.1f}"
    # counts; a bound between two counts (above = 1.5) is shown as given, not rounded
    return f"{value:.0f}" if value == round(value) else f"{value:g}"


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
        value = measure(observations, expect.metric, _phase(phases, expect.phase), selector)
        bound = expect.below if expect.below is not None else expect.above
        op = "<" if expect.below is not None else ">"
        if isinstance(bound, Comparison):
            ref_selector = {
                k: (getattr(bound, k) if getattr(bound, k) is not None else v)
                for k, v in selector.items()
            }
            ref_metric = bound.metric or expect.metric
            ref_phase = bound.phase or expect.phase
            ref_value = measure(observations, ref_metric, _phase(phases, ref_phase), ref_selector)
            limit = None if ref_value is None else ref_value * bound.factor
            factor = f"{bound.factor:g} x " if bound.factor != 1 else ""
            ref_text = (
                f"{factor}{_describe(ref_metric, ref_phase, ref_selector)} "
                f"({format_value(ref_metric, ref_value)})"
            )
        else:
            limit = None if bound is None else float(bound)
            ref_text = format_value(expect.metric, limit)
        if value is None or limit is None:
            ok = None
        else:
            ok = value < limit if op == "<" else value > limit
        text = (
            f"{expect.claim}: {_describe(expect.metric, expect.phase, selector)} = "
            f"{format_value(expect.metric, value)} {op} {ref_text}"
        )
        outcomes.append(Outcome(expect, ok, text))
    return outcomes
