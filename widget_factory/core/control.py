"""Checks and builders for commands sent to a running factory (pure: no Kafka).

``widget-factory order``, ``anomaly``, ``stop-machine``, ``start-machine``,
``maintenance`` and the scenarios build their events here, after checking them against
the factory's configuration, so a typo is one clear line and exit status 2 instead of a
command the factory silently ignores.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final, Literal

from widget_factory.core.ids import IdSource
from widget_factory.core.orders import make_order
from widget_factory.errors import UsageError
from widget_factory.factory_config import FactoryConfig
from widget_factory.schemas import FactoryCommand, ProductionOrder

__all__ = [
    "MAX_ORDER_QUANTITY",
    "MAX_PRIORITY",
    "COMMANDS",
    "CommandName",
    "check_widget_type",
    "check_quantity",
    "check_priority",
    "check_machine",
    "expand_targets",
    "build_order",
    "build_command",
]

MAX_ORDER_QUANTITY: Final = 1000
"""Units in one order. The reference factory builds ~25 widgets a simulated hour, so a
thousand is already weeks of work; anything larger is almost surely a typo."""

MAX_PRIORITY: Final = 100
"""Priorities run 0..100 (the contract's range); higher is built first."""

CommandName = Literal["inject_anomaly", "stop_machine", "start_machine", "maintenance"]

COMMANDS: Final[dict[str, CommandName]] = {
    "anomaly": "inject_anomaly",
    "stop-machine": "stop_machine",
    "start-machine": "start_machine",
    "maintenance": "maintenance",
}
"""CLI and scenario names of the machine commands, and their ``command`` on the wire."""


def check_widget_type(config: FactoryConfig, widget_type: str) -> str:
    buildable = sorted({w for s in config.stations for w in s.builds})
    if widget_type not in config.widget_types:
        raise UsageError(
            f"unknown widget type {widget_type!r} (known: {', '.join(sorted(config.widget_types))})"
        )
    if widget_type not in buildable:
        raise UsageError(f"no station builds {widget_type!r} (buildable: {', '.join(buildable)})")
    return widget_type


def check_quantity(quantity: int) -> int:
    if quantity < 1:
        raise UsageError(f"quantity {quantity}: an order needs at least 1 unit")
    if quantity > MAX_ORDER_QUANTITY:
        raise UsageError(
            f"quantity {quantity}: at most {MAX_ORDER_QUANTITY} units per order "
            "(the factory builds about 25 widgets a simulated hour; split larger demand)"
        )
    return quantity


def check_priority(priority: int) -> int:
    if not 0 <= priority <= MAX_PRIORITY:
        raise UsageError(f"priority {priority}: must be 0..{MAX_PRIORITY} (higher is built first)")
    return priority


def check_machine(config: FactoryConfig, machine_id: str) -> str:
    known = config.all_machine_ids
    if machine_id not in known:
        upper = machine_id.upper()
        hint = f"; did you mean {upper}?" if upper in known else ""
        raise UsageError(f"unknown machine {machine_id!r} (known: {', '.join(known)}){hint}")
    return machine_id


def expand_targets(config: FactoryConfig, targets: list[str]) -> list[str]:
    """Machine ids, with group names expanded: ``@production`` (every production
    machine), ``@stations`` (every assembly station), ``@all``, and
    ``@makes:<component_type>`` (the machines making that component)."""
    result: list[str] = []
    for target in targets:
        if target == "@production":
            found = [m.id for m in config.machines]
        elif target == "@stations":
            found = [s.id for s in config.stations]
        elif target == "@all":
            found = list(config.all_machine_ids)
        elif target.startswith("@makes:"):
            component = target.removeprefix("@makes:")
            found = [m.id for m in config.machines if m.component_type == component]
            if not found:
                raise UsageError(
                    f"{target}: no machine makes {component!r} "
                    f"(component types: {', '.join(sorted(config.component_types))})"
                )
        elif target.startswith("@"):
            raise UsageError(
                f"unknown machine group {target!r} (groups: @production, @stations, @all, "
                "@makes:<component_type>)"
            )
        else:
            found = [check_machine(config, target)]
        result.extend(m for m in found if m not in result)
    return result


def build_order(
    config: FactoryConfig,
    ids: IdSource,
    widget_type: str,
    quantity: int,
    priority: int,
    at: float,
) -> ProductionOrder:
    """A checked order created at ``at`` (simulated epoch seconds)."""
    check_widget_type(config, widget_type)
    check_quantity(quantity)
    check_priority(priority)
    return make_order(ids, widget_type, quantity, priority, at)


def build_command(
    config: FactoryConfig,
    ids: IdSource,
    name: str,
    machine_id: str,
    issued_at: datetime,
    origin: str | None = None,
) -> FactoryCommand:
    """A checked machine command. ``issued_at`` is wall-clock UTC: the telemetry service
    ignores commands older than two minutes when it reads them. ``origin`` (``scenario``)
    goes into ``args``, so the answer key can name what caused the fault."""
    command = COMMANDS.get(name)
    if command is None:
        raise UsageError(f"unknown command {name!r} (commands: {', '.join(COMMANDS)})")
    check_machine(config, machine_id)
    return FactoryCommand(
        event_id=ids.event_id(),
        command=command,
        target_id=machine_id,
        issued_at=issued_at,
        args={"origin": origin} if origin else {},
    )
