"""The factory's layout, read from a TOML file (``factory.toml`` ships the reference one).

Users change the factory here, not in the code: machines, cycle times, component and
widget types, recipes, quality standards, stations, workers, inspectors, intervals. The
file is parsed into frozen structs, checked for consistency (a recipe naming an unknown
component type, a station building an unknown widget, ...), and every error names the
field at fault, e.g. ``machines[2].cycle_time_s: expected 2 numbers, got 3``.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from widget_factory.errors import ConfigError

__all__ = [
    "DEFAULT_CONFIG_NAME",
    "DEFAULT_DEFECT_MIX",
    "FactoryConfig",
    "Simulation",
    "ComponentTypeSpec",
    "MachineSpec",
    "WidgetTypeSpec",
    "StationSpec",
    "AssemblySpec",
    "OrderSpec",
    "QualitySpec",
    "TelemetrySpec",
    "KanbanSpec",
    "KanbanLimitSpec",
    "LocationSpec",
    "load_config",
    "parse_config",
    "default_config",
]

DEFAULT_CONFIG_NAME = "factory.toml"

Positive = Annotated[float, Meta(gt=0)]
NonNegative = Annotated[float, Meta(ge=0)]
Probability = Annotated[float, Meta(ge=0, le=1)]
Identifier = Annotated[str, Meta(pattern=r"^[A-Z][A-Z0-9_]{0,63}$")]
TypeName = Annotated[str, Meta(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
Range = tuple[NonNegative, NonNegative]
IntRange = tuple[Annotated[int, Meta(ge=0)], Annotated[int, Meta(ge=0)]]


class _Spec(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    pass


class LocationSpec(_Spec, frozen=True):
    building: str
    floor: int
    line: str


class Simulation(_Spec, frozen=True):
    speed: Positive = 120.0
    telemetry_interval_s: Positive = 15.0
    order_interval_s: Positive = 600.0
    order_quantity: IntRange = (1, 4)
    order_priority: IntRange = (1, 3)
    batch_size: Annotated[int, Meta(gt=0)] = 50
    stoppage_probability: Probability = 0.02
    stoppage_s: Range = (300.0, 900.0)
    cycle_jitter: Probability = 0.2
    assembly_jitter: Probability = 0.2
    inspection_s: Range = (2.0, 5.0)
    pass_rate_window: Annotated[int, Meta(gt=0)] = 50
    starvation_alert_s: Positive = 600.0
    degraded_after_repair: Annotated[int, Meta(ge=0)] = 3
    order_slack_s: NonNegative = 14400.0


class ComponentTypeSpec(_Spec, frozen=True):
    weight_grams: tuple[Positive, NonNegative]
    dimensions_mm: tuple[Positive, Positive, Positive]
    fails_as: list[TypeName] = []
    """Defects a flaw of this component shows up as in a widget's inspection (names of
    ``quality.defect_mix``); empty: any of them, in the mix's proportions."""


class MachineSpec(_Spec, frozen=True):
    id: Identifier
    component_type: TypeName
    machine_type: str
    cycle_time_s: Range
    location: LocationSpec


class WidgetTypeSpec(_Spec, frozen=True):
    recipe: Annotated[list[TypeName], Meta(min_length=1)]
    assembly_time_s: Positive
    min_performance: Annotated[float, Meta(ge=0, le=100)]
    pass_rate: Probability


class StationSpec(_Spec, frozen=True):
    id: Identifier
    builds: Annotated[list[TypeName], Meta(min_length=1)]
    location: LocationSpec
    machine_type: str = "widget_assembly"


class OrderSpec(_Spec, frozen=True):
    widget_type: TypeName
    quantity: Annotated[int, Meta(gt=0)]
    priority: Annotated[int, Meta(ge=0, le=100)] = 1


class AssemblySpec(_Spec, frozen=True):
    workers: Annotated[list[Identifier], Meta(min_length=1)]
    production_lines: Annotated[list[Identifier], Meta(min_length=1)]
    warehouse: Identifier = "WAREHOUSE_MAIN"
    initial_orders: list[OrderSpec] = []


DEFAULT_DEFECT_MIX: dict[str, float] = {
    "electrical_failure": 0.35,
    "mechanical_defect": 0.25,
    "visual_defect": 0.2,
    "performance_below_standard": 0.2,
}


class QualitySpec(_Spec, frozen=True):
    inspectors: Annotated[list[Identifier], Meta(min_length=1)]
    defect_mix: dict[TypeName, Positive] = msgspec.field(
        default_factory=lambda: dict(DEFAULT_DEFECT_MIX)
    )
    defect_risk: Probability = 0.045
    degraded_risk: Probability = 0.25
    drift_at_wear: Probability = 0.7
    """A machine worn past this makes worse parts until maintained (core/quality_drift.py);
    1 turns quality drift off."""
    performance_sd: NonNegative = 8.0
    alert_margin: Probability = 0.2


class TelemetrySpec(_Spec, frozen=True):
    error_rate_per_hour: NonNegative = 0.05
    wear_error_factor: NonNegative = 4.0
    wear_per_hour: NonNegative = 0.06
    maintenance_at_wear: Probability = 0.8
    maintenance_s: Range = (900.0, 1800.0)
    repair_s: Range = (600.0, 1800.0)
    status_summary_s: Positive = 10.0


class KanbanLimitSpec(_Spec, frozen=True):
    """Fixed limits of one component type, in units (overrides the derived ones)."""

    ceiling: Annotated[int, Meta(gt=0)]
    reorder: Annotated[int, Meta(ge=0)]


class KanbanSpec(_Spec, frozen=True):
    """Production follows demand: each component type has a stock ceiling and a reorder
    point, derived from the expected consumption (core/kanban.py) unless ``limits`` fixes
    them. ``enabled = false`` lets machines run flat out, as before kanban."""

    enabled: bool = True
    ceiling_hours: Positive = 4.0
    reorder_hours: Positive = 2.0
    min_ceiling: Annotated[int, Meta(gt=0)] = 10
    limits: dict[TypeName, KanbanLimitSpec] = {}


class FactoryConfig(_Spec, frozen=True, dict=True):
    """The whole factory. Built by :func:`load_config`; frozen once built."""

    component_types: dict[TypeName, ComponentTypeSpec]
    machines: Annotated[list[MachineSpec], Meta(min_length=1)]
    widget_types: dict[TypeName, WidgetTypeSpec]
    stations: Annotated[list[StationSpec], Meta(min_length=1)]
    assembly: AssemblySpec
    quality: QualitySpec
    simulation: Simulation = Simulation()
    telemetry: TelemetrySpec = TelemetrySpec()
    kanban: KanbanSpec = KanbanSpec()

    @cached_property
    def machine_by_id(self) -> dict[str, MachineSpec]:
        return {m.id: m for m in self.machines}

    @cached_property
    def station_by_id(self) -> dict[str, StationSpec]:
        return {s.id: s for s in self.stations}

    @cached_property
    def all_machine_ids(self) -> list[str]:
        """Production machines and assembly stations: everything that reports telemetry."""
        return [m.id for m in self.machines] + [s.id for s in self.stations]

    @cached_property
    def recipes(self) -> dict[str, tuple[str, ...]]:
        return {name: tuple(spec.recipe) for name, spec in self.widget_types.items()}


def _check_range(path: str, value: tuple[float, float]) -> None:
    if value[0] > value[1]:
        raise ConfigError(
            f"{path}: the range [{value[0]}, {value[1]}] has its low end above its high end"
        )


def _validate(config: FactoryConfig) -> None:
    """Consistency checks msgspec's types cannot express."""
    ids: dict[str, str] = {}
    for i, machine in enumerate(config.machines):
        where = f"machines[{i}]"
        if machine.component_type not in config.component_types:
            raise ConfigError(
                f"{where}.component_type: unknown component type {machine.component_type!r} "
                f"(known: {', '.join(sorted(config.component_types))})"
            )
        _check_range(f"{where}.cycle_time_s", machine.cycle_time_s)
        if machine.cycle_time_s[0] <= 0:
            raise ConfigError(f"{where}.cycle_time_s: cycle times must be above 0")
        if machine.id in ids:
            raise ConfigError(f"{where}.id: {machine.id!r} is already used by {ids[machine.id]}")
        ids[machine.id] = where
    for name, widget in config.widget_types.items():
        for component in widget.recipe:
            if component not in config.component_types:
                raise ConfigError(
                    f"widget_types.{name}.recipe: unknown component type {component!r}"
                )
            if not any(m.component_type == component for m in config.machines):
                raise ConfigError(
                    f"widget_types.{name}.recipe: no machine makes {component!r}, "
                    "so this widget could never be built"
                )
    for name, spec in config.component_types.items():
        for defect in spec.fails_as:
            if defect not in config.quality.defect_mix:
                raise ConfigError(
                    f"component_types.{name}.fails_as: {defect!r} is not in quality.defect_mix "
                    f"(known: {', '.join(sorted(config.quality.defect_mix))})"
                )
    if not config.quality.defect_mix:
        raise ConfigError("quality.defect_mix: name at least one defect")
    for i, station in enumerate(config.stations):
        where = f"stations[{i}]"
        for widget_type in station.builds:
            if widget_type not in config.widget_types:
                raise ConfigError(f"{where}.builds: unknown widget type {widget_type!r}")
        if station.id in ids:
            raise ConfigError(f"{where}.id: {station.id!r} is already used by {ids[station.id]}")
        ids[station.id] = where
    buildable = {w for s in config.stations for w in s.builds}
    for i, order in enumerate(config.assembly.initial_orders):
        if order.widget_type not in config.widget_types:
            raise ConfigError(
                f"assembly.initial_orders[{i}].widget_type: unknown widget type {order.widget_type!r}"
            )
        if order.widget_type not in buildable:
            raise ConfigError(
                f"assembly.initial_orders[{i}].widget_type: no station builds {order.widget_type!r}"
            )
    sim = config.simulation
    for field in ("stoppage_s", "inspection_s", "order_quantity", "order_priority"):
        _check_range(f"simulation.{field}", getattr(sim, field))
    if sim.order_quantity[0] < 1:
        raise ConfigError("simulation.order_quantity: orders need at least 1 unit")
    for field in ("maintenance_s", "repair_s"):
        _check_range(f"telemetry.{field}", getattr(config.telemetry, field))
    _validate_kanban(config)


def _validate_kanban(config: FactoryConfig) -> None:
    kanban = config.kanban
    if kanban.reorder_hours >= kanban.ceiling_hours:
        raise ConfigError(
            f"kanban.reorder_hours: {kanban.reorder_hours} must be below "
            f"kanban.ceiling_hours ({kanban.ceiling_hours})"
        )
    for name, limit in kanban.limits.items():
        if name not in config.component_types:
            raise ConfigError(f"kanban.limits.{name}: unknown component type {name!r}")
        if limit.reorder >= limit.ceiling:
            raise ConfigError(
                f"kanban.limits.{name}.reorder: {limit.reorder} must be below its "
                f"ceiling ({limit.ceiling})"
            )


def _error_path(message: str) -> str:
    """msgspec says ``... - at `$.machines[0].id```; we say ``machines[0].id: ...``."""
    text, sep, where = message.rpartition(" - at `")
    if not sep:
        return message
    path = where.rstrip("`").removeprefix("$").removeprefix(".")
    return f"{path or '(top level)'}: {text}"


def parse_config(data: Mapping[str, Any], source: str = "config") -> FactoryConfig:
    """A validated :class:`FactoryConfig` from already-parsed TOML data."""
    try:
        config = msgspec.convert(data, FactoryConfig, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{source}: {_error_path(str(exc))}") from None
    try:
        _validate(config)
    except ConfigError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    return config


def load_config(path: str | Path | None = None) -> FactoryConfig:
    """The factory of ``path``, or the shipped reference factory when ``path`` is None."""
    if path is None:
        text = resources.files("widget_factory").joinpath(DEFAULT_CONFIG_NAME).read_text()
        source = DEFAULT_CONFIG_NAME
    else:
        file = Path(path)
        source = str(file)
        try:
            text = file.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ConfigError(f"{source}: no such config file") from None
        except OSError as exc:
            raise ConfigError(f"{source}: cannot read it ({exc.strerror})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: not valid TOML ({exc})") from None
    return parse_config(data, source)


_default: FactoryConfig | None = None


def default_config() -> FactoryConfig:
    """The shipped reference factory, parsed once."""
    global _default
    if _default is None:
        _default = load_config(None)
    return _default
