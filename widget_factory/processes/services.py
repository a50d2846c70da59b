"""The five services of the factory, by name: what each does and how to build it.

The names are the ``widget-factory`` subcommands that run one service each (the
walkthrough's terminals) and the children of ``run``, the bench and scenarios. Each
service module is imported only when that service is built, so a process imports the
code of the service it runs and no other.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from widget_factory.processes.lifecycle import Lifecycle, ServiceOptions

__all__ = ["SERVICES", "Service", "ServiceFactory"]


class Service(Protocol):
    def run(self) -> int: ...


ServiceFactory = Callable[[ServiceOptions, Lifecycle], Service]


def _components(options: ServiceOptions, lifecycle: Lifecycle) -> Service:
    from widget_factory.component_production_simulator import ComponentProductionService

    return ComponentProductionService(options, lifecycle)


def _assembly(options: ServiceOptions, lifecycle: Lifecycle) -> Service:
    from widget_factory.widget_assembly_simulator import WidgetAssemblyService

    return WidgetAssemblyService(options, lifecycle)


def _quality(options: ServiceOptions, lifecycle: Lifecycle) -> Service:
    from widget_factory.quality_control_simulator import QualityControlService

    return QualityControlService(options, lifecycle)


def _telemetry(options: ServiceOptions, lifecycle: Lifecycle) -> Service:
    from widget_factory.machine_telemetry_simulator import MachineTelemetryService

    return MachineTelemetryService(options, lifecycle)


def _inventory(options: ServiceOptions, lifecycle: Lifecycle) -> Service:
    from widget_factory.inventory_simulator import InventoryService

    return InventoryService(options, lifecycle)


SERVICES: dict[str, tuple[str, ServiceFactory]] = {
    "components": ("component production: machines make components on their cycles", _components),
    "assembly": (
        "widget assembly: stations build widgets from components by recipe and order "
        "(group assembly-stations)",
        _assembly,
    ),
    "quality": ("quality control: inspectors check every widget (group quality-control)", _quality),
    "telemetry": ("machine telemetry: status and sensor readings of every machine", _telemetry),
    "inventory": (
        "inventory ledger: stock movements on inventory-updates (group inventory)",
        _inventory,
    ),
}
"""Per name, the one-line help of its subcommand and the factory that builds it (in
the order ``run`` starts them)."""
