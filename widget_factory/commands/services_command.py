"""The five services as subcommands: ``components``, ``assembly``, ``quality``,
``telemetry``, ``inventory`` - the walkthrough's terminals, one service each."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import os
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol

from widget_factory.cli import common_options, settings_from_args, simulation_options
from widget_factory.core.clock import parse_duration, to_datetime
from widget_factory.errors import UsageError
from widget_factory.factory_config import load_config
from widget_factory.kafka_io.reader import latest_event_time
from widget_factory.kafka_io.settings import KafkaSettings
from widget_factory.kafka_io.shutdown import hard_exit_needed
from widget_factory.kafka_io.topics import (
    COMPONENT_PRODUCTION,
    MACHINE_TELEMETRY,
    PRODUCTION_ORDERS,
    QUALITY_CONTROL,
    WIDGET_ASSEMBLY,
    connect_admin,
    create_topics,
)
from widget_factory.runtime import Lifecycle, ServiceOptions

ORDER = 40

EVENT_TOPICS = (
    COMPONENT_PRODUCTION,
    WIDGET_ASSEMBLY,
    QUALITY_CONTROL,
    MACHINE_TELEMETRY,
    PRODUCTION_ORDERS,
)
"""Topics whose record timestamps carry simulated time."""

__all__ = ["register", "options_from_args", "parse_speed", "SERVICES", "prepare_cluster"]

log = logging.getLogger("widget_factory")


class _Service(Protocol):
    def run(self) -> int: ...


def _components(options: ServiceOptions, lifecycle: Lifecycle) -> _Service:
    from widget_factory.component_production_simulator import ComponentProductionService

    return ComponentProductionService(options, lifecycle)


def _assembly(options: ServiceOptions, lifecycle: Lifecycle) -> _Service:
    from widget_factory.widget_assembly_simulator import WidgetAssemblyService

    return WidgetAssemblyService(options, lifecycle)


def _quality(options: ServiceOptions, lifecycle: Lifecycle) -> _Service:
    from widget_factory.quality_control_simulator import QualityControlService

    return QualityControlService(options, lifecycle)


def _telemetry(options: ServiceOptions, lifecycle: Lifecycle) -> _Service:
    from widget_factory.machine_telemetry_simulator import MachineTelemetryService

    return MachineTelemetryService(options, lifecycle)


def _inventory(options: ServiceOptions, lifecycle: Lifecycle) -> _Service:
    from widget_factory.inventory_simulator import InventoryService

    return InventoryService(options, lifecycle)


SERVICES: dict[str, tuple[str, Callable[[ServiceOptions, Lifecycle], _Service]]] = {
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


def parse_speed(text: str | None, default: float) -> float | None:
    """``--speed``: a positive number, or ``max`` for as fast as possible (None)."""
    if text is None:
        return default
    if text.strip().lower() in {"max", "unlimited", "inf", "0"}:
        return None
    try:
        value = float(text)
    except ValueError:
        raise UsageError(
            f"--speed {text!r}: expected a number of simulated seconds per second, or 'max'"
        ) from None
    if not math.isfinite(value) or value <= 0:
        raise UsageError(f"--speed {text!r}: must be a positive number, or 'max'")
    return value


def _parse_start(text: str | None) -> float:
    if text is None:
        return time.time()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"--start {text!r}: expected an ISO 8601 time with offset, or epoch seconds"
        ) from None
    if moment.tzinfo is None:
        raise UsageError(f"--start {text!r}: give a UTC offset, e.g. 2026-01-01T08:00:00+00:00")
    return moment.timestamp()


def options_from_args(
    args: argparse.Namespace, settings: KafkaSettings | None = None
) -> ServiceOptions:
    config = load_config(args.config)
    duration = None
    if getattr(args, "duration", None):
        try:
            duration = parse_duration(args.duration)
        except ValueError as exc:
            raise UsageError(f"--duration: {exc}") from None
    stations = tuple(getattr(args, "station", None) or ())
    for station in stations:
        if station not in config.station_by_id:
            raise UsageError(
                f"--station {station}: unknown station (known: {', '.join(config.station_by_id)})"
            )
    inspectors = tuple(getattr(args, "inspector", None) or ())
    for inspector in inspectors:
        if inspector not in config.quality.inspectors:
            raise UsageError(
                f"--inspector {inspector}: unknown inspector (known: {', '.join(config.quality.inspectors)})"
            )
    speed = parse_speed(args.speed, config.simulation.speed)
    return ServiceOptions(
        settings=(settings or settings_from_args(args)).paced(speed),
        config=config,
        speed=speed,
        seed=args.seed,
        duration=duration,
        start=_parse_start(getattr(args, "start", None)),
        anchor_wall=getattr(args, "anchor_wall", None),
        stations=stations,
        inspectors=inspectors,
        generate_orders=not getattr(args, "no_orders", False),
    )


def prepare_cluster(settings: KafkaSettings) -> None:
    """Fail fast when no broker answers; create missing topics so no broker auto-creates
    them with the wrong partition counts."""
    connect_admin(settings)
    for name, outcome, detail in create_topics(settings):
        if outcome == "created":
            log.debug("created topic %s (%s)", name, detail)
        elif outcome == "failed":
            log.warning("could not create topic %s: %s", name, detail)


def continue_simulated_time(args: argparse.Namespace, options: ServiceOptions) -> ServiceOptions:
    """Without ``--start``, simulated time starts now, or just after the latest event the
    cluster already holds (a durable cluster keeps a previous run's, possibly far ahead)."""
    if getattr(args, "start", None) is not None:
        return options
    latest = latest_event_time(options.settings, EVENT_TOPICS)
    if latest is None or latest < options.start:
        return options
    log.info("Simulated time continues after the cluster's latest event, %s", to_datetime(latest))
    return dataclasses.replace(options, start=latest + 1.0)


def _run_service(name: str, args: argparse.Namespace) -> int:
    options = options_from_args(args)
    prepare_cluster(options.settings)
    options = continue_simulated_time(args, options)
    lifecycle = Lifecycle()
    lifecycle.install_signal_handlers()
    service = SERVICES[name][1](options, lifecycle)
    try:
        status = service.run()
    finally:
        lifecycle.ignore_drain_requests()
    if hard_exit_needed():
        # librdkafka's destructors would wait for the unanswering broker: exit now
        logging.shutdown()
        os._exit(status)
    return status


def _service_arguments(parser: argparse.ArgumentParser) -> None:
    simulation_options(parser)
    common_options(parser)
    hidden: dict[str, Any] = {"help": argparse.SUPPRESS}
    parser.add_argument("--start", **hidden)
    parser.add_argument("--anchor-wall", type=float, **hidden)


def register(command: Callable[..., argparse.ArgumentParser]) -> None:
    for name, (help_text, _factory) in SERVICES.items():
        parser = command(name, help_text, lambda args, name=name: _run_service(name, args))
        _service_arguments(parser)
        if name == "assembly":
            parser.add_argument(
                "--station",
                action="append",
                metavar="ID",
                help="run only this station (repeatable); scale out by running one process per station",
            )
            parser.add_argument(
                "--no-orders",
                action="store_true",
                help="do not publish the opening and random orders (another process does)",
            )
        if name == "quality":
            parser.add_argument(
                "--inspector",
                action="append",
                metavar="ID",
                help="run only this inspector (repeatable)",
            )
