"""Scenario files: a factory run with timed commands and the effects it should show.

A scenario is a TOML file in the factory config's style::

    [scenario]
    name = "supply-disruption"
    title = "Supply chain disruption"
    summary = "stop every component machine for two hours, then restart them"
    description = "Stop component production and watch assembly run dry; restart it."
    watch = ["widget-factory monitor --bootstrap-servers {bootstrap}"]
    speed = 1200                # simulated seconds per wall second
    duration = "9h"             # simulated
    first_phase = "normal"      # label of the phase before the first step that starts one
    settle = "15m"              # left out at the start of each phase's per-hour rates

    [factory.simulation]        # optional: overrides merged into the factory config
    order_interval_s = 900

    [[step]]
    at = "2h"                   # simulated time since the start
    action = "stop-machine"     # order | anomaly | stop-machine | start-machine | maintenance | note
    targets = ["@production"]   # machine ids or @production, @stations, @all, @makes:<type>
    phase = "production stopped"
    say = "Every component machine shuts down."

    [[expect]]
    claim = "assembly starves while production is stopped"
    metric = "widgets_per_hour"
    phase = "production stopped"
    below = { phase = "normal", factor = 0.5 }

Steps with a ``phase`` start a new phase of the summary. ``[[expect]]`` entries compare
a metric of a phase (see :mod:`widget_factory.core.scenario_checks`) with a number or
with another metric (``below``/``above`` = number, or a table overriding ``phase``,
``metric``, ``widget_type``, ``sku``, ``group``, ``defects`` and scaling by ``factor``).

Everything here is pure: parsing, checks, the phase timeline, merging config overrides
and writing the merged config back as TOML.
"""

from __future__ import annotations

import json
import math
import re
import tomllib
from collections.abc import Mapping
from typing import Any, Final

import msgspec

from widget_factory.core.clock import parse_duration
from widget_factory.core.control import (
    COMMANDS,
    check_priority,
    check_quantity,
    check_widget_type,
    expand_targets,
)
from widget_factory.core.edge_gateway import check_late_fraction
from widget_factory.errors import ConfigError, FactoryError
from widget_factory.factory_config import FactoryConfig

__all__ = [
    "ACTIONS",
    "REPORTS",
    "METRICS",
    "Step",
    "Comparison",
    "Expectation",
    "Scenario",
    "Phase",
    "parse_scenario",
    "parse_time",
    "parse_speed",
    "merge_overrides",
    "dump_toml",
]

DEFAULT_SETTLE_S: Final = 900.0
"""Simulated seconds left out at the start of each phase's rates in real time: commands
travel through Kafka (telemetry applies them, production and assembly follow telemetry),
which at 1200x takes a few simulated minutes."""

ACTIONS: Final = ("order", *COMMANDS, "note")
"""What a step can do: an order, a machine command (``anomaly``, ``stop-machine``,
``start-machine``, ``maintenance``) or only a note (and perhaps a new phase)."""

REPORTS: Final = {
    "assembly_times": "average assembly time by widget type, against the configured time",
    "machine_efficiency": "average efficiency of running machines, by machine",
    "pass_rate_over_time": "quality-control pass rate per simulated hour",
    "quality_by_type": "pass rate and defects found by widget type",
    "component_defects": "pass rate of widgets by the defects of their components",
}
"""Extra tables a scenario can ask for in its summary (``reports = [...]``)."""

METRICS: Final = {
    "components_per_hour": "components produced per simulated hour",
    "widgets_per_hour": "widgets assembled per simulated hour",
    "checks_per_hour": "quality checks per simulated hour",
    "pass_rate": "fraction of checks passed (widget_type, defects = 'none' | 'some' | "
    "'degraded' | 'healthy': components made right after a machine repair, or none)",
    "orders_waiting_start": "units ordered and not yet assembled, at the phase start",
    "orders_waiting_end": "... at the phase end",
    "orders_waiting_max": "... at most during the phase",
    "stock_start": "component stock at the phase start (sku, default all components)",
    "stock_end": "component stock at the phase end",
    "stock_min": "lowest component stock during the phase",
    "stock_max": "highest component stock during the phase",
    "lag_start": "consumer lag at the phase start (group, default quality-control)",
    "lag_end": "consumer lag at the phase end",
    "lag_max": "highest consumer lag during the phase",
    "starvation_alerts": "station-starved alerts raised in the phase",
    "machine_errors": "machine-error alerts raised in the phase",
    "machines_down_end": "machines in error, maintenance or shutdown at the phase end",
    "late_report_share": "share of telemetry reports read after a newer one of their machine",
    "assembly_time": "mean assembly time in simulated seconds (widget_type)",
    "assembly_time_ratio": "mean of assembly time over the configured time (widget_type)",
    "efficiency": "mean efficiency of running machines, percent (machine)",
    "kanban_ceiling": "the stock ceiling of a component type, units (sku; the run's factory)",
    "kanban_reorder": "the reorder point of a component type, units (sku; the run's factory)",
}
"""Metrics an ``[[expect]]`` can test, per phase."""

_SELECTORS: Final = ("widget_type", "sku", "group", "defects", "machine")


class _Strict(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    pass


class Step(_Strict, frozen=True):
    at: str | float
    action: str
    targets: list[str] = []
    widget_type: str | None = None
    quantity: int | None = None
    priority: int = 2
    phase: str | None = None
    say: str = ""


class Comparison(_Strict, frozen=True):
    phase: str | None = None
    metric: str | None = None
    widget_type: str | None = None
    sku: str | None = None
    group: str | None = None
    defects: str | None = None
    machine: str | None = None
    factor: float = 1.0


class Expectation(_Strict, frozen=True):
    claim: str
    metric: str
    phase: str | None = None
    widget_type: str | None = None
    sku: str | None = None
    group: str | None = None
    defects: str | None = None
    machine: str | None = None
    below: float | Comparison | None = None
    above: float | Comparison | None = None

    def selector(self) -> dict[str, str | None]:
        return {name: getattr(self, name) for name in _SELECTORS}


class _Meta(_Strict, frozen=True):
    name: str
    title: str
    summary: str = ""
    description: str = ""
    watch: list[str] = []
    speed: float | str = 1200.0
    duration: str | float = "8h"
    first_phase: str = "start"
    settle: str | float | None = None
    config: str | None = None
    reports: list[str] = []
    late_fraction: float = 0.0
    max_delay: str | float | None = None


class _File(_Strict, frozen=True):
    scenario: _Meta
    factory: dict[str, Any] = {}
    step: list[Step] = []
    expect: list[Expectation] = []


class Phase(msgspec.Struct, frozen=True):
    label: str
    start: float
    """Simulated seconds since the scenario's start."""
    end: float
    """Simulated seconds since the start (``math.inf`` for the last phase)."""


class Scenario(msgspec.Struct, frozen=True):
    name: str
    title: str
    summary: str
    """One line for ``scenario list``."""
    description: str
    watch: list[str]
    speed: float | None
    """Simulated seconds per wall second; None runs in virtual time, as fast as possible
    (only for scenarios without commands: their timing needs a real-time clock)."""
    duration: float
    """Simulated seconds."""
    first_phase: str
    settle: float
    """Simulated seconds at the start of each phase left out of its per-hour rates, while
    the phase's commands take effect (default 15 minutes in real time, 0 in virtual)."""
    config: str | None
    """A factory config file for this scenario (relative to the scenario file)."""
    reports: list[str]
    factory: dict[str, Any]
    steps: list[tuple[float, Step]]
    """(simulated seconds since start, step), in time order."""
    expectations: list[Expectation]
    late_fraction: float = 0.0
    """Late delivery (``--late-fraction``, core/edge_gateway.py); 0: none."""
    max_delay_s: float = 0.0

    def phases(self) -> list[Phase]:
        starts = [(0.0, self.first_phase)]
        for at, step in self.steps:
            if step.phase:
                if at == starts[-1][0]:
                    starts[-1] = (at, step.phase)
                else:
                    starts.append((at, step.phase))
        return [
            Phase(label, start, starts[i + 1][0] if i + 1 < len(starts) else math.inf)
            for i, (start, label) in enumerate(starts)
        ]

    def has_commands(self) -> bool:
        return any(step.action != "note" for _, step in self.steps)

    def check_against(self, config: FactoryConfig) -> None:
        """Every target, widget type and quantity is one this factory knows."""
        for index, (_at, step) in enumerate(self.steps):
            where = f"step[{index}] ({step.action})"
            try:
                if step.action == "order":
                    if step.widget_type is None or step.quantity is None:
                        raise ConfigError("an order needs widget_type and quantity")
                    check_widget_type(config, step.widget_type)
                    check_quantity(step.quantity)
                    check_priority(step.priority)
                elif step.action in COMMANDS:
                    if not step.targets:
                        raise ConfigError("a machine command needs targets")
                    expand_targets(config, step.targets)
            except FactoryError as exc:
                raise ConfigError(f"{self.name}: {where}: {exc}") from None


def parse_speed(value: float | str, what: str) -> float | None:
    """A positive speed, or ``"max"`` for virtual time (None)."""
    if isinstance(value, str):
        if value.strip().lower() == "max":
            return None
        try:
            value = float(value)
        except ValueError:
            raise ConfigError(f"{what}: expected a number or 'max', got {value!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{what}: must be a positive number or 'max', got {value!r}")
    return float(value)


_COMPOUND = re.compile(r"(\d+(?:\.\d+)?)([dhms])")
_UNIT_S = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}


def parse_time(value: str | float, what: str) -> float:
    """Simulated seconds from ``"2h"``, ``"1h30m"``, ``"90m"``, ``"0"`` or a number."""
    text = value.strip().lower() if isinstance(value, str) else ""
    if isinstance(value, int | float):
        seconds = float(value)
    elif text and _COMPOUND.sub("", text) == "" and len(_COMPOUND.findall(text)) > 1:
        seconds = sum(float(n) * _UNIT_S[u] for n, u in _COMPOUND.findall(text))
    elif text in {"0", "0s", "0m", "0h"}:
        seconds = 0.0
    else:
        try:
            seconds = parse_duration(text)
        except ValueError:
            raise ConfigError(
                f"{what}: expected a time like 90, 45s, 30m, 2h, 1h30m or 1d, got {value!r}"
            ) from None
    if not math.isfinite(seconds) or seconds < 0:
        raise ConfigError(f"{what}: must be a time of 0 or more, got {value!r}")
    return seconds


def _error_path(message: str) -> str:
    text, sep, where = message.rpartition(" - at `")
    if not sep:
        return message
    return f"{where.rstrip('`').removeprefix('$').removeprefix('.')}: {text}"


def parse_scenario(text: str, source: str) -> Scenario:
    """A checked :class:`Scenario` from TOML text; errors name the file and the field."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML ({exc})") from None
    try:
        parsed = msgspec.convert(data, _File, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{source}: {_error_path(str(exc))}") from None
    meta = parsed.scenario
    duration = parse_time(meta.duration, f"{source}: scenario.duration")
    if duration <= 0:
        raise ConfigError(f"{source}: scenario.duration must be positive")
    speed = parse_speed(meta.speed, f"{source}: scenario.speed")
    for report in meta.reports:
        if report not in REPORTS:
            raise ConfigError(
                f"{source}: scenario.reports: unknown report {report!r} (known: {', '.join(REPORTS)})"
            )
    steps: list[tuple[float, Step]] = []
    for index, step in enumerate(parsed.step):
        where = f"{source}: step[{index}]"
        if step.action not in ACTIONS:
            raise ConfigError(
                f"{where}.action: unknown action {step.action!r} (known: {', '.join(ACTIONS)})"
            )
        at = parse_time(step.at, f"{where}.at")
        if at >= duration:
            raise ConfigError(f"{where}.at: {step.at!r} is not before the end ({meta.duration!r})")
        steps.append((at, step))
    steps.sort(key=lambda pair: pair[0])
    if speed is None and any(step.action != "note" for _, step in steps):
        raise ConfigError(
            f"{source}: scenario.speed 'max' (virtual time) is only for scenarios without "
            "commands: timed commands need a real-time speed such as 1200"
        )
    max_delay_s = (
        0.0 if meta.max_delay is None else parse_time(meta.max_delay, f"{source}: max_delay")
    )
    problem = check_late_fraction(meta.late_fraction, max_delay_s)
    if problem is not None:
        raise ConfigError(f"{source}: scenario.late_fraction/max_delay: {problem}")
    labels = {meta.first_phase} | {s.phase for _, s in steps if s.phase}
    for index, expect in enumerate(parsed.expect):
        where = f"{source}: expect[{index}]"
        comparisons = [c for c in (expect.below, expect.above) if c is not None]
        if len(comparisons) != 1:
            raise ConfigError(f"{where}: give exactly one of below or above")
        for metric in {expect.metric} | {
            c.metric for c in comparisons if isinstance(c, Comparison) and c.metric
        }:
            if metric not in METRICS:
                raise ConfigError(
                    f"{where}.metric: unknown metric {metric!r} (known: {', '.join(METRICS)})"
                )
        for phase in {expect.phase} | {c.phase for c in comparisons if isinstance(c, Comparison)}:
            if phase is not None and phase not in labels:
                raise ConfigError(
                    f"{where}: unknown phase {phase!r} (phases: {', '.join(sorted(labels))})"
                )
    return Scenario(
        name=meta.name,
        title=meta.title,
        summary=meta.summary.strip(),
        description=meta.description.strip(),
        watch=list(meta.watch),
        speed=speed,
        duration=duration,
        first_phase=meta.first_phase,
        settle=(
            parse_time(meta.settle, f"{source}: scenario.settle")
            if meta.settle is not None
            else (0.0 if speed is None else DEFAULT_SETTLE_S)
        ),
        config=meta.config,
        reports=list(meta.reports),
        factory=dict(parsed.factory),
        steps=steps,
        expectations=list(parsed.expect),
        late_fraction=meta.late_fraction,
        max_delay_s=max_delay_s,
    )


def merge_overrides(base: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``overrides`` merged in. Tables merge key by key; a table given for
    a list of tables with ids (``machines``, ``stations``) merges into the entries by id
    (``[factory.machines.SENSOR_CALIB_01]``); anything else is replaced."""
    merged: dict[str, Any] = dict(base)
    for key, value in overrides.items():
        current = merged.get(key)
        if isinstance(value, Mapping) and isinstance(current, Mapping):
            merged[key] = merge_overrides(current, value)
        elif isinstance(value, Mapping) and isinstance(current, list) and _keyed_list(current):
            entries = [dict(entry) for entry in current]
            ids = [entry["id"] for entry in entries]
            for entry_id, change in value.items():
                if entry_id not in ids:
                    raise ConfigError(
                        f"factory.{key}.{entry_id}: no such entry (ids: {', '.join(ids)})"
                    )
                if not isinstance(change, Mapping):
                    raise ConfigError(f"factory.{key}.{entry_id}: expected a table of changes")
                index = ids.index(entry_id)
                entries[index] = merge_overrides(entries[index], change)
            merged[key] = entries
        else:
            merged[key] = value
    return merged


def _keyed_list(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(v, Mapping) and isinstance(v.get("id"), str) for v in value)
    )


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, Mapping):
        inner = ", ".join(f"{json.dumps(str(k))} = {_toml_value(v)}" for k, v in value.items())
        return "{" + inner + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise ConfigError(f"cannot write {type(value).__name__} {value!r} as TOML")


def dump_toml(data: Mapping[str, Any]) -> str:
    """TOML that ``tomllib`` reads back as ``data`` (one ``key = value`` line per key)."""
    return "".join(f"{json.dumps(str(k))} = {_toml_value(v)}\n" for k, v in data.items())
